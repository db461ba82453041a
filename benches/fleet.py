#!/usr/bin/env python3
"""The fleet benchmark of issue #25 (see BENCHMARKS.md, "Fleet"): one daemon, many
small repositories on several REST servers on loopback, for a bounded time.

  benches/fleet.py [--repos 300] [--servers 10] [--duration 900] [--max-concurrent 2]
                   [--check-schedule "0 * * * * *"] [--restore-tests 5] [--audits 5]
                   [--bin target/release/restic-verify] [--restic /usr/bin/restic]
                   [--workdir DIR] [--json OUT]

Setup: the clean fixture repository is copied (hard links: restic only adds and
removes files) --repos times, spread over --servers `rclone serve restic` processes.
The profile has one check job on every repository (--check-schedule, 6-field cron
with seconds), and a restore-test job and an audit job on the first few
repositories (every 5 minutes), against the fixture source tree. Then
`restic-verify daemon` runs for --duration seconds and is stopped with SIGTERM.

Measured: every 2 s the daemon's RSS and open file descriptors (and how many
restic children it has); at the end, from the daemon's log, the fires started and
the fires skipped because the previous run was still going (recorded as late); from
the JSONL, the runs per repository (min / median / max: starvation shows as 0), the
outcomes, and the throughput (repository checks per hour); and whether the job's
metrics file names every repository. Prints a summary and writes everything as JSON.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what, deadline=60):
    end = time.time() + deadline
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"fleet: {what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"fleet: {what} not listening after {deadline} s")


def proc_sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        children = 0
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = len(f.read().split())
        return {"rss_kib": rss, "fds": fds, "children": children}
    except (OSError, StopIteration):
        return None


def spread(values):
    values = sorted(values)
    return {
        "min": values[0] if values else 0,
        "median": statistics.median(values) if values else 0,
        "max": values[-1] if values else 0,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=int, default=300)
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--duration", type=int, default=900)
    ap.add_argument("--max-concurrent", type=int, default=2)
    ap.add_argument("--check-schedule", default="0 * * * * *")
    ap.add_argument("--restore-tests", type=int, default=5)
    ap.add_argument("--audits", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/restic-verify"))
    ap.add_argument("--restic", default="/usr/bin/restic")
    ap.add_argument("--workdir")
    ap.add_argument("--json")
    a = ap.parse_args()

    work = a.workdir or tempfile.mkdtemp(prefix="rv-fleet-")
    os.makedirs(work, exist_ok=True)
    procs = []
    try:
        subprocess.run(["tar", "xzf", os.path.join(ROOT, "fixtures/repos/clean.tar.gz"), "-C", work], check=True)
        subprocess.run(["tar", "xzf", os.path.join(ROOT, "fixtures/source.tar.gz"), "-C", work], check=True)
        clean = os.path.join(work, "clean")
        urls = {}
        for s in range(a.servers):
            d = os.path.join(work, f"served-{s}")
            os.makedirs(d, exist_ok=True)
            names = [f"s{s:02d}-r{i:03d}" for i in range(s, a.repos, a.servers)]
            for n in names:
                subprocess.run(["cp", "-al", clean, os.path.join(d, n)], check=True)
            port = free_port()
            p = subprocess.Popen(["rclone", "serve", "restic", "--addr", f"127.0.0.1:{port}", d],
                                 env={**os.environ, "RCLONE_CONFIG": "/dev/null"},
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(work, f"rclone-{s}.log"), "w"))
            procs.append(p)
            wait_listening(port, p, f"rclone {s}")
            for n in names:
                urls[n] = f"rest:http://127.0.0.1:{port}/{n}"
        pw = os.path.join(work, "password")
        with open(pw, "w") as f:
            f.write("fixture-password\n")
        os.chmod(pw, 0o600)
        metrics = os.path.join(work, "metrics")
        os.makedirs(metrics, exist_ok=True)
        results = os.path.join(work, "results.jsonl")
        names = sorted(urls)
        lines = [
            "[defaults]",
            f"password-file = {json.dumps(pw)}",
            f"results = {json.dumps(results)}",
            f"metrics-dir = {json.dumps(metrics)}",
            f"state-dir = {json.dumps(os.path.join(work, 'state'))}",
            f"max-concurrent = {a.max_concurrent}",
            f"map = [{json.dumps('/source=' + os.path.join(work, 'source'))}]",
            "",
        ]
        for n in names:
            lines += [f"[repository.{n}]", f"url = {json.dumps(urls[n])}", ""]
        lines += ["[job.check]", 'kind = "check"', f"repositories = {json.dumps(names)}",
                  f"schedule = {json.dumps(a.check_schedule)}", ""]
        if a.restore_tests:
            lines += ["[job.restore]", 'kind = "restore-test"', "sample = 5",
                      f"repositories = {json.dumps(names[:a.restore_tests])}",
                      'schedule = "30 */5 * * * *"', ""]
        if a.audits:
            lines += ["[job.audit]", 'kind = "audit"',
                      f"repositories = {json.dumps(names[-a.audits:])}",
                      'schedule = "45 */5 * * * *"', ""]
        profile = os.path.join(work, "fleet.toml")
        with open(profile, "w") as f:
            f.write("\n".join(lines))

        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(RESTIC_VERIFY_RESTIC=a.restic, RESTIC_VERIFY_LOG="info")
        log = os.path.join(work, "daemon.log")
        started = time.time()
        daemon = subprocess.Popen([a.bin, "daemon", "--no-catch-up", "--config", profile], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        samples = []
        while time.time() - started < a.duration:
            if daemon.poll() is not None:
                sys.exit(f"fleet: the daemon exited ({daemon.returncode}); see {log}")
            s = proc_sample(daemon.pid)
            if s:
                s["t"] = round(time.time() - started, 1)
                samples.append(s)
            time.sleep(2)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=300)
        elapsed = time.time() - started

        text = open(log).read()
        records = [json.loads(l) for l in open(results)] if os.path.exists(results) else []
        per_repo = {n: 0 for n in names}
        outcomes = {}
        for r in records:
            key = (r["job"], r["outcome"] + (f" ({r['error']['category']})" if r.get("error") else ""))
            outcomes[key] = outcomes.get(key, 0) + 1
            if r["job"] == "check" and r["outcome"] == "pass":
                per_repo[r["repository"]] += 1
        checks = sum(per_repo.values())
        prom = os.path.join(metrics, "restic-verify-check.prom")
        prom_text = open(prom).read() if os.path.exists(prom) else ""
        missing_metrics = [n for n in names if f'repository="{n}"' not in prom_text]
        third = max(1, len(samples) // 3)
        out = {
            "repos": a.repos, "servers": a.servers, "duration_s": round(elapsed),
            "max_concurrent": a.max_concurrent, "check_schedule": a.check_schedule,
            "daemon_exit": code,
            "fires_started": len(re.findall(r"starting `check` \(scheduled", text)),
            "fires_skipped_still_running": len(re.findall(r"`check` is still running", text)),
            "check_runs_per_repository": spread(list(per_repo.values())),
            "repositories_never_checked": [n for n, c in per_repo.items() if c == 0],
            "outcomes": {f"{j}/{o}": c for (j, o), c in sorted(outcomes.items())},
            "checks_per_hour": round(checks * 3600 / elapsed),
            "rss_kib": {"first_third_max": max((s["rss_kib"] for s in samples[:third]), default=0),
                        "last_third_max": max((s["rss_kib"] for s in samples[-third:]), default=0)},
            "fds": {"first_third_max": max((s["fds"] for s in samples[:third]), default=0),
                    "last_third_max": max((s["fds"] for s in samples[-third:]), default=0)},
            "metrics_missing_repositories": len(missing_metrics),
            "samples": samples,
        }
        summary = {k: v for k, v in out.items() if k != "samples"}
        summary["repositories_never_checked"] = len(out["repositories_never_checked"])
        print(json.dumps(summary, indent=2))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
