#!/usr/bin/env python3
"""A real HTTP server on loopback that records every request, for the notifier tests
(Healthchecks, ntfy, Uptime Kuma stand on the other end in production).

  http_recorder.py --port-file F --log L.jsonl [--status N] [--header 'K: V']... [--delay S]

Listens on 127.0.0.1 on a free port (written to --port-file once listening), appends one
JSON object per request to --log: method, path, query (decoded pairs), headers
(lower-case names), body (UTF-8, replacement for invalid bytes). Answers --status
(default 200) with the --header lines; paths under /api/push/ get Uptime Kuma's
`{"ok":true}` body (or `{"ok":false,"msg":"..."}` with --kuma-fail). --delay sleeps before
answering (for timeout tests). Stops on SIGTERM.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--status", type=int, default=200)
ap.add_argument("--header", action="append", default=[])
ap.add_argument("--delay", type=float, default=0.0)
ap.add_argument("--kuma-fail", action="store_true")
args = ap.parse_args()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        rec = {
            "method": self.command,
            "path": urllib.parse.unquote(url.path),
            "raw_path": url.path,
            "query": urllib.parse.parse_qsl(url.query, keep_blank_values=True),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "time": time.time(),
        }
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if args.delay:
            time.sleep(args.delay)
        if url.path.startswith("/api/push/"):
            out = (b'{"ok":false,"msg":"Monitor not found or not active."}' if args.kuma_fail
                   else b'{"ok":true}')
            ctype = "application/json"
        else:
            out, ctype = b"OK", "text/plain"
        self.send_response(args.status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(out)))
        for h in args.header:
            k, v = h.split(":", 1)
            self.send_header(k.strip(), v.strip())
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_any

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, args.port_file)
server.serve_forever()
sys.exit(0)
