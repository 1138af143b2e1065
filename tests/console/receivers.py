"""Local receivers for alerts: a minimal SMTP server (RFC 5321 commands smtplib uses) and a
Slack-compatible incoming webhook (POST JSON {"text": ...}, answered "ok" as Slack does)."""

from __future__ import annotations

import socketserver
import threading
from email import message_from_bytes
from email.message import Message
from typing import Any

from flask import Flask, jsonify, request

from hub.local_server import LocalServer


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpServer

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._reply("220 localhost test SMTP")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                self.server.messages.append(message_from_bytes(b"".join(lines)))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[Message] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> SmtpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def slack_receiver() -> tuple[LocalServer, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []
    app = Flask("slack_receiver")

    @app.post("/services/T000/B000/XXXX")
    def incoming() -> Any:
        body = request.get_json(force=True)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return jsonify(error="invalid_payload"), 400
        received.append(body)
        return "ok"

    return LocalServer(app), received
