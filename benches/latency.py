#!/usr/bin/env python3
"""The audit over a slow network (issue #22): `restic-verify audit` against
`restic --no-cache ls --json latest`, both through a loopback proxy that adds a fixed
delay (default 20 ms) to every HTTP request, side by side, with the number of requests
each made.

Usage: benches/latency.py [--bench-dir DIR] [--files 200000] [--delay-ms 20]
                          [--reps 2] [--backends rest,s3] [--restic BIN]
                          [--restic-verify BIN]

The source tree is benches/gen-dataset.py's (seeded; `--files` small files of 1-8 KiB,
no large files: the audit reads no data packs, so they would only cost disk), backed
up once per backend and reused:
- rest: a local repository served by `rclone serve restic` on 127.0.0.1;
- s3:   a bucket of moto's S3 server (`moto_server`, PyPI `moto[server]`), written by
        restic through the proxy-free port.

The proxy (`Proxy` below) forwards bytes both ways on a second port and, on the way
to the server, holds each chunk that starts an HTTP request for the delay before
forwarding it: every request pays the delay once, requests on separate connections
pay it concurrently, as on a real network. It counts the requests it delayed.

Prints one line per run and the medians and ratios at the end; raw rows go to
BENCH_DIR/results/latency-<time>.json. Needs restic (>= 0.14), rclone, python3; for
s3 moto_server and boto3; restic-verify built with the s3 backend.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REQUEST = re.compile(rb"^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) ")
PASSWORD = "latency-benchmark"


def log(msg):
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    """Waits until something accepts on port (the server is up), or proc died."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port} within 120 s")


class Proxy:
    """A TCP proxy on its own thread: delays each request chunk, counts requests.
    With `rate` (bytes per second), the server's answers share one link of that
    rate: each chunk waits until the chunks sent before it have passed."""

    def __init__(self, upstream_port, delay, rate=None):
        self.upstream, self.delay, self.rate = upstream_port, delay, rate
        self.link_free = 0.0
        self.port = free_port()
        self.requests = 0
        self.waiting = 0
        self.max_waiting = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port))
        ready.set()
        self.server = server
        self.loop.run_forever()

    async def _client(self, reader, writer):
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_w, True), self._pipe(up_r, writer, False))

    async def _pipe(self, src, dst, to_server):
        try:
            while chunk := await src.read(1 << 16):
                if to_server and REQUEST.match(chunk):
                    self.requests += 1
                    self.waiting += 1
                    self.max_waiting = max(self.max_waiting, self.waiting)
                    await asyncio.sleep(self.delay)
                    self.waiting -= 1
                if not to_server and self.rate:
                    now = time.monotonic()
                    self.link_free = max(self.link_free, now) + len(chunk) / self.rate
                    # Sleeps of under 2 ms cost more than they wait: owed until then.
                    if self.link_free - now > 0.002:
                        await asyncio.sleep(self.link_free - now)
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                dst.close()
            except RuntimeError:
                pass

    def take(self):
        """The requests counted since the last take, and the most that were in
        flight at once (in their delay) meanwhile."""
        n, self.requests = self.requests, 0
        m, self.max_waiting = self.max_waiting, 0
        return n, m


def run_timed(argv, env):
    """Runs argv; wall seconds, CPU seconds of the child, exit code."""
    before = os.times()
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"seconds": wall, "cpu": cpu, "rc": proc.returncode,
            "stderr_tail": proc.stderr.decode(errors="replace")[-600:]}


def dataset(args):
    src = os.path.join(args.bench_dir, "latency", f"src-{args.files}")
    subprocess.run([sys.executable, os.path.join(HERE, "gen-dataset.py"), src,
                    "--files", str(args.files), "--dirs", str(max(10, args.files // 100)),
                    "--large", "0"], check=True)
    return src


def backup(restic, env, src):
    env = dict(env, RESTIC_PASSWORD=PASSWORD)
    subprocess.run([restic, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([restic, "backup", "--quiet", src], env=env, check=True)


class Rest:
    name = "rest"

    def __init__(self, args, src, base_env):
        self.repo_dir = os.path.join(args.bench_dir, "latency", f"repo-rest-{args.files}")
        self.port = free_port()
        self.server = subprocess.Popen(
            ["rclone", "serve", "restic", "--addr", f"127.0.0.1:{self.port}", self.repo_dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=base_env)
        wait_port(self.port, self.server, "rclone serve restic")
        self.env = {}
        if not os.path.exists(os.path.join(self.repo_dir, "config")):
            os.makedirs(self.repo_dir, exist_ok=True)
            backup(args.restic, dict(base_env, RESTIC_REPOSITORY=self.url(self.port)), src)

    def url(self, port):
        return f"rest:http://127.0.0.1:{port}/"

    def stop(self):
        self.server.terminate()
        self.server.wait()


class S3:
    name = "s3"

    def __init__(self, args, src, base_env):
        self.port = free_port()
        self.server = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.server, "moto_server")
        # moto keeps objects in memory: every run writes the repository anew
        self.env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
                    "AWS_DEFAULT_REGION": "us-east-1"}
        backup(args.restic, dict(base_env, **self.env, RESTIC_REPOSITORY=self.url(self.port)), src)

    def url(self, port):
        return f"s3:http://127.0.0.1:{port}/latency/repo"

    def stop(self):
        self.server.terminate()
        self.server.wait()


def measure(args, backend, src, base_env, rows):
    proxy = Proxy(backend.port, args.delay_ms / 1000)
    url = backend.url(proxy.port)
    tmp = tempfile.mkdtemp(prefix="latency-")
    try:
        pw = os.path.join(tmp, "password")
        with open(pw, "w") as f:
            f.write(PASSWORD)
        envfile = os.path.join(tmp, "env")
        with open(envfile, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in backend.env.items())
        results = os.path.join(tmp, "audit.jsonl")
        audit = [args.restic_verify, "audit", "--repo", url, "--password-file", pw,
                 "--results", results, "--metrics", os.path.join(tmp, "audit.prom")]
        if backend.env:
            audit += ["--env-file", envfile]
        ls = [args.restic, "--no-cache", "ls", "--json", "latest"]
        renv = dict(base_env, **backend.env, RESTIC_REPOSITORY=url, RESTIC_PASSWORD_FILE=pw)
        for rep in range(args.reps):
            order = [("ls", ls, renv), ("audit", audit, base_env)]
            if rep % 2:
                order.reverse()
            row = {"backend": backend.name, "rep": rep + 1}
            for name, argv, env in order:
                proxy.take()
                row[name] = run_timed(argv, env)
                row[name]["requests"], row[name]["max_in_flight"] = proxy.take()
            last = open(results).read().splitlines()[-1] if os.path.exists(results) else "{}"
            rec = json.loads(last)
            row["audit_outcome"] = rec.get("outcome")
            row["audit_counts"] = rec.get("audit", {}).get("counts")
            row["ratio"] = row["audit"]["seconds"] / row["ls"]["seconds"]
            rows.append(row)
            log(f"{backend.name} rep {rep + 1}: audit {row['audit']['seconds']:.2f} s "
                f"({row['audit']['requests']} requests, at most {row['audit']['max_in_flight']} at once, {row['audit_outcome']}, "
                f"{row['audit_counts']}) | ls --json {row['ls']['seconds']:.2f} s "
                f"({row['ls']['requests']} requests, at most {row['ls']['max_in_flight']} at once, rc {row['ls']['rc']}) | "
                f"audit/ls {row['ratio']:.3f}")
            if row["audit_outcome"] != "pass" or row["ls"]["rc"] != 0:
                log(f"audit stderr: {row['audit']['stderr_tail']}\nls stderr: {row['ls']['stderr_tail']}")
    finally:
        shutil.rmtree(tmp)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench-dir", default=os.environ.get("BENCH_DIR", os.path.join(ROOT, ".bench")))
    p.add_argument("--files", type=int, default=200000)
    p.add_argument("--delay-ms", type=float, default=20)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--backends", default="rest,s3")
    p.add_argument("--restic", default=os.environ.get("RESTIC_018", "/opt/restic-0.18/usr/bin/restic"))
    p.add_argument("--restic-verify", default=os.environ.get(
        "RESTIC_VERIFY", os.path.join(ROOT, "target", "release", "restic-verify")))
    args = p.parse_args()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
    src = dataset(args)
    rows = []
    for name in args.backends.split(","):
        backend = {"rest": Rest, "s3": S3}[name](args, src, base_env)
        try:
            measure(args, backend, src, dict(base_env), rows)
        finally:
            backend.stop()
    out = os.path.join(args.bench_dir, "results")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, time.strftime("latency-%Y%m%dT%H%M%S.json"))
    with open(path, "w") as f:
        json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    for name in args.backends.split(","):
        rs = [r for r in rows if r["backend"] == name]
        a = statistics.median(r["audit"]["seconds"] for r in rs)
        ls = statistics.median(r["ls"]["seconds"] for r in rs)
        log(f"{name}: {args.files} files, +{args.delay_ms:g} ms per request: audit {a:.2f} s "
            f"({rs[-1]['audit']['requests']} requests), restic ls --json {ls:.2f} s "
            f"({rs[-1]['ls']['requests']} requests): ratio {a / ls:.3f} "
            f"({'PASS' if a / ls <= 0.25 else 'MISS'} against <= 0.25)")
    log(f"raw rows: {path}")


if __name__ == "__main__":
    main()
