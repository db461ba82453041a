#!/usr/bin/env python3
"""Runs a command and reports the peak RSS (VmHWM) of that process alone — not of
its children, which /usr/bin/time would fold in — by polling /proc/<pid>/status.

Usage: benches/peak_rss.py [--interval 0.01] -- CMD ARG...
Prints one JSON line on stdout: {"rc":…, "seconds":…, "vmhwm_kib":…, "samples":…}.
The command's own stdout/stderr go to /dev/null unless PEAK_RSS_LOG names a file.
"""
import json
import os
import subprocess
import sys
import time


def main():
    args = sys.argv[1:]
    interval = 0.01
    if args[:1] == ["--interval"]:
        interval = float(args[1])
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    log = os.environ.get("PEAK_RSS_LOG")
    out = open(log, "ab") if log else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    status = f"/proc/{p.pid}/status"
    hwm = 0
    samples = 0
    while p.poll() is None:
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
                        samples += 1
                        break
        except OSError:
            pass
        time.sleep(interval)
    secs = time.monotonic() - t0
    print(json.dumps({"rc": p.returncode, "seconds": round(secs, 3),
                      "vmhwm_kib": hwm, "samples": samples}))


if __name__ == "__main__":
    main()
