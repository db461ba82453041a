#!/usr/bin/env python3
"""Benchmark of issue #23: the in-process pack reader against `restic check --read-data`.

  benches/packread.py [--files 20000] [--large-mib 512] [--reps 3] [--restic PATH ...]

Builds (once, under $BENCH_DIR/packread, default <repo>/.bench/packread) a seeded source
tree with benches/gen-dataset.py (`--files` small files, two large files of
`--large-mib` MiB in total) and one repository per restic binary (format 2, backed up
by that restic). Then, per restic version, alternating within each repetition:

  full   `restic check --read-data` vs `restic-verify check --read-data-subset new` with
         an empty state dir (structural restic check + every pack read in process);
         ratio = restic-verify seconds / restic seconds (target <= 1.0); peak RSS of
         restic-verify alone (target <= 256 MiB)
  new    after a backup adding ~1 % more data: `--read-data-subset new` with the state
         of a full run; bytes read / bytes of the new packs (target <= 1.05) and
         seconds / the full in-process run's seconds (target <= 0.1)

With `--link-mbit N` (and `--link-delay-ms`, default 5), the full and the `new` run are
measured once more over a network link: a copy of the repository served by `rclone
serve restic` on loopback, reached through benches/latency.py's proxy, which gives
every request the delay and lets the server's answers share one link of N Mbit/s.
On a local disk the full read is short and restic's structural check, which every
run does first, is a large part of a `new` run; over a link the reads dominate, as
for a repository on a NAS or in a bucket.

Prints each figure and ratio; writes $BENCH_DIR/packread/results.json. The machine
may be shared: compare the ratios (measured side by side), not absolute seconds.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import peak_rss  # noqa: E402
from latency import Proxy, free_port, wait_port  # noqa: E402

BENCH_DIR = os.path.join(os.environ.get("BENCH_DIR", os.path.join(ROOT, ".bench")), "packread")
RV = os.environ.get("RESTIC_VERIFY", os.path.join(ROOT, "target/release/restic-verify"))
PASSWORD = "bench-password-packread"


def sh(argv, env=None, cwd=None):
    r = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"failed: {argv}: {r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout


def restic_env(repo):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(RESTIC_REPOSITORY=repo, RESTIC_PASSWORD_FILE=os.path.join(BENCH_DIR, "password"))
    return env


def prepare(args, restic, tag):
    src = os.path.join(BENCH_DIR, "src")
    sh([os.path.join(HERE, "gen-dataset.py"), src, "--files", str(args.files), "--dirs",
        str(max(args.files // 100, 10)), "--large", "2", "--large-total-mib", str(args.large_mib)])
    pw = os.path.join(BENCH_DIR, "password")
    if not os.path.exists(pw):
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
    repo = os.path.join(BENCH_DIR, f"repo-{tag}")
    if not os.path.exists(repo + ".complete"):
        shutil.rmtree(repo, ignore_errors=True)
        env = restic_env(repo)
        sh([restic, "init", "--repository-version", "2"], env)
        sh([restic, "--no-cache", "backup", "--host", "bench", src], env)
        open(repo + ".complete", "w").close()
    return repo


def pack_bytes(repo):
    out = {}
    for d, _, files in os.walk(os.path.join(repo, "data")):
        for f in files:
            out[f] = os.path.getsize(os.path.join(d, f))
    return out


def rv_check(restic, repo, state, extra=()):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["RESTIC_VERIFY_RESTIC"] = restic
    results = os.path.join(state, "results.jsonl")
    argv = [RV, "check", "--repo", repo, "--password-file", os.path.join(BENCH_DIR, "password"),
            "--state-dir", state, "--results", results, "--read-data-subset", "new", *extra]
    r = peak_rss.run(argv, env=env)
    with open(results) as f:
        rec = json.loads(f.readlines()[-1])
    return r, rec


def grow(restic, repo, total, work):
    """A backup adding ~1 % of `total` in new random data; the new packs' bytes."""
    before = pack_bytes(repo)
    extra = os.path.join(work, "extra")
    os.makedirs(extra)
    with open(os.path.join(extra, "new.bin"), "wb") as f:
        f.write(os.urandom(max(total // 100, 1)))
    sh([restic, "--no-cache", "backup", "--host", "bench", extra], restic_env(repo))
    return sum(s for p, s in pack_bytes(repo).items() if p not in before)


def report_new(label, rec, r, new_bytes, full_seconds, full_read_seconds):
    read = rec["check"]["read"]
    n = {"new_pack_bytes": new_bytes, "read_bytes": read["bytes"],
         "bytes_ratio": read["bytes"] / new_bytes, "seconds": r["seconds"],
         "full_seconds": full_seconds, "time_ratio": r["seconds"] / full_seconds,
         "read_seconds": read["seconds"], "full_read_seconds": full_read_seconds,
         "read_time_ratio": read["seconds"] / full_read_seconds}
    print(f"  {label}: read {read['bytes']} of {new_bytes} new-pack bytes, ratio "
          f"{n['bytes_ratio']:.3f} {'PASS' if n['bytes_ratio'] <= 1.05 else 'MISS'} (<= 1.05); "
          f"{n['seconds']:.1f} s vs full {full_seconds:.1f} s, ratio {n['time_ratio']:.3f} "
          f"{'PASS' if n['time_ratio'] <= 0.1 else 'MISS'} (<= 0.1); the in-process read alone "
          f"{n['read_seconds']:.2f} s vs {full_read_seconds:.2f} s, ratio {n['read_time_ratio']:.3f}",
          flush=True)
    return n


def over_link(args, restic, repo, total):
    """The full and the `new` run through a link of --link-mbit to rclone serve restic."""
    work = tempfile.mkdtemp(prefix="pr-link-")
    copy = os.path.join(work, "repo")
    shutil.copytree(repo, copy)
    port = free_port()
    server = subprocess.Popen(["rclone", "serve", "restic", "--addr", f"127.0.0.1:{port}", copy],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, server, "rclone serve restic")
        proxy = Proxy(port, args.link_delay_ms / 1000, args.link_mbit * 1e6 / 8)
        url = f"rest:http://127.0.0.1:{proxy.port}/"
        state = os.path.join(work, "state")
        os.makedirs(state)
        r, rec = rv_check(restic, url, state)
        assert r["rc"] == 0, (r, rec)
        full_seconds, full_read_seconds = r["seconds"], rec["check"]["read"]["seconds"]
        print(f"  over {args.link_mbit} Mbit/s (+{args.link_delay_ms:g} ms per request): full run "
              f"{full_seconds:.1f} s (in-process read {full_read_seconds:.1f} s), peak RSS "
              f"{r['vmhwm_kib'] / 1024:.0f} MiB", flush=True)
        new_bytes = grow(restic, copy, total, work)
        r, rec = rv_check(restic, url, state)
        assert r["rc"] == 0, (r, rec)
        return report_new(f"over {args.link_mbit} Mbit/s, new after +1 %", rec, r, new_bytes,
                          full_seconds, full_read_seconds)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--large-mib", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--restic", action="append",
                    default=None, help="restic binaries (default: 0.18 and 0.19 under /opt)")
    ap.add_argument("--link-mbit", type=float, default=None,
                    help="also measure over REST through a link of this many Mbit/s")
    ap.add_argument("--link-delay-ms", type=float, default=5)
    ap.add_argument("--skip-local", action="store_true",
                    help="with --link-mbit: only the runs over the link")
    args = ap.parse_args()
    binaries = args.restic or ["/opt/restic-0.18/usr/bin/restic", "/opt/restic-0.19/usr/bin/restic"]
    os.makedirs(BENCH_DIR, exist_ok=True)
    results = {"files": args.files, "large_mib": args.large_mib, "versions": {}}
    for restic in binaries:
        version = sh([restic, "version"]).decode().split()[1]
        repo = prepare(args, restic, version)
        total = sum(pack_bytes(repo).values())
        print(f"== restic {version}: {len(pack_bytes(repo))} packs, {total / 2**20:.0f} MiB", flush=True)
        v = {"packs": len(pack_bytes(repo)), "bytes": total, "full": []}
        if not args.skip_local:
            for rep in range(args.reps):
                order = ["restic", "rv"] if rep % 2 == 0 else ["rv", "restic"]
                row = {}
                for who in order:
                    if who == "restic":
                        cache = tempfile.mkdtemp(prefix="pr-cache-")
                        r = peak_rss.run([restic, "--cache-dir", cache, "check", "--read-data"],
                                         env=restic_env(repo))
                        shutil.rmtree(cache, ignore_errors=True)
                        assert r["rc"] == 0, r
                        row["restic_seconds"] = r["seconds"]
                    else:
                        state = tempfile.mkdtemp(prefix="pr-state-")
                        r, rec = rv_check(restic, repo, state)
                        assert r["rc"] == 0 and rec["check"]["read"]["packs"] == v["packs"], (r, rec)
                        row.update(rv_seconds=r["seconds"], rv_vmhwm_mib=r["vmhwm_kib"] / 1024,
                                   rv_read_seconds=rec["check"]["read"]["seconds"],
                                   rv_bytes=rec["check"]["read"]["bytes"])
                        shutil.rmtree(state, ignore_errors=True)
                row["ratio"] = row["rv_seconds"] / row["restic_seconds"]
                print(f"  full read, rep {rep + 1}: restic {row['restic_seconds']:.1f} s, "
                      f"restic-verify {row['rv_seconds']:.1f} s (in-process read {row['rv_read_seconds']:.1f} s), "
                      f"ratio {row['ratio']:.3f} {'PASS' if row['ratio'] <= 1.0 else 'MISS'} (<= 1.0); "
                      f"peak RSS {row['rv_vmhwm_mib']:.0f} MiB {'PASS' if row['rv_vmhwm_mib'] <= 256 else 'MISS'}",
                      flush=True)
                v["full"].append(row)
            # The `new` run after a backup adding ~1 % data, on a copy of the repository.
            work = tempfile.mkdtemp(prefix="pr-new-")
            copy = os.path.join(work, "repo")
            shutil.copytree(repo, copy)
            state = os.path.join(work, "state")
            os.makedirs(state)
            r, rec = rv_check(restic, copy, state)
            full_seconds = r["seconds"]
            full_read_seconds = rec["check"]["read"]["seconds"]
            new_bytes = grow(restic, copy, total, work)
            r, rec = rv_check(restic, copy, state)
            v["new"] = report_new("new after +1 %", rec, r, new_bytes, full_seconds, full_read_seconds)
            shutil.rmtree(work, ignore_errors=True)
        if args.link_mbit:
            v["link"] = dict(over_link(args, restic, repo, total), mbit=args.link_mbit,
                             delay_ms=args.link_delay_ms)
        results["versions"][version] = v
    name = "results-link.json" if args.skip_local else "results.json"
    with open(os.path.join(BENCH_DIR, name), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
