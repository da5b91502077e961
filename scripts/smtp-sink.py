#!/usr/bin/env python3
"""Loopback SMTP sink for the notification tests: receives mail with aiosmtpd and appends one JSON line per
message (envelope sender, recipients, Message-ID, subject, body) to a file.

Usage: smtp-sink.py PORT OUTFILE   (prints "ready" on stdout once listening)
"""
import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        line = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "message_id": str(msg.get("Message-ID", "")),
            "subject": str(msg.get("Subject", "")),
            "body": body.get_content() if body is not None else "",
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        return "250 OK"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    ctl = Controller(Sink(path), hostname="127.0.0.1", port=port)
    ctl.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
