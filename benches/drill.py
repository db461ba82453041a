#!/usr/bin/env python3
"""Restore-drill benchmarks of issue #14 (see BENCHMARKS.md, sections 6-8). Run through
benches/run.sh (`--drill-sections 6,7,8`), which builds and prepares the data first.

  benches/drill.py [--sections 6,7,8] [--versions 0.14,0.18] [--pairs 3] [--reps 3]
                   [--sizes 10,100,500,1000,2000,5000] [--curve-pairs 3] [--cap 300]

Sections:
  6  the planner's cost model: the four constants of a `restic restore` call (fixed,
     per node walked x include pattern, per node written, per byte written), measured
     with restic's own calls on the benchmark snapshot, per restic version
  7  `restore-test --full` vs a bare `restic restore` of the whole snapshot followed by
     hashing every restored and every source file on two cores (`openssl dgst -sha256`
     through `xargs -P 2`), in pairs side by side (alternating which runs first); and
     `restverify run` (PyPI restverify, installed into $BENCH_DIR/restverify-venv) if
     it can be installed
  8  the sample curve 10 ... 5,000 files (one run each) and the 100- and 5,000-file
     samples in pairs side by side (their ratio is the target), with the full drill
     from section 7 as the curve's end

Every measurement is bounded (--cap seconds, SIGINT then SIGKILL) and records the CPU
seconds niced processes used meanwhile. Results: $BENCH_DIR/results/drill-<time>.json.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import (BENCH_DIR, PASSWORD, REPO, RESTIC, RV, TMP, log,  # noqa: E402
                   niced_cpu, restic_env, run_restic)

RESULTS = {}


def fresh_dir(prefix):
    os.makedirs(TMP, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=TMP)


def timed_restore(rb, snap_id, includes=(), excludes=(), verify=True, cap=300.0):
    """One bare `restic restore` with a throw-away cache; the target is removed after
    (not timed). Returns (seconds, ok)."""
    target = fresh_dir("bare-")
    cache = fresh_dir("cache-")
    argv = [rb, "--cache-dir", cache, "restore", snap_id, "--target", target]
    if verify:
        argv.append("--verify")
    for i in includes:
        argv += ["--include", bench.escape_include(i)]
    for e in excludes:
        argv += ["--exclude", bench.escape_include(e)]
    rc, secs, tail, to = run_restic(argv, cap)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    if rc != 0 or to:
        log(f"  restore failed (rc {rc}, timed out {to}): {tail.strip()[-300:]}")
    return secs, rc == 0 and not to


def listing(snap):
    """(files {path: size}, dirs {path: direct entries}) of the snapshot, from one
    `restic ls --json` (cached)."""
    cache = os.path.join(BENCH_DIR, f"nodes-{snap['short_id']}.json")
    if not os.path.exists(cache):
        p = subprocess.run([RESTIC["0.14"], "--no-cache", "ls", "--json", snap["id"]],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           env=restic_env(), check=True)
        files, entries = {}, {}
        for line in p.stdout.splitlines():
            n = json.loads(line)
            if n.get("struct_type") == "snapshot" or "path" not in n:
                continue
            parent = n["path"].rsplit("/", 1)[0]
            entries[parent] = entries.get(parent, 0) + 1
            if n["type"] == "file":
                files[n["path"]] = n.get("size", 0)
        with open(cache, "w") as f:
            json.dump({"files": files, "entries": entries}, f)
    with open(cache) as f:
        d = json.load(f)
    return d["files"], d["entries"]


def walked(paths, entries):
    """Nodes restic matches for a call with these includes (the model's count): the
    entries of every directory on the way to an include, the root's included."""
    seen = set()
    total = entries.get("", 0)
    for p in paths:
        d = p.rsplit("/", 1)[0]
        while d and d not in seen:
            seen.add(d)
            total += entries.get(d, 0)
            d = d.rsplit("/", 1)[0]
    return total


# --------------------------------------------------------------------- section 6

def section6(args, snap):
    log("== 6. cost model of a restic restore call (restic's own calls, --verify) ==")
    files, entries = listing(snap)
    nodes = sum(entries.values())
    big = sorted(files, key=lambda p: -files[p])[:4]
    big_dir = os.path.commonpath(big)
    big_bytes = sum(files[p] for p in big)
    small_bytes = sum(files.values()) - big_bytes
    rng = random.Random(6)
    thousand = sorted(rng.sample(sorted(files), 1000))
    one = [thousand[0]]
    out = {}
    for ver in args.versions:
        rb = RESTIC[ver]
        med = {}
        nice0 = niced_cpu()
        # The large calls once each: removing 200,000 restored files takes minutes on
        # a filesystem mounted with `discard`.
        for name, inc, exc, reps in [("one", one, (), args.reps),
                                     ("big", [big_dir], (), 1),
                                     ("small", (), [big_dir], 1),
                                     ("thousand", thousand, (), 1)]:
            times = [timed_restore(rb, snap["id"], inc, exc, cap=args.cap)[0]
                     for _ in range(reps)]
            med[name] = statistics.median(times)
            log(f"restic {ver}: {name}: {', '.join(f'{t:.1f}' for t in times)} s")
        call = med["one"]
        byte = max(med["big"] - call, 0) / big_bytes
        file_ = max(med["small"] - call - byte * small_bytes, 0) / max(nodes - 4, 1)
        w = walked(thousand, entries)
        rest = med["thousand"] - call - file_ * 1000 - byte * sum(files[p] for p in thousand)
        node_pattern = max(rest, 0) / (w * 1000)
        c = {"call": call, "node_pattern": node_pattern, "file": file_, "byte": byte,
             "walked_1000": w, "nodes": nodes, "medians": med,
             "niced_cpu_seconds": niced_cpu() - nice0}
        out[ver] = c
        log(f"restic {ver}: call {call:.2f} s, node x pattern {node_pattern:.2e} s "
            f"(1,000 includes walk {w} nodes), node written {file_:.2e} s, "
            f"byte written {byte:.2e} s ({1 / byte / 2**20 if byte else 0:.0f} MiB/s)")
    RESULTS["6"] = out


# --------------------------------------------------------------------- section 7

def hash_trees(*dirs):
    """Every regular file under `dirs`, hashed by `openssl dgst -sha256` on two cores."""
    find = subprocess.Popen(["find", *dirs, "-type", "f", "-print0"], stdout=subprocess.PIPE)
    xargs = subprocess.run(["xargs", "-0", "-P", "2", "-n", "500", "openssl", "dgst",
                            "-sha256"], stdin=find.stdout, stdout=subprocess.DEVNULL)
    find.wait()
    return xargs.returncode == 0


def bare_full(rb, snap, cap):
    target = fresh_dir("bare-")
    cache = fresh_dir("cache-")
    t0 = time.monotonic()
    rc, restore_s, tail, to = run_restic([rb, "--cache-dir", cache, "restore", snap["id"],
                                          "--target", target], cap)
    t1 = time.monotonic()
    ok = rc == 0 and not to and hash_trees(target, snap["paths"][0])
    t2 = time.monotonic()
    shutil.rmtree(target, ignore_errors=True)
    rm_s = time.monotonic() - t2
    shutil.rmtree(cache, ignore_errors=True)
    return {"seconds": t2 - t0, "restore": t1 - t0, "hash": t2 - t1, "rm": rm_s, "ok": ok}


def rv_full(rb, cap, extra=()):
    results = os.path.join(BENCH_DIR, "s7.jsonl")
    if os.path.exists(results):
        os.remove(results)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    argv = [RV, "-v", "restore-test", "--repo", REPO, "--password-file", PASSWORD,
            "--restic", rb, "--full", "--results", results, "--test-dir", TMP, *extra]
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=cap)
    secs = time.monotonic() - t0
    r = {"seconds": secs, "ok": p.returncode == 0, "rm": 0.0}
    for line in p.stderr.decode(errors="replace").splitlines():
        if "restore directory removed in" in line:
            r["rm"] = float(line.rsplit(" in ", 1)[1].split()[0])
    # The drill without removing its directory: what the bare baseline does.
    r["without_rm"] = secs - r["rm"]
    if os.path.exists(results):
        rec = json.loads(open(results).read().splitlines()[-1])
        t = rec.get("restore_test") or {}
        r["restore"] = (t.get("full") or {}).get("seconds")
        r["counts"] = {k: v for k, v in (t.get("counts") or {}).items() if v}
    if not r["ok"]:
        log(f"  restore-test --full failed: {p.stderr.decode(errors='replace')[-400:]}")
    return r


def restverify_bin():
    venv = os.path.join(BENCH_DIR, "restverify-venv")
    exe = os.path.join(venv, "bin", "restverify")
    if not os.path.exists(exe):
        if subprocess.run([sys.executable, "-m", "venv", venv]).returncode != 0:
            return None
        p = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet",
                            "restverify==0.3.1"])
        if p.returncode != 0:
            return None
    return exe


def restverify_run(exe, rb, snap, cap):
    """`restverify run` with restic `rb` first on PATH, its state and temp dirs private."""
    home = fresh_dir("rvhome-")
    bindir = os.path.join(home, "bin")
    os.makedirs(bindir)
    os.symlink(rb, os.path.join(bindir, "restic"))
    env = restic_env()
    env.update({"HOME": home, "TMPDIR": TMP, "XDG_CONFIG_HOME": os.path.join(home, "cfg"),
                "XDG_STATE_HOME": os.path.join(home, "state"),
                "PATH": bindir + ":" + os.environ.get("PATH", "")})
    t0 = time.monotonic()
    p = subprocess.run([exe, "run", "-r", REPO, "-s", snap["paths"][0], "--json"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=cap)
    secs = time.monotonic() - t0
    shutil.rmtree(home, ignore_errors=True)
    ok = p.returncode == 0
    if not ok:
        log(f"  restverify failed ({p.returncode}): {p.stderr.decode(errors='replace')[-400:]}")
    return {"seconds": secs, "ok": ok}


def settle_cache(mode, snap):
    """Puts the page cache in the same state before each side of a pair (untimed).

    Needed here: the host reclaims idle page cache on its own (DAMON), so without it
    one side can find the source in memory and the other read it from disk."""
    if mode == "warm":
        for d in (REPO, snap["paths"][0]):
            subprocess.run(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 -P 2 cat '
                            '>/dev/null', "-", d], check=False)
    elif mode == "cold":
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")


def section7(args, snap):
    log("== 7. restore-test --full vs bare full restore + hashing everything (2 cores) ==")
    log(f"page cache before each side: {args.cache}; restores under {TMP}; niced CPU "
        "includes the drill's own hash workers (nice +10 from 22d0e67 on)")
    exe = restverify_bin() if args.restverify else None
    if args.restverify and not exe:
        log("restverify could not be installed: that comparison is skipped")
    out = {}
    for ver in args.versions:
        rb = RESTIC[ver]
        pairs = []
        for i in range(args.pairs):
            nice0 = niced_cpu()
            order = ["rv", "bare"] if i % 2 == 0 else ["bare", "rv"]
            if exe:
                order.append("restverify")
            got = {}
            for side in order:
                settle_cache(args.cache, snap)
                if side == "rv":
                    got[side] = rv_full(rb, args.cap)
                elif side == "bare":
                    got[side] = bare_full(rb, snap, args.cap)
                else:
                    got[side] = restverify_run(exe, rb, snap, args.cap)
            # The target: the drill up to removing its directory vs restore + hash.
            got["ratio"] = got["rv"]["without_rm"] / got["bare"]["seconds"]
            # Both sides with the removal of what they restored.
            got["ratio_with_rm"] = got["rv"]["seconds"] / (got["bare"]["seconds"]
                                                          + got["bare"]["rm"])
            if exe:
                got["ratio_restverify"] = got["rv"]["seconds"] / got["restverify"]["seconds"]
            got["niced_cpu_seconds"] = niced_cpu() - nice0
            pairs.append(got)
            b = got["bare"]
            log(f"restic {ver} pair {i + 1} ({'rv first' if order[0] == 'rv' else 'bare first'}): "
                f"restore-test --full {got['rv']['without_rm']:.1f} s + removal "
                f"{got['rv']['rm']:.1f} s (restic restore {got['rv'].get('restore') or 0:.1f} s; "
                f"{got['rv'].get('counts')}), bare {b['seconds']:.1f} s (restore "
                f"{b['restore']:.1f} + hash {b['hash']:.1f}) + rm -rf {b['rm']:.1f} s: ratio "
                f"{got['ratio']:.3f}, with removal on both sides {got['ratio_with_rm']:.3f}"
                + (f"; restverify run {got['restverify']['seconds']:.1f} s, ratio "
                   f"{got['ratio_restverify']:.3f}" if exe else "")
                + f"; niced CPU {got['niced_cpu_seconds']:.0f} s")
        ratios = [p["ratio"] for p in pairs]
        rv_med = statistics.median(p["rv"]["without_rm"] for p in pairs)
        bare_med = statistics.median(p["bare"]["seconds"] for p in pairs)
        with_rm = [p["ratio_with_rm"] for p in pairs]
        summary = {"pairs": pairs, "median_ratio": statistics.median(ratios),
                   "ratio_of_medians": rv_med / bare_med, "min_ratio": min(ratios),
                   "max_ratio": max(ratios), "rv_median": rv_med, "bare_median": bare_med,
                   "median_ratio_with_rm": statistics.median(with_rm),
                   "min_ratio_with_rm": min(with_rm), "max_ratio_with_rm": max(with_rm)}
        if exe:
            rr = [p["ratio_restverify"] for p in pairs]
            summary["restverify_median_ratio"] = statistics.median(rr)
            summary["restverify_median"] = statistics.median(p["restverify"]["seconds"]
                                                             for p in pairs)
        summary["cache"] = args.cache
        summary["tmp"] = TMP
        out[ver] = summary
        log(f"restic {ver}: median ratio {summary['median_ratio']:.3f} (range "
            f"{summary['min_ratio']:.3f}-{summary['max_ratio']:.3f}), ratio of medians "
            f"{summary['ratio_of_medians']:.3f}: "
            f"{'PASS' if summary['median_ratio'] <= 1.15 else 'MISS'} (limit 1.15); with "
            f"removal on both sides {summary['median_ratio_with_rm']:.3f} (range "
            f"{summary['min_ratio_with_rm']:.3f}-{summary['max_ratio_with_rm']:.3f})"
            + (f"; vs restverify run median ratio {summary['restverify_median_ratio']:.3f}"
               if exe else ""))
    RESULTS["7"] = out


# --------------------------------------------------------------------- section 8

def rv_sample(rb, n, seed, cap):
    results = os.path.join(BENCH_DIR, "s8.jsonl")
    if os.path.exists(results):
        os.remove(results)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    argv = [RV, "-v", "restore-test", "--repo", REPO, "--password-file", PASSWORD,
            "--restic", rb, "--sample", str(n), "--seed", str(seed), "--results", results,
            "--test-dir", TMP]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"seconds": cap, "ok": False, "timed_out": True}
    secs = time.monotonic() - t0
    log_text = p.stderr.decode(errors="replace")
    calls = sum(1 for line in log_text.splitlines()
                if "running restic" in line and " restore " in line)
    r = {"seconds": secs, "ok": p.returncode == 0, "restore_calls": calls}
    if os.path.exists(results):
        t = json.loads(open(results).read().splitlines()[-1]).get("restore_test") or {}
        r["restore_seconds"] = t.get("restore_seconds")
        r["match"] = (t.get("counts") or {}).get("match")
    return r


def section8(args, snap):
    log("== 8. sample curve 10 ... 5,000 and the 5,000/100 ratio side by side ==")
    out = {}
    for ver in args.versions:
        rb = RESTIC[ver]
        curve = {}
        for n in args.sizes:
            nice0 = niced_cpu()
            r = rv_sample(rb, n, 100 + n, args.cap)
            r["niced_cpu_seconds"] = niced_cpu() - nice0
            curve[str(n)] = r
            log(f"restic {ver}: N={n}: {r['seconds']:.1f} s, {r.get('restore_calls')} restore "
                f"call(s) ({r.get('restore_seconds') or 0:.1f} s), {r.get('match')} match; "
                f"niced CPU {r['niced_cpu_seconds']:.0f} s")
        pairs = []
        for i in range(args.curve_pairs):
            nice0 = niced_cpu()
            order = [100, 5000] if i % 2 == 0 else [5000, 100]
            got = {n: rv_sample(rb, n, 1000 + 10 * i + n, args.cap) for n in order}
            ratio = got[5000]["seconds"] / got[100]["seconds"]
            pairs.append({"100": got[100], "5000": got[5000], "ratio": ratio,
                          "niced_cpu_seconds": niced_cpu() - nice0})
            log(f"restic {ver} pair {i + 1}: 100 files {got[100]['seconds']:.1f} s, 5,000 files "
                f"{got[5000]['seconds']:.1f} s: ratio {ratio:.2f}")
        ratios = [p["ratio"] for p in pairs]
        full = (RESULTS.get("7") or {}).get(ver, {}).get("rv_median")
        out[ver] = {"curve": curve, "pairs": pairs, "median_ratio": statistics.median(ratios),
                    "min_ratio": min(ratios), "max_ratio": max(ratios), "full_drill": full}
        log(f"restic {ver}: 5,000/100 median ratio {statistics.median(ratios):.2f} (range "
            f"{min(ratios):.2f}-{max(ratios):.2f}): "
            f"{'PASS' if statistics.median(ratios) <= 5 else 'MISS'} (limit 5)"
            + (f"; full drill {full:.1f} s" if full else ""))
    RESULTS["8"] = out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="6,7,8")
    ap.add_argument("--versions", default="0.14,0.18")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the 1-file call (6)")
    ap.add_argument("--pairs", type=int, default=3, help="pairs in section 7")
    ap.add_argument("--curve-pairs", type=int, default=3, help="100/5,000 pairs in section 8")
    ap.add_argument("--sizes", default="10,100,500,1000,2000,5000")
    ap.add_argument("--cap", type=float, default=300.0, help="seconds per measurement")
    ap.add_argument("--no-restverify", dest="restverify", action="store_false")
    ap.add_argument("--cache", choices=["as-is", "warm", "cold"], default="as-is",
                    help="page cache before each side of section 7 (untimed): as-is; "
                         "warm = the repository and the source read once; cold = "
                         "sync and drop_caches (root)")
    args = ap.parse_args()
    args.versions = [v for v in args.versions.split(",") if v]
    args.sizes = [int(x) for x in args.sizes.split(",")]
    snap = bench.snapshot()
    RESULTS["meta"] = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "snapshot": snap["id"], "args": vars(args), "restic_verify": bench.rv_revision(),
        "restic": {v: subprocess.run([b, "version"], capture_output=True, text=True)
                   .stdout.strip() for v, b in RESTIC.items()},
    }
    log(f"snapshot {snap['short_id']}; restic-verify {RESULTS['meta']['restic_verify']}")
    for s in args.sections.split(","):
        t0, nice0 = time.monotonic(), niced_cpu()
        {"6": section6, "7": section7, "8": section8}[s](args, snap)
        log(f"(section {s}: {time.monotonic() - t0:.0f} s; niced processes used "
            f"{niced_cpu() - nice0:.0f} CPU-s meanwhile)")
        d = os.path.join(BENCH_DIR, "results")
        os.makedirs(d, exist_ok=True)
        stamp = RESULTS["meta"]["started"].replace(":", "").split(".")[0]
        with open(os.path.join(d, f"drill-{stamp}.json"), "w") as f:
            json.dump(RESULTS, f, indent=1, default=str)


if __name__ == "__main__":
    main()
