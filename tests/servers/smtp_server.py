#!/usr/bin/python3
"""A real SMTP server on loopback (aiosmtpd, Debian's python3-aiosmtpd) that stores what
it receives, for the email notifier tests.

  smtp_server.py --port-file F --maildir D [--user U --password P] [--cert C --key K]

Listens on 127.0.0.1 on a free port (written to --port-file once listening). Every message
is stored as D/<n>.json: mail_from, rcpt_tos, data (the raw message, UTF-8), auth_user.
With --user/--password, AUTH PLAIN/LOGIN is offered and required (other credentials are
refused with 535). With --cert/--key, STARTTLS is offered and required before AUTH/MAIL.
Stops on SIGTERM.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--maildir", required=True)
ap.add_argument("--user")
ap.add_argument("--password")
ap.add_argument("--cert")
ap.add_argument("--key")
args = ap.parse_args()
os.makedirs(args.maildir, exist_ok=True)


class Store:
    count = 0

    async def handle_DATA(self, server, session, envelope):
        Store.count += 1
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "auth_user": (session.auth_data.login.decode()
                          if isinstance(session.auth_data, LoginPassword) else None),
            "tls": session.ssl is not None,
        }
        path = os.path.join(args.maildir, f"{Store.count}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(rec, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == args.user
          and auth_data.password.decode() == args.password)
    # handled=False: aiosmtpd answers 535 itself (with the default, it says nothing).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


kw = {}
if args.user:
    kw.update(authenticator=authenticator, auth_required=True,
              auth_require_tls=bool(args.cert))
if args.cert:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    kw.update(tls_context=ctx, require_starttls=True)
port = free_port()
controller = Controller(Store(), hostname="127.0.0.1", port=port, **kw)
controller.start()
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(port))
os.rename(tmp, args.port_file)
loop = asyncio.new_event_loop()
stop = asyncio.Event()
loop.add_signal_handler(signal.SIGTERM, stop.set)
loop.run_until_complete(stop.wait())
controller.stop()
