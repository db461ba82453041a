#!/usr/bin/env python3
"""Runs a command and reports the peak RSS (VmHWM) of that process alone -- not of
its children, which /usr/bin/time would fold in -- by polling /proc/<pid>/status.

Usage: benches/peak_rss.py [--interval 0.01] [--timeout SECONDS] -- CMD ARG...
Prints one JSON line on stdout: {"rc":..., "seconds":..., "vmhwm_kib":..., "cpu_seconds":...,
"timed_out":...}; cpu_seconds is the process's own user+system time (last poll).
The command's own stdout/stderr go to /dev/null unless PEAK_RSS_LOG names a file.
On timeout the process gets SIGINT (restic-verify then stops restic with SIGINT and
removes its restore directory), then SIGKILL 30 s later.
Also importable: peak_rss.run(argv, timeout=None, env=None, log=None) -> dict.
"""
import json
import os
import signal
import subprocess
import sys
import time


def run(argv, timeout=None, env=None, log=None, interval=0.01):
    out = open(log, "ab") if log else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
    status = f"/proc/{p.pid}/status"
    statf = f"/proc/{p.pid}/stat"
    tick = os.sysconf("SC_CLK_TCK")
    cpu = 0.0
    hwm = 0
    samples = 0
    timed_out = False
    killed_at = None
    while p.poll() is None:
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
                        samples += 1
                        break
            with open(statf) as f:
                fields = f.read().rsplit(")", 1)[1].split()
                # utime, stime of the process itself (children not included)
                cpu = max(cpu, (int(fields[11]) + int(fields[12])) / tick)
        except (OSError, IndexError, ValueError):
            pass
        now = time.monotonic()
        if timeout is not None and not timed_out and now - t0 > timeout:
            timed_out = True
            killed_at = now
            p.send_signal(signal.SIGINT)
        if killed_at is not None and now - killed_at > 30:
            p.kill()
            killed_at = None
        time.sleep(interval)
    secs = time.monotonic() - t0
    if log:
        out.close()
    return {"rc": p.returncode, "seconds": round(secs, 3), "vmhwm_kib": hwm,
            "samples": samples, "timed_out": timed_out, "cpu_seconds": cpu}


def main():
    args = sys.argv[1:]
    interval, timeout = 0.01, None
    while args and args[0] in ("--interval", "--timeout"):
        if args[0] == "--interval":
            interval = float(args[1])
        else:
            timeout = float(args[1])
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    print(json.dumps(run(args, timeout=timeout, log=os.environ.get("PEAK_RSS_LOG"),
                         interval=interval)))


if __name__ == "__main__":
    main()
