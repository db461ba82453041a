#!/usr/bin/env python3
"""restic-verify benchmarks (see BENCHMARKS.md). Run through benches/run.sh, which
prepares the data first; this script only measures.

  benches/bench.py [--sections 2,3,4,5] [--cap S] [--rv-cap S] [--reps 5]
                   [--sizes 10,100,...] [--versions 0.14,0.18] [--strategies a,b,...]

Sections (numbers as in the issue):
  2  restore-test --sample 100 vs the bare restic work it needs (ls + one restore + hashing)
  3  large samples: restore-test for N = 10 ... 5000, and bare restic include strategies
  4  peak RSS (VmHWM) of restic-verify on a synthetic `ls --json` stream (benches/fake-restic)
  5  SHA-256 throughput: sha2 crate (benches/sha) vs `openssl dgst -sha256`
  6  audit (issue #10) of the benchmark snapshot vs `restic ls --json` and `tar | cat`
  7  audit of generated trees of tiny files (200k, 2M): peak RSS and time against N

Prints the figures as it goes, each target as a ratio with PASS/MISS, and writes
everything to $BENCH_DIR/results/<time>.json (and results/latest.json). The machine may
be shared: every section (and every repetition of 2 and point of 3) records the CPU
seconds niced processes used meanwhile; compare the ratios, which are measured side by
side, rather than absolute seconds from different runs.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import peak_rss  # noqa: E402

BENCH_DIR = os.environ.get("BENCH_DIR", os.path.join(ROOT, ".bench"))
RV = os.environ.get("RESTIC_VERIFY", os.path.join(ROOT, "target/release/restic-verify"))
RESTIC = {"0.14": os.environ.get("RESTIC_014", "/usr/bin/restic"),
          "0.18": os.environ.get("RESTIC_018", "/opt/restic-0.18/usr/bin/restic")}
REPO = os.path.join(BENCH_DIR, "repo")
PASSWORD = os.path.join(BENCH_DIR, "password")
# Restores go here. BENCH_TMP puts them on another file system: on ext4 without a
# journal a restore that follows the removal of a large tree runs up to 4x slower
# (BENCHMARKS.md, "Update at 871bc14"), which the alternating pairs cannot cancel.
TMP = os.environ.get("BENCH_TMP") or os.path.join(BENCH_DIR, "tmp")
SHA_BENCH = os.path.join(BENCH_DIR, "sha-target/release/sha-bench")
RESULTS = {}


def log(msg=""):
    print(msg, flush=True)


TICK = os.sysconf("SC_CLK_TCK")


def niced_cpu():
    """CPU seconds all cores spent in niced (nice > 0) user processes since boot
    (/proc/stat). The benchmark runs at nice 0; builds that share the machine at nice 19
    show up here. With sched_autogroup_enabled=1 (the default on desktops and many VMs)
    nice does not shield a process of another session: its builds take a full share."""
    with open("/proc/stat") as f:
        return int(f.readline().split()[2]) / TICK


def restic_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["RESTIC_REPOSITORY"] = REPO
    env["RESTIC_PASSWORD_FILE"] = PASSWORD
    return env


def escape_include(p):
    # as src/restic.rs::escape_include
    out = []
    for c in p:
        if c in "\\*?[]":
            out.append("\\")
        out.append(c)
    return "".join(out)


def run_restic(argv, timeout, stdout=subprocess.DEVNULL):
    """Runs restic; on timeout SIGINT (restic removes its lock), then SIGKILL.
    Returns (rc, seconds, stderr_tail, timed_out)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err,
                             env=restic_env())
        timed_out = False
        try:
            p.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            timed_out = True
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        err.seek(0)
        tail = err.read()[-600:].decode(errors="replace")
    return p.returncode, time.monotonic() - t0, tail, timed_out


def count_files(d):
    n = 0
    for _, _, files in os.walk(d):
        n += len(files)
    return n


def snapshot():
    with open(os.path.join(BENCH_DIR, "repo.complete")) as f:
        snaps = json.load(f)
    return snaps[-1]


def file_list(snap):
    """Regular-file tree paths of the snapshot, from a cached `restic ls --json`."""
    cache = os.path.join(BENCH_DIR, f"files-{snap['short_id']}.json")
    if not os.path.exists(cache):
        p = subprocess.run([RESTIC["0.14"], "--no-cache", "ls", "--json", snap["id"]],
                           stdin=subprocess.DEVNULL, capture_output=True, env=restic_env(),
                           check=True)
        files = []
        for line in p.stdout.splitlines():
            n = json.loads(line)
            if n.get("type") == "file":
                files.append(n["path"])
        with open(cache, "w") as f:
            json.dump(files, f)
    with open(cache) as f:
        return json.load(f)


def fmt(r, cap=None):
    if r is None:
        return "-"
    if r.get("skipped"):
        return f"> {r['cap']:.0f} s*"
    if r.get("timed_out"):
        return f"> {r['cap']:.0f} s"
    if not r.get("ok", True):
        return "FAIL"
    return f"{r['seconds']:.1f}"


def rv_run(sample, seed, results, restic_bin, timeout=None, extra=(), timer_log=None,
           test_dir=TMP, repo=REPO):
    """restore-test under the VmHWM poller; restic through benches/restic-timer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["BENCH_REAL_RESTIC"] = restic_bin
    env["BENCH_TIMER_LOG"] = timer_log or os.path.join(BENCH_DIR, f"timer-{os.getpid()}.log")
    if os.path.exists(env["BENCH_TIMER_LOG"]):
        os.remove(env["BENCH_TIMER_LOG"])
    if os.path.exists(results):
        os.remove(results)
    argv = [RV, "restore-test", "--repo", repo, "--password-file", PASSWORD,
            "--restic", os.path.join(HERE, "restic-timer"), "--sample", str(sample),
            "--seed", str(seed), "--verbose-results", "--results", results,
            "--test-dir", test_dir, *extra]
    t_start = time.time()
    r = peak_rss.run(argv, timeout=timeout, env=env,
                     log=os.path.join(BENCH_DIR, "restic-verify.log"))
    r["t_start"] = t_start
    calls = []
    if os.path.exists(env["BENCH_TIMER_LOG"]):
        with open(env["BENCH_TIMER_LOG"]) as f:
            for line in f:
                f = line.split()
                # sub, number of --include, seconds[, start, end (Unix seconds)]
                calls.append((f[0], int(f[1]), float(f[2]), *map(float, f[3:5])))
    r["calls"] = calls
    r["record"] = None
    if os.path.exists(results):
        with open(results) as f:
            lines = f.read().splitlines()
        if lines:
            r["record"] = json.loads(lines[-1])
    return r


def timeline(r):
    """restic-verify's wall time split by its restic calls (benches/restic-timer's start
    and end times): {"before": s before the first call starts, "after": s after the last
    one ends, "between": s in gaps with no restic call running, "outside": the sum,
    i.e. wall time with no restic running, "spans": [(sub, start, end) relative to the
    start of restic-verify]}. Overlapping calls (snapshots and ls) count once."""
    spans = sorted((c[3] - r["t_start"], c[4] - r["t_start"], c[0]) for c in r["calls"]
                   if len(c) >= 5)
    if not spans:
        return None
    before = max(spans[0][0], 0.0)
    between, reach = 0.0, spans[0][1]
    for a, b, _ in spans[1:]:
        if a > reach:
            between += a - reach
        reach = max(reach, b)
    after = max(r["seconds"] - reach, 0.0)
    return {"before": before, "between": between, "after": after,
            "outside": before + between + after,
            "spans": [(n, round(a, 3), round(b, 3)) for a, b, n in spans]}


def breakdown(calls):
    agg = {}
    for sub, n, secs, *_ in calls:
        a = agg.setdefault(sub, [0, 0.0, 0])
        a[0] += 1
        a[1] += secs
        a[2] += n
    return agg


# --------------------------------------------------------------------- section 2

def section2(args, snap, version="0.14"):
    log(f"== 2. restore-test --sample 100 vs bare restic (restic {version}) ==")
    key = "section2" if version == "0.14" else f"section2-{version}"
    rv_times, bare_times, rows = [], [], []
    seed = 1
    results = os.path.join(BENCH_DIR, f"s2-{os.getpid()}.jsonl")
    rb = RESTIC[version]
    paths = None

    def bare_run(paths):
        # bare: same files, same kind of throw-away cache, same --verify
        cache = tempfile.mkdtemp(prefix="cache-", dir=TMP)
        target = tempfile.mkdtemp(prefix="bare-", dir=TMP)
        t0 = time.monotonic()
        rc1, t_ls, _, _ = run_restic([rb, "--cache-dir", cache, "ls", "--json", snap["id"]], 600)
        inc = []
        for p in paths:
            inc += ["--include", escape_include(p)]
        rc2, t_restore, err, _ = run_restic(
            [rb, "--cache-dir", cache, "restore", snap["id"], "--target", target, "--verify",
             *inc], 600)
        t1 = time.monotonic()
        restored = [os.path.join(target, p.lstrip("/")) for p in paths]
        h = subprocess.run(["openssl", "dgst", "-sha256", *restored, *paths],
                           capture_output=True, text=True)
        t_hash = time.monotonic() - t1
        bare = time.monotonic() - t0
        digests = [line.rsplit("= ", 1)[1] for line in h.stdout.splitlines()]
        same = digests[: len(paths)] == digests[len(paths):]
        # not part of the bare work (the issue's definition), but restic-verify pays it:
        # removing its restore directory and throw-away cache before it exits
        t2 = time.monotonic()
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        t_cleanup = time.monotonic() - t2
        return {"bare_seconds": bare, "bare_ls": t_ls, "bare_restore": t_restore,
                "bare_hash": t_hash, "bare_cleanup": t_cleanup,
                "bare_ok": rc1 == 0 and rc2 == 0 and same and h.returncode == 0,
                "bare_err": err[-200:]}

    for rep in range(args.reps):
        # The same seed draws the same 100 files every time. From the second repetition
        # on, every other one runs the bare work first, so that drift in the machine's
        # load does not always favour the same side.
        bare_first = paths is not None and rep % 2 == 1
        nice0 = niced_cpu()
        load_before = open("/proc/loadavg").read().split()[0]
        b = bare_run(paths) if bare_first else None
        r = rv_run(100, seed, results, rb)
        rec = r["record"]
        if r["rc"] != 0 or not rec:
            log(f"restore-test failed (rc {r['rc']}), see {BENCH_DIR}/restic-verify.log")
            RESULTS[key] = {"error": "restore-test failed"}
            return
        files = rec["restore_test"]["files"]
        if paths is not None and [f["path"] for f in files] != paths:
            log("warning: the same seed drew another sample")
        paths = [f["path"] for f in files]
        counts = rec["restore_test"]["counts"]
        if b is None:
            b = bare_run(paths)
        noise = niced_cpu() - nice0
        rv_times.append(r["seconds"])
        bare_times.append(b["bare_seconds"])
        bd = breakdown(r["calls"])
        tl = timeline(r)
        row = {"rv_seconds": r["seconds"], "rv_vmhwm_kib": r["vmhwm_kib"],
               "rv_timeline": tl,
               "rv_cpu_seconds": r["cpu_seconds"],
               "rv_calls": {k: round(v[1], 2) for k, v in bd.items()},
               "rv_restore_seconds": rec["restore_test"]["restore_seconds"],
               "rv_counts": counts, "bare_first": bare_first, "niced_cpu_seconds": noise,
               "loadavg": load_before,
               **{k: v for k, v in b.items() if k != "bare_err"}}
        rows.append(row)
        log(f"rep {rep + 1}{' (bare first)' if bare_first else ''}: restic-verify "
            f"{r['seconds']:.2f} s "
            f"(calls: {', '.join(f'{k} {v[1]:.2f}' for k, v in bd.items())}; "
            f"{counts['match']} match; own CPU {r['cpu_seconds']:.2f} s; "
            f"VmHWM {r['vmhwm_kib'] / 1024:.1f} MiB) | "
            f"bare {b['bare_seconds']:.2f} s (ls {b['bare_ls']:.2f} + restore "
            f"{b['bare_restore']:.2f} + openssl {b['bare_hash']:.2f}; then removing its "
            f"cache and target {b['bare_cleanup']:.2f}, not counted)"
            f"{'' if b['bare_ok'] else ' BARE FAILED: ' + b['bare_err']}; "
            f"niced CPU meanwhile {noise:.1f} s; load {load_before}")
        if tl:
            log("    restic-verify timeline: " + ", ".join(
                f"{n} {a:.2f}-{b:.2f}" for n, a, b in tl["spans"])
                + f", end {r['seconds']:.2f}; no restic running: before the first call "
                f"{tl['before']:.2f} s, between calls {tl['between']:.2f} s, after the last "
                f"{tl['after']:.2f} s")
    m_rv, m_bare = statistics.median(rv_times), statistics.median(bare_times)
    ratio = m_rv / m_bare
    ratios = [r["rv_seconds"] / r["bare_seconds"] for r in rows]
    quiet = [r for r in rows if r["niced_cpu_seconds"] < 1.0]
    line = (f"per-repetition ratios: {', '.join(f'{x:.3f}' for x in ratios)} (median "
            f"{statistics.median(ratios):.3f}); repetitions with < 1 s of niced CPU alongside:"
            f" {len(quiet)} of {len(rows)}")
    if quiet:
        q_rv = statistics.median(r["rv_seconds"] for r in quiet)
        q_bare = statistics.median(r["bare_seconds"] for r in quiet)
        line += (f", their medians: restic-verify {q_rv:.2f} s, bare {q_bare:.2f} s, "
                 f"ratio {q_rv / q_bare:.3f}")
    log(line)
    log(f"median: restic-verify {m_rv:.2f} s, bare {m_bare:.2f} s, "
        f"ratio {ratio:.3f} (target <= 1.15): {'PASS' if ratio <= 1.15 else 'MISS'}")
    # where the difference goes: restic-verify's restic calls (medians) against the bare ones
    med = {}
    for k in sorted({k for r in rows for k in r["rv_calls"]}):
        med[k] = statistics.median(r["rv_calls"].get(k, 0.0) for r in rows)
    own = statistics.median(r["rv_seconds"] - sum(r["rv_calls"].values()) for r in rows)
    b_ls = statistics.median(r["bare_ls"] for r in rows)
    b_re = statistics.median(r["bare_restore"] for r in rows)
    b_h = statistics.median(r["bare_hash"] for r in rows)
    log(f"breakdown (medians): restic-verify {' + '.join(f'{k} {v:.2f}' for k, v in med.items())}"
        f" + own work outside restic {own:.2f} s | bare ls {b_ls:.2f} + restore {b_re:.2f}"
        f" + openssl {b_h:.2f} s")
    tls = [r["rv_timeline"] for r in rows if r["rv_timeline"]]
    if tls:
        t_med = {k: statistics.median(t[k] for t in tls)
                 for k in ("before", "between", "after", "outside")}
        span_med = {}
        for name in ("snapshots", "ls", "restore"):
            d = [sum(b - a for n, a, b in t["spans"] if n == name) for t in tls]
            span_med[name] = statistics.median(d)
        log(f"timeline (medians): no restic running {t_med['outside']:.2f} s (before the first "
            f"call {t_med['before']:.2f}, between calls {t_med['between']:.2f}, after the last "
            f"{t_med['after']:.2f}); ls {span_med['ls']:.2f} s vs bare {b_ls:.2f} "
            f"({span_med['ls'] - b_ls:+.2f}), restore {span_med['restore']:.2f} s vs bare "
            f"{b_re:.2f} ({span_med['restore'] - b_re:+.2f}), outside restic vs openssl "
            f"{t_med['outside'] - b_h:+.2f}")
    log(f"difference {m_rv - m_bare:+.2f} s: snapshots {med.get('snapshots', 0):+.2f}, "
        f"version {med.get('version', 0):+.2f}, ls {med.get('ls', 0) - b_ls:+.2f}, "
        f"restore {med.get('restore', 0) - b_re:+.2f}, "
        f"own work vs openssl {own - b_h:+.2f}")
    log(f"against the issue's figures: bare ls {b_ls:.2f} s / 4.8 s = {b_ls / 4.8:.2f}, "
        f"bare restore of 100 {b_re:.2f} s / 2.2 s = {b_re / 2.2:.2f}")
    # diagnosis of the ls difference: the bare ls writes to /dev/null; restic-verify
    # reads the stream through a pipe (and parses it)
    t_null, t_pipe = [], []
    for _ in range(args.reps):
        t_null.append(ls_seconds(rb, snap, pipe=False))
        t_pipe.append(ls_seconds(rb, snap, pipe=True))
    ls_null, ls_pipe = statistics.median(t_null), statistics.median(t_pipe)
    log(f"restic ls --json alone: to /dev/null {ls_null:.2f} s, through a pipe to a reader "
        f"that only discards {ls_pipe:.2f} s ({ls_pipe - ls_null:+.2f} s); restic-verify's "
        f"ls call {med.get('ls', 0):.2f} s (pipe + parsing + sampling)")
    rv_ratio_pipe = m_rv / (m_bare - b_ls + ls_pipe)
    log(f"ratio with the bare ls read through a pipe instead of /dev/null: {rv_ratio_pipe:.3f}"
        f" (for information; the target is against /dev/null)")
    RESULTS[key] = {"restic": version, "reps": rows, "median_rv": m_rv, "median_bare": m_bare,
                           "ls_devnull": ls_null, "ls_pipe": ls_pipe,
                           "ratio_bare_ls_piped": rv_ratio_pipe,
                           "ratio": ratio, "pass": ratio <= 1.15, "seed": seed,
                           "median_rv_calls": med, "median_rv_own": own,
                           "median_bare_ls": b_ls, "median_bare_restore": b_re,
                           "median_bare_hash": b_h}


def ls_seconds(rb, snap, pipe):
    """One `restic ls --json` with a fresh cache, its output to /dev/null or read
    (1 MiB reads, discarded) from a pipe."""
    cache = tempfile.mkdtemp(prefix="cache-", dir=TMP)
    try:
        t0 = time.monotonic()
        p = subprocess.Popen([rb, "--cache-dir", cache, "--no-lock", "ls", "--json", snap["id"]],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE if pipe else subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=restic_env())
        if pipe:
            while p.stdout.read1(1 << 20):
                pass
        p.wait()
        return time.monotonic() - t0
    finally:
        shutil.rmtree(cache, ignore_errors=True)


# --------------------------------------------------------------------- section 3

def strat_restore(rb, calls, cap):
    """Runs (snapshot_ref, includes, target) restore calls in sequence with one
    throw-away cache, as restic-verify does; stops at the cap."""
    cache = tempfile.mkdtemp(prefix="cache-", dir=TMP)
    t0 = time.monotonic()
    res = {"calls": len(calls), "ok": True}
    try:
        for ref, includes, target in calls:
            left = cap - (time.monotonic() - t0)
            # restic 0.14 leaves a stale lock when SIGINT arrives while it creates the
            # lock (~0.5 s after start): do not start a call that would be cut that early
            if left <= 5:
                res["timed_out"] = True
                break
            inc = []
            for p in includes:
                inc += ["--include", escape_include(p)]
            rc, _, err, to = run_restic(
                [rb, "--cache-dir", cache, "restore", ref, "--target", target, "--verify", *inc],
                left)
            if to:
                res["timed_out"] = True
                break
            if rc != 0:
                res["ok"] = False
                res["error"] = err.strip().splitlines()[-1] if err.strip() else f"rc {rc}"
                break
    finally:
        res["seconds"] = time.monotonic() - t0
        shutil.rmtree(cache, ignore_errors=True)
    return res


def strat_mount(rb, snap, sample, target, cap):
    """`restic mount`, copy the sampled files out of the FUSE tree, unmount."""
    cache = tempfile.mkdtemp(prefix="cache-", dir=TMP)
    mnt = tempfile.mkdtemp(prefix="mnt-", dir=TMP)
    t0 = time.monotonic()
    res = {"calls": 1, "ok": True}
    p = subprocess.Popen([rb, "--cache-dir", cache, "mount", mnt], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=restic_env())
    try:
        snapdir = os.path.join(mnt, "ids", snap["short_id"])
        while not os.path.isdir(snapdir):
            if p.poll() is not None:
                res["ok"] = False
                res["error"] = p.stderr.read().decode(errors="replace").strip()[-200:]
                return res
            if time.monotonic() - t0 > cap:
                res["timed_out"] = True
                return res
            time.sleep(0.02)
        for path in sample:
            if time.monotonic() - t0 > cap:
                res["timed_out"] = True
                break
            dest = os.path.join(target, path.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(snapdir + path, dest)
    except OSError as e:
        res["ok"] = False
        res["error"] = str(e)
    finally:
        subprocess.run(["fusermount", "-u", mnt], capture_output=True)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
        res["seconds"] = time.monotonic() - t0
        shutil.rmtree(cache, ignore_errors=True)
        try:
            os.rmdir(mnt)
        except OSError:
            pass
    return res


def group_calls(snap, sample, level, target):
    """`<id>:<subfolder>` calls: sampled files grouped by their directory `level`
    levels below the backed-up path; includes relative to that subfolder."""
    base = snap["paths"][0].rstrip("/")
    groups = {}
    for p in sample:
        rel = p[len(base) + 1:]
        parts = rel.split("/")
        key = "/".join(parts[: min(level, len(parts) - 1)])
        groups.setdefault(key, []).append(p)
    calls = []
    for key, paths in sorted(groups.items()):
        sub = f"{base}/{key}" if key else base
        inc = ["/" + p[len(sub) + 1:] for p in paths]
        calls.append((f"{snap['id']}:{sub}", inc, os.path.join(target, key or "_root")))
    return calls


STRATEGIES = ["single", "batch-50", "batch-200", "batch-1000", "sorted-200",
              "sorted-1000", "sorted-auto", "subdir-1", "subdir-2", "mount"]
# also available: sorted-50, sorted-500, batch-500 (any batch-B / sorted-B)
# Measured by default (BENCHMARKS.md): the N-independent full restore, the single call the
# issue describes, the sorted batches of 200 restic-verify makes, the subtree calls of
# restic >= 0.17, and `restic mount` as the lower bound of what restic can deliver.
DEFAULT_STRATEGIES = ["full", "single", "sorted-200", "subdir-1", "mount"]


def auto_batch(n, population):
    """Batch size for sorted batches that balances restic's per-call cost c0 (opening
    the repository, loading the index: ~1.4 s here) against include matching, which
    costs m * B * (nodes under the batch's part of the tree) ~ m * B^2 * T / N with
    m ~ 210 ns per node and pattern (fitted on restic 0.14, section 3). Minimising
    (N/B) * c0 + m * T * B gives B = sqrt(c0 * N / (m * T)) = sqrt(6.5e6 * N / T);
    clamped to 100..1000, then evened out so that the last batch is not tiny."""
    b = (6.5e6 * n / max(population, 1)) ** 0.5
    b = min(max(int(round(b)), 100), 1000)
    calls = -(-n // b)
    return -(-n // calls)


def run_strategy(name, ver, snap, sample, cap, population):
    rb = RESTIC[ver]
    target = tempfile.mkdtemp(prefix="strat-", dir=TMP)
    try:
        if name == "mount":
            r = strat_mount(rb, snap, sample, target, cap)
        elif name.startswith("subdir-"):
            r = strat_restore(rb, group_calls(snap, sample, int(name[7:]), target), cap)
        else:
            if name == "single":
                order, size = sample, len(sample)
            elif name == "sorted-auto":
                order, size = sorted(sample), auto_batch(len(sample), population)
            else:
                kind, b = name.split("-")
                order = sorted(sample) if kind == "sorted" else sample
                size = int(b)
            calls = [(snap["id"], order[i:i + size], target)
                     for i in range(0, len(order), size)]
            r = strat_restore(rb, calls, cap)
        if r.get("ok") and not r.get("timed_out"):
            n = count_files(target)
            if n != len(sample):
                r["ok"] = False
                r["error"] = f"{n} files arrived, {len(sample)} expected"
    finally:
        shutil.rmtree(target, ignore_errors=True)
    r["cap"] = cap
    return r


def section3(args, snap):
    log("== 3. large samples ==")
    files = file_list(snap)
    sizes = args.sizes
    out = {"sizes": sizes, "cap": args.cap, "rv_cap": args.rv_cap, "restore_test": {},
           "strategies": {}, "full": {}, "subfolder_syntax": {}}
    RESULTS["section3"] = out

    # restore-test itself, capped
    for ver in args.rv_versions:
        log(f"-- restore-test with restic {ver} (its include strategy as built), "
            f"cap {args.rv_cap:.0f} s")
        out["restore_test"][ver] = rv_curve(args, ver, sizes)

    section3_bare(args, snap, files, sizes, out)
    section3_summary(out, sizes)


# the issue's figures for one `restic restore` with N --includes (2-core machine)
ISSUE_SINGLE = {100: "2.2", 1000: "16-25", 5000: "~120"}


def section3_summary(out, sizes):
    """The curve: restic-verify (whole restore-test) next to the bare single call."""
    rv, st = out["restore_test"], out["strategies"]
    # sorted-200: the bare calls restic-verify makes on a snapshot it cannot split by subtree
    cols = [(f"rv {v}", rv[v]) for v in rv] + \
           [(f"single {v}", st[v]["single"]) for v in st if "single" in st[v]] + \
           [(f"sorted200 {v}", st[v]["sorted-200"]) for v in st if "sorted-200" in st[v]]
    if not cols:
        return
    log("curve (seconds; rv = whole restore-test incl. snapshots + ls + hashing;"
        " single = one bare `restic restore` with every --include; sorted200 = bare sorted"
        " batches of 200, restore calls only)")
    log(f"{'N':>6} " + " ".join(f"{c:>12}" for c, _ in cols) + "   issue (single)"
        + "".join(f"   rv {v}/single {v}" for v in rv if v in st and "single" in st[v]))
    for n in sizes:
        cells = [fmt(c.get(str(n))) for _, c in cols]
        ratios = ""
        for v in rv:
            if v in st and "single" in st[v]:
                a, b = rv[v].get(str(n)), st[v]["single"].get(str(n))
                if a and b and a.get("ok") and not a.get("timed_out") and b.get("ok", True) \
                        and not b.get("timed_out") and not b.get("skipped"):
                    ratios += f"   {a['seconds'] / b['seconds']:>15.2f}"
                elif a and b and (b.get("timed_out") or b.get("skipped")) \
                        and a.get("ok") and not a.get("timed_out"):
                    ratios += f"   {'< ' + format(a['seconds'] / b['cap'], '.2f'):>15}"
                else:
                    ratios += f"   {'-':>15}"
        log(f"{n:>6} " + " ".join(f"{c:>12}" for c in cells)
            + f"   {ISSUE_SINGLE.get(n, ''):>14}" + ratios)
    # Target 2: from 1,000 files on, the whole restore-test stays below the bare single
    # call (which matches every node of the snapshot against every --include, so its
    # time grows with nodes x includes); a capped single call counts as >= the cap.
    verdict = {}
    for v, curve in rv.items():
        single = st.get(v, {}).get("single", {})
        big = [n for n in sizes if n >= 1000]
        if not big or not single:
            log(f"rv {v}: no verdict on target 2 (needs N >= 1000 and the bare single call)")
            continue
        rows, ok = [], bool(big)
        for n in big:
            a, b = curve.get(str(n)), single.get(str(n))
            if not a or not a.get("ok") or a.get("timed_out") or a.get("skipped"):
                ok = False
                continue
            if not b or not b.get("ok", True):
                ok = False
                continue
            floor = b["cap"] if (b.get("timed_out") or b.get("skipped")) else b["seconds"]
            ok = ok and a["seconds"] < floor
            rows.append(f"{n}: {a['seconds']:.1f} vs {fmt(b)}")
        verdict[v] = {"pass": ok}
        lo, hi = curve.get(str(min(big))) if big else None, curve.get(str(max(sizes)))
        growth = ""
        if lo and hi and lo.get("ok") and hi.get("ok") and not hi.get("timed_out") \
                and max(sizes) > min(big):
            g = hi["seconds"] / lo["seconds"]
            verdict[v]["growth"] = g
            growth = (f"; t({max(sizes)}) / t({min(big)}) = {g:.2f} for "
                      f"{max(sizes) / min(big):.0f}x the files")
        log(f"rv {v} below the bare single call at every N >= 1000 ({'; '.join(rows)})"
            f"{growth}: {'PASS' if ok else 'MISS'}")
    out["verdict"] = verdict


def rv_curve(args, ver, sizes):
    curve = {}
    prev_to = False
    for n in sizes:
        if prev_to:
            curve[str(n)] = {"skipped": True, "cap": args.rv_cap}
            log(f"N={n}: skipped (smaller N already hit the cap)")
            continue
        nice0 = niced_cpu()
        r = rv_run(n, 100 + n, os.path.join(BENCH_DIR, "s3.jsonl"), RESTIC[ver],
                   timeout=args.rv_cap)
        noise = niced_cpu() - nice0
        bd = breakdown(r["calls"])
        rec = r["record"]
        entry = {"seconds": r["seconds"], "timed_out": r["timed_out"], "cap": args.rv_cap,
                 "vmhwm_kib": r["vmhwm_kib"], "ok": r["rc"] == 0, "niced_cpu_seconds": noise,
                 "calls": {k: [v[0], round(v[1], 2)] for k, v in bd.items()}}
        if rec:
            entry["counts"] = rec["restore_test"]["counts"]
            entry["restore_seconds"] = rec["restore_test"]["restore_seconds"]
        curve[str(n)] = entry
        prev_to = r["timed_out"]
        log(f"N={n}: {fmt(entry)}{'' if entry['timed_out'] else ' s'}  (calls: "
            f"{', '.join(f'{k} {v[0]}x {v[1]:.1f}s' for k, v in bd.items())}; "
            f"VmHWM {r['vmhwm_kib'] / 1024:.1f} MiB"
            f"{'; ' + str(entry['counts'].get('match')) + ' match' if 'counts' in entry else ''}"
            f"; niced CPU meanwhile {noise:.1f} s)")
    return curve


def section3_bare(args, snap, files, sizes, out):

    # subfolder syntax support
    for ver in args.versions:
        sub = snap["paths"][0]
        # `ls` exits 0 on an unknown snapshot, so ask for output, not just the status
        with tempfile.TemporaryFile() as o:
            rc, _, err, _ = run_restic(
                [RESTIC[ver], "--no-cache", "ls", f"{snap['id']}:{sub}"], 120, stdout=o)
            o.seek(0)
            listed = len(o.read().splitlines())
        ok = rc == 0 and listed > 1
        out["subfolder_syntax"][ver] = {"supported": ok, "rc": rc,
                                        "stderr": "" if ok else err.strip()[-200:]}
        log(f"restic {ver}: `<snapshot>:<subfolder>` {'supported' if ok else 'NOT supported'}"
            f"{'' if ok else ' (rc ' + str(rc) + ': ' + (err.strip().splitlines() or [''])[-1][:100] + ')'}")

    # full restore as the N-independent reference
    for ver in args.versions:
        if "full" not in args.strategies:
            break
        target = tempfile.mkdtemp(prefix="full-", dir=TMP)
        r = strat_restore(RESTIC[ver], [(snap["id"], [], target)], args.full_cap)
        r["cap"] = args.full_cap
        shutil.rmtree(target, ignore_errors=True)
        out["full"][ver] = r
        log(f"restic {ver}: full restore (no includes, 3.3 GB written): {fmt(r)} s")

    for ver in args.versions:
        out["strategies"][ver] = {}
        supported = out["subfolder_syntax"][ver]["supported"]
        for name in args.strategies:
            if name == "full":
                continue
            if ver != "0.14" and name in args.only_014:
                continue
            if name.startswith("subdir-") and not supported:
                continue
            res = {}
            out["strategies"][ver][name] = res
            line = []
            prev_to = False
            for n in sizes:
                sample = random.Random(1000 + n).sample(files, n)
                if prev_to:
                    res[str(n)] = {"skipped": True, "cap": args.cap}
                    line.append(f"{n}: > {args.cap:.0f}*")
                    continue
                # a batch at least as large as the sample is the single call
                bsize = (auto_batch(n, len(files)) if name == "sorted-auto"
                         else int(name.split("-")[1]) if name.startswith(("batch-", "sorted-"))
                         else 0)
                same_as_single = (name.startswith(("batch-", "sorted-")) and bsize >= n
                                  and "single" in out["strategies"][ver])
                if same_as_single:
                    r = dict(out["strategies"][ver]["single"][str(n)], same_as="single")
                else:
                    nice0 = niced_cpu()
                    r = run_strategy(name, ver, snap, sample, args.cap, len(files))
                    r["niced_cpu_seconds"] = niced_cpu() - nice0
                    if name == "sorted-auto":
                        r["batch"] = auto_batch(n, len(files))
                res[str(n)] = r
                prev_to = bool(r.get("timed_out") or r.get("skipped"))
                extra = "" if r.get("ok", True) else f" ({r.get('error', '')})"
                line.append(f"{n}: {fmt(r)}{'=' if same_as_single else ''}{extra}"
                            + (f" (B={bsize})" if name == "sorted-auto" else ""))
            log(f"restic {ver} {name:12s} " + " | ".join(line))
    log("(seconds; '> X' = stopped at the cap, '*' = not run because a smaller N hit the cap,"
        " '=' = same as single)")
    stale = os.listdir(os.path.join(REPO, "locks"))
    out["stale_locks_after"] = len(stale)
    if stale:
        log(f"{len(stale)} stale lock(s) left by interrupted restic calls: removing with unlock")
        run_restic([RESTIC["0.14"], "--no-cache", "unlock"], 120)


# --------------------------------------------------------------------- sections 6 and 7

def cpu_busy():
    """(busy, steal) CPU seconds of the whole machine since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / TICK, v[7] / TICK


def io_stall():
    """Seconds in which some task waited for I/O, since boot (/proc/pressure/io)."""
    try:
        with open("/proc/pressure/io") as f:
            return int(f.readline().rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def run_once(argv, env=None):
    """Runs argv (stdin /dev/null, output discarded) and returns its wall seconds, its
    CPU seconds (children included), its peak RSS (ru_maxrss from wait4: for a single
    process its VmHWM), the blocks it read from disk (0 when the page cache held
    everything), the CPU seconds the rest of the machine used meanwhile (all busy CPU
    time in /proc/stat minus its own) and the seconds some task stalled on I/O."""
    load = open("/proc/loadavg").read().split()[0]
    io0 = io_stall()
    b0, st0 = cpu_busy()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    b1, st1 = cpu_busy()
    own = ru.ru_utime + ru.ru_stime
    return {"rc": p.returncode, "seconds": wall, "cpu": own, "maxrss_kib": ru.ru_maxrss,
            "inblock": ru.ru_inblock, "others_cpu": max(b1 - b0 - own, 0.0),
            "steal": st1 - st0, "io_stall": io_stall() - io0, "load": load}


def audit_record(path):
    """The last JSONL record in path (outcome, audit object); {} when there is none."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


def audit_pairs(args, label, repo, password, src, ls_versions, reps):
    """`restic-verify audit` of the newest snapshot of repo against src (the path the
    snapshot was taken from: no --map) vs `restic --no-cache ls --json latest` and vs
    `tar cf - src | cat`, side by side. Every repetition runs the audit between the two
    baselines, in alternating order (ls, audit, tar / tar, audit, ls), so that each
    ratio compares runs seconds apart and drift does not favour one side."""
    out = tempfile.mkdtemp(prefix="audit-", dir=TMP)
    res, prom = os.path.join(out, "audit.jsonl"), os.path.join(out, "audit.prom")
    audit = [RV, "audit", "--repo", repo, "--password-file", password,
             "--results", res, "--metrics", prom]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    renv = dict(env, RESTIC_REPOSITORY=repo, RESTIC_PASSWORD_FILE=password)
    parent, name = os.path.split(src.rstrip("/"))
    tar = ["bash", "-c", 'tar cf - -C "$1" "$2" | cat', "tar", parent, name]
    # the run must pass with every file `match` before it is timed; it also warms the
    # page cache (source tree, repository index and tree packs)
    first = run_once(audit, env)
    rec = audit_record(res)
    a = rec.get("audit", {})
    counts = a.get("counts", {})
    log(f"{label}: confirm run: rc {first['rc']}, outcome {rec.get('outcome')}, "
        f"counts {counts}, files_verified {a.get('files_verified')}, bytes_verified "
        f"{a.get('bytes_verified')}, {first['seconds']:.2f} s, peak RSS "
        f"{first['maxrss_kib'] / 1024:.1f} MiB")
    others = {k: v for k, v in counts.items() if k != "match" and v}
    if first["rc"] != 0 or rec.get("outcome") != "pass" or others:
        log(f"{label}: the audit does not pass with every file match: not timed "
            f"(results in {res})")
        RESULTS.setdefault("audit", {})[label] = {"error": "audit did not pass", "record": rec}
        return
    for v in ls_versions:
        run_once([RESTIC[v], "--no-cache", "ls", "--json", "latest"], renv)
    run_once(tar, env)
    rows = []
    for v in ls_versions:
        ls = [RESTIC[v], "--no-cache", "ls", "--json", "latest"]
        for rep in range(reps):
            order = [("ls", ls, renv), ("audit", audit, env), ("tar", tar, env)]
            if rep % 2:
                order.reverse()
            row = {"ls_version": v, "order": [n for n, _, _ in order]}
            for n, argv, e in order:
                row[n] = run_once(argv, e)
            ra = audit_record(res)
            row["audit_ok"] = (row["audit"]["rc"] == 0 and ra.get("outcome") == "pass"
                               and ra.get("audit", {}).get("counts") == counts)
            row["audit_own_seconds"] = ra.get("audit", {}).get("seconds")
            row["audit_vs_ls"] = row["audit"]["seconds"] / row["ls"]["seconds"]
            row["audit_vs_tar"] = row["audit"]["seconds"] / row["tar"]["seconds"]
            rows.append(row)
            log(f"{label} rep {rep + 1} (restic {v}, {' -> '.join(row['order'])}): "
                f"audit {row['audit']['seconds']:.2f} s (CPU {row['audit']['cpu']:.2f} s, "
                f"RSS {row['audit']['maxrss_kib'] / 1024:.1f} MiB"
                f"{'' if row['audit_ok'] else ', NOT PASS'}) | ls {row['ls']['seconds']:.2f} s "
                f"(CPU {row['ls']['cpu']:.2f}, RSS {row['ls']['maxrss_kib'] / 1024:.0f} MiB) | "
                f"tar|cat {row['tar']['seconds']:.2f} s (CPU {row['tar']['cpu']:.2f}) | "
                f"audit/ls {row['audit_vs_ls']:.3f}, "
                f"audit/tar {row['audit_vs_tar']:.3f} | other processes' CPU during audit/ls/tar "
                f"{row['audit']['others_cpu']:.1f}/{row['ls']['others_cpu']:.1f}/"
                f"{row['tar']['others_cpu']:.1f} s, I/O stall {row['audit']['io_stall']:.1f}/"
                f"{row['ls']['io_stall']:.1f}/{row['tar']['io_stall']:.1f} s, disk reads "
                f"{row['audit']['inblock'] // 2048}/{row['ls']['inblock'] // 2048}/"
                f"{row['tar']['inblock'] // 2048} MiB; load {row[row['order'][0]]['load']}")
    summary = {"rows": rows, "counts": counts, "files_verified": a.get("files_verified"),
               "bytes_verified": a.get("bytes_verified")}
    q = lambda xs: statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3  # noqa: E731
    for v in ls_versions:
        vr = [r for r in rows if r["ls_version"] == v]
        m = {k: statistics.median(r[k]["seconds"] for r in vr) for k in ("audit", "ls", "tar")}
        al = [r["audit_vs_ls"] for r in vr]
        at = [r["audit_vs_tar"] for r in vr]
        rss = [r["audit"]["maxrss_kib"] for r in vr]
        log(f"{label}, restic {v}: medians audit {m['audit']:.2f} s, ls {m['ls']:.2f} s, tar|cat "
            f"{m['tar']:.2f} s over {len(vr)} repetitions")
        log(f"  audit/ls: median of pairs {statistics.median(al):.3f} (quartiles "
            f"{q(al)[0]:.3f}/{q(al)[2]:.3f}, range {min(al):.3f}-{max(al):.3f}), ratio of "
            f"medians {m['audit'] / m['ls']:.3f} (target <= 1.0): "
            f"{'PASS' if statistics.median(al) <= 1.0 else 'MISS'}")
        log(f"  audit/tar: median of pairs {statistics.median(at):.3f} (quartiles "
            f"{q(at)[0]:.3f}/{q(at)[2]:.3f}, range {min(at):.3f}-{max(at):.3f}), ratio of "
            f"medians {m['audit'] / m['tar']:.3f} (target <= 1.5): "
            f"{'PASS' if statistics.median(at) <= 1.5 else 'MISS'}")
        log(f"  audit peak RSS {min(rss) / 1024:.1f}-{max(rss) / 1024:.1f} MiB; CPU seconds "
            f"(medians): audit {statistics.median(r['audit']['cpu'] for r in vr):.2f}, ls "
            f"{statistics.median(r['ls']['cpu'] for r in vr):.2f}, tar|cat "
            f"{statistics.median(r['tar']['cpu'] for r in vr):.2f}")
        # quiet repetitions: the rest of the machine used < 0.15 of a core during each of
        # the three runs (the audit hashes on both cores: it suffers most from a neighbour)
        quiet = [r for r in vr if all(r[k]["others_cpu"] < 0.15 * r[k]["seconds"]
                                      for k in ("audit", "ls", "tar"))]
        if quiet:
            log(f"  quiet repetitions ({len(quiet)} of {len(vr)}): audit/ls median "
                f"{statistics.median(r['audit_vs_ls'] for r in quiet):.3f}, audit/tar median "
                f"{statistics.median(r['audit_vs_tar'] for r in quiet):.3f}")
        else:
            log(f"  no quiet repetition (every one had another process using >= 0.15 of a "
                f"core during at least one of its runs)")
        summary[v] = {"median": m, "audit_vs_ls": statistics.median(al),
                      "audit_vs_tar": statistics.median(at), "rss_kib": [min(rss), max(rss)],
                      "quiet": len(quiet)}
    RESULTS.setdefault("audit", {})[label] = summary
    shutil.rmtree(out, ignore_errors=True)


def section6(args, snap):
    log("== 6. audit of the benchmark snapshot vs restic ls --json and tar | cat ==")
    audit_pairs(args, "benchmark snapshot", REPO, PASSWORD, snap["paths"][0],
                args.audit_ls_versions, args.audit_reps)


def section7(args):
    """Generated trees of N tiny files (32-64 bytes, one blob each, 50 per directory on
    average, Pareto-skewed or even), backed up once with restic 0.18: the audit's peak
    RSS and time against N. The sources go to --audit-tree-dir (default $BENCH_DIR; a
    tmpfs such as /dev/shm spares the disk: ext4 takes 4 KiB per tiny file), the
    repositories to $BENCH_DIR."""
    log("== 7. audit of generated trees of tiny files: peak RSS and time against N ==")
    rb = RESTIC["0.18"]
    for n in args.audit_trees:
        fpd = args.audit_tree_files_per_dir
        tag = f"{n}" if args.audit_tree_spread == "pareto" else f"{n}-{args.audit_tree_spread}"
        tag += "" if fpd == 50 else f"-{fpd}-per-dir"
        d = os.path.join(BENCH_DIR, f"audit-tree-{tag}")
        sd = os.path.join(args.audit_tree_dir or BENCH_DIR, f"audit-tree-{tag}")
        src, repo, pw = os.path.join(sd, "src"), os.path.join(d, "repo"), os.path.join(d, "pw")
        os.makedirs(d, exist_ok=True)
        os.makedirs(sd, exist_ok=True)
        t0 = time.monotonic()
        subprocess.run([sys.executable, os.path.join(HERE, "gen-dataset.py"), src,
                        "--files", str(n), "--dirs", str(max(n // fpd, 1)), "--large", "0",
                        "--large-total-mib", "0", "--min-size", "32", "--max-size", "64",
                        "--spread", args.audit_tree_spread],
                       check=True, stdout=subprocess.DEVNULL)
        t_gen = time.monotonic() - t0
        if not os.path.exists(pw):
            with open(pw, "w") as f:
                f.write("audit-tree-password\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(RESTIC_REPOSITORY=repo, RESTIC_PASSWORD_FILE=pw)
        t_backup = None
        if not os.path.exists(repo + ".complete"):
            shutil.rmtree(repo, ignore_errors=True)
            subprocess.run([rb, "init", "-q"], env=env, check=True, stdin=subprocess.DEVNULL)
            cache = tempfile.mkdtemp(prefix="cache-", dir=TMP)
            t0 = time.monotonic()
            p = subprocess.run([rb, "--cache-dir", cache, "backup", "-q", "--host", "bench", src],
                               env=env, stdin=subprocess.DEVNULL)
            t_backup = time.monotonic() - t0
            shutil.rmtree(cache, ignore_errors=True)
            if p.returncode != 0:
                log(f"{n} files: backup failed (rc {p.returncode})")
                continue
            with open(repo + ".complete", "w") as f:
                f.write(f"{t_backup:.1f}\n")
        largest = max(len(fs) + len(ds) for _, ds, fs in os.walk(src))
        log(f"{n} files: generated in {t_gen:.0f} s, "
            f"{'backed up in %.0f s' % t_backup if t_backup else 'backup reused'}; "
            f"largest directory {largest} files; repository "
            + subprocess.run(["du", "-sh", repo], capture_output=True, text=True)
            .stdout.split()[0])
        audit_pairs(args, f"tree {tag}", repo, pw, src, ["0.18"], args.audit_tree_reps)
        if args.audit_tree_remove:
            shutil.rmtree(d, ignore_errors=True)  # repository
            shutil.rmtree(sd, ignore_errors=True)  # source and its marker


# --------------------------------------------------------------------- section 4

def section4(args):
    log("== 4. peak RSS of restic-verify on a synthetic ls stream (benches/fake-restic) ==")
    fake = os.path.join(HERE, "fake-restic")
    out = {}
    RESULTS["section4"] = out
    fake_dir = os.path.join(BENCH_DIR, "fake")
    os.makedirs(fake_dir, exist_ok=True)
    for n in args.rss_sizes:
        src = os.path.join(fake_dir, f"src-{n}")
        results = os.path.join(fake_dir, f"rss-{n}.jsonl")
        extra = ["--map", f"/fake={src}"]
        env_n = dict(os.environ, FAKE_RESTIC_NODES=str(n))
        saved = os.environ.get("FAKE_RESTIC_NODES")
        os.environ["FAKE_RESTIC_NODES"] = str(n)
        try:
            if not os.path.isdir(src):
                # discovery: the same seed replays the same sample; create its live copies
                d = rv_run(100, 7, results, fake, extra=extra, test_dir=TMP, repo="fake:repo")
                paths = [f["path"] for f in (d["record"] or {}).get("restore_test", {})
                         .get("files", [])]
                subprocess.run([fake, "_make-source", src, *paths], check=True, env=env_n)
            r = rv_run(100, 7, results, fake, extra=extra, test_dir=TMP, repo="fake:repo")
        finally:
            if saved is None:
                os.environ.pop("FAKE_RESTIC_NODES", None)
            else:
                os.environ["FAKE_RESTIC_NODES"] = saved
        rec = r["record"] or {}
        counts = rec.get("restore_test", {}).get("counts", {})
        bd = breakdown(r["calls"])
        out[str(n)] = {"vmhwm_kib": r["vmhwm_kib"], "seconds": r["seconds"], "rc": r["rc"],
                       "counts": counts, "population": rec.get("restore_test", {})
                       .get("population"), "ls_seconds": bd.get("ls", [0, 0])[1]}
        log(f"nodes={n:>9,}: VmHWM {r['vmhwm_kib'] / 1024:6.1f} MiB, {r['seconds']:.1f} s "
            f"(fake ls {bd.get('ls', [0, 0])[1]:.1f} s), rc {r['rc']}, "
            f"population {out[str(n)]['population']}, {counts.get('match', 0)} match")
    his = [v["vmhwm_kib"] for v in out.values()]
    if his:
        ok = max(his) < 64 * 1024 and all(v["rc"] == 0 for v in out.values())
        log(f"max {max(his) / 1024:.1f} MiB = {max(his) / 1024 / 64:.2f} of the 64 MiB target: "
            f"{'PASS' if ok else 'MISS'}; spread {(max(his) - min(his)) / 1024:.1f} MiB across "
            f"sizes (largest / smallest stream {max(his) / max(min(his), 1):.2f}x for "
            f"{max(args.rss_sizes) / min(args.rss_sizes):.0f}x the nodes)")


# --------------------------------------------------------------------- section 5

def timed(argv, reps):
    ts = []
    for _ in range(reps):
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True)
        ts.append(time.monotonic() - t0)
        if p.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {p.stderr[-300:]}")
    return statistics.median(ts), p.stdout


def section5(args):
    log("== 5. SHA-256 throughput (1 GiB files in the page cache) ==")
    d = os.path.join(BENCH_DIR, "sha")
    os.makedirs(d, exist_ok=True)
    files = []
    for k in range(2):
        f = os.path.join(d, f"1g-{k}.bin")
        if not os.path.exists(f) or os.path.getsize(f) != 1 << 30:
            key = f"{k + 1:02x}" * 32
            with open(f + ".tmp", "wb") as out:
                z = subprocess.Popen(["head", "-c", str(1 << 30), "/dev/zero"],
                                     stdout=subprocess.PIPE)
                subprocess.run(["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", key,
                                "-iv", "00" * 16], stdin=z.stdout, stdout=out, check=True)
                z.wait()
            os.rename(f + ".tmp", f)
        files.append(f)
    for f in files:  # into the page cache
        subprocess.run(["cat", f], stdout=subprocess.DEVNULL, check=True)
    reps = args.sha_reps
    gib = 1.0
    t_ossl, o1 = timed(["openssl", "dgst", "-sha256", files[0]], reps)
    t_crate, _ = timed([SHA_BENCH, files[0]], reps)
    t_mem, mem_out = timed([SHA_BENCH, "--mem", "1024"], reps)
    t_sum, _ = timed(["sha256sum", files[0]], 1)
    # same digest?
    p = subprocess.run([SHA_BENCH, files[0]], capture_output=True, text=True)
    same = p.stderr.split()[0] == o1.rsplit("= ", 1)[1].strip()
    t_j1, _ = timed([SHA_BENCH, "-j", "1", *files], reps)
    t_j2, _ = timed([SHA_BENCH, "-j", "2", *files], reps)
    t_ossl2, _ = timed(["bash", "-c", f"openssl dgst -sha256 {files[0]} >/dev/null & "
                        f"openssl dgst -sha256 {files[1]} >/dev/null; wait"], reps)
    out = {
        "openssl_1g_seconds": t_ossl, "crate_1g_seconds": t_crate,
        "crate_mem_1g_seconds": t_mem, "sha256sum_1g_seconds": t_sum,
        "same_digest": same,
        "crate_vs_openssl": t_ossl / t_crate,
        "crate_2files_1thread_seconds": t_j1, "crate_2files_2threads_seconds": t_j2,
        "crate_2thread_speedup": t_j1 / t_j2,
        "openssl_2files_2procs_seconds": t_ossl2,
        "sha2_version": sha2_version(),
    }
    RESULTS["section5"] = out
    log(f"openssl dgst -sha256 1 GiB: {t_ossl:.3f} s ({gib * 1024 / t_ossl:.0f} MiB/s)")
    log(f"sha2 {sha2_version()}, 256 KiB reads: {t_crate:.3f} s ({gib * 1024 / t_crate:.0f} MiB/s), "
        f"in memory {t_mem:.3f} s; digest equal to openssl: {same}")
    log(f"sha256sum (coreutils) 1 GiB: {t_sum:.3f} s")
    r1, r2 = t_ossl / t_crate, t_j1 / t_j2
    log(f"crate / openssl throughput ratio: {r1:.3f} (target >= 0.9): "
        f"{'PASS' if r1 >= 0.9 else 'MISS'}")
    log(f"2 files x 1 GiB: 1 thread {t_j1:.3f} s, 2 threads {t_j2:.3f} s, speedup "
        f"{r2:.2f}x (target close to 2x, read as >= 1.8x): {'PASS' if r2 >= 1.8 else 'MISS'}; "
        f"2 openssl processes {t_ossl2:.3f} s")
    mbs = (1 << 30) / 1e6
    log(f"against the issue's figures: crate {mbs / t_crate:.0f} MB/s = "
        f"{mbs / t_crate / 1100:.2f}x openssl's 1.1 GB/s and {mbs / t_crate / 290:.1f}x "
        f"sha256sum's 290 MB/s; here sha256sum {mbs / t_sum:.0f} MB/s, openssl "
        f"{mbs / t_ossl:.0f} MB/s")
    out.update({"crate_vs_openssl_pass": r1 >= 0.9, "two_thread_pass": r2 >= 1.8})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="2,5,3,4")
    ap.add_argument("--reps", type=int, default=5, help="repetitions in section 2")
    ap.add_argument("--s2-versions", default="0.14",
                    help="restic versions section 2 runs with, in this order (e.g. 0.18,0.14)")
    ap.add_argument("--cap", type=float, default=120.0,
                    help="seconds per bare strategy point (section 3)")
    ap.add_argument("--rv-cap", type=float, default=150.0,
                    help="seconds per restore-test point (section 3)")
    ap.add_argument("--full-cap", type=float, default=150.0)
    ap.add_argument("--sizes", default="10,100,500,1000,2000,5000")
    ap.add_argument("--rss-sizes", default="250000,500000,1000000,2000000")
    ap.add_argument("--versions", default="0.14,0.18",
                    help="restic versions for the bare strategies (section 3)")
    ap.add_argument("--rv-versions", default="0.14,0.18",
                    help="restic versions restore-test runs with (section 3)")
    ap.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                    help="bare strategies of section 3 (all: full," + ",".join(STRATEGIES)
                    + "; also sorted-B / batch-B for any B)")
    ap.add_argument("--sha-reps", type=int, default=5)
    ap.add_argument("--audit-reps", type=int, default=7, help="repetitions in section 6")
    ap.add_argument("--audit-ls-versions", default="0.18,0.14",
                    help="restic versions whose `ls --json` the audit is compared with")
    ap.add_argument("--audit-trees", default="200000,2000000",
                    help="file counts of the generated trees of section 7")
    ap.add_argument("--audit-tree-reps", type=int, default=3, help="repetitions in section 7")
    ap.add_argument("--audit-tree-dir", help="where the generated sources go [$BENCH_DIR]")
    ap.add_argument("--audit-tree-spread", choices=["pareto", "uniform"], default="pareto",
                    help="files over directories in the generated trees")
    ap.add_argument("--audit-tree-files-per-dir", type=int, default=50,
                    help="files per directory on average in the generated trees (N/this "
                    "directories; N gives one directory)")
    ap.add_argument("--audit-tree-remove", action="store_true",
                    help="remove each generated tree and its repository once measured "
                    "(2M files of 32-64 bytes take ~8 GiB on ext4, 4 KiB per file)")
    ap.add_argument("--only-014", default="batch-50,batch-200,batch-1000,sorted-1000",
                    help="strategies measured with restic 0.14 only (time budget)")
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.rss_sizes = [int(x) for x in args.rss_sizes.split(",")]
    args.audit_ls_versions = [v for v in args.audit_ls_versions.split(",") if v]
    args.audit_trees = [int(x) for x in args.audit_trees.split(",") if x]
    args.versions = [v for v in args.versions.split(",") if v]
    args.rv_versions = [v for v in args.rv_versions.split(",") if v]  # "" = bare only
    args.strategies = [v for v in args.strategies.split(",") if v]
    args.only_014 = set(args.only_014.split(",")) if args.only_014 else set()
    os.makedirs(TMP, exist_ok=True)
    started = time.monotonic()
    snap = snapshot()
    RESULTS["meta"] = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "snapshot": snap["id"], "args": {k: v if not isinstance(v, set) else sorted(v)
                                         for k, v in vars(args).items()},
        "restic": {v: subprocess.run([b, "version"], capture_output=True, text=True)
                   .stdout.strip() for v, b in RESTIC.items()},
        "restic_verify": rv_revision(),
        "restic_verify_binary": RV,
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), "?"),
        "nproc": os.cpu_count(),
    }
    log(f"snapshot {snap['short_id']} of {snap['paths'][0]}; "
        f"restic-verify {RESULTS['meta']['restic_verify']}; {RESULTS['meta']['cpu']}, "
        f"{os.cpu_count()} cores")
    for s in args.sections.split(","):
        t0 = time.monotonic()
        nice0 = niced_cpu()
        load0 = open("/proc/loadavg").read().split()[0]
        if s == "2":
            for v in args.s2_versions.split(","):
                section2(args, snap, v)
        elif s == "3":
            section3(args, snap)
        elif s == "4":
            section4(args)
        elif s == "5":
            section5(args)
        elif s == "6":
            section6(args, snap)
        elif s == "7":
            section7(args)
        RESULTS.setdefault("section_seconds", {})[s] = time.monotonic() - t0
        load1 = open("/proc/loadavg").read().split()[0]
        RESULTS.setdefault("section_loadavg", {})[s] = [load0, load1]
        noise = niced_cpu() - nice0
        RESULTS.setdefault("section_niced_cpu_seconds", {})[s] = noise
        log(f"(section {s}: {time.monotonic() - t0:.0f} s; 1-min load average {load0} before,"
            f" {load1} after; niced processes used {noise:.0f} CPU-s meanwhile, "
            f"{noise / max(time.monotonic() - t0, 1):.2f} of a core: the machine is shared, "
            f"anything above ~0.1 core means interference)")
        log()
        save()
    log(f"total {time.monotonic() - started:.0f} s; results in {BENCH_DIR}/results/latest.json")


def rv_revision():
    """The commit the measured binary was built from: $BENCH_RV_REV (run.sh sets it when
    it builds), else `git describe` where the binary lies (a worktree's target/ dir)."""
    if os.environ.get("BENCH_RV_REV"):
        return os.environ["BENCH_RV_REV"]
    p = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(RV)), "describe",
                        "--always", "--dirty"], capture_output=True, text=True)
    return p.stdout.strip() or "?"


def sha2_version():
    """sha2's version in benches/sha/Cargo.lock (kept equal to the root Cargo.lock)."""
    try:
        lines = open(os.path.join(HERE, "sha", "Cargo.lock")).read().splitlines()
        i = lines.index('name = "sha2"')
        return lines[i + 1].split('"')[1]
    except (OSError, ValueError, IndexError):
        return "?"


def save():
    d = os.path.join(BENCH_DIR, "results")
    os.makedirs(d, exist_ok=True)
    stamp = RESULTS["meta"]["started"].replace(":", "").split(".")[0]
    for name in (f"{stamp}.json", "latest.json"):
        with open(os.path.join(d, name), "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
