"""The drain's webhook receiver: a process of its own that checks each delivery's signature and
counts it, over keep-alive HTTP/1.1 (`python -m bench.receiver SECRET`; it prints its port).

It stands for an endpoint on another machine. The webhook fake (connectors.webhook.fake) under
werkzeug's threaded server takes a fifth as much CPU per request as a worker spends on the call:
on two cores shared with the workers, the drain would measure the fake beside the hub. This one
takes a ninth of what the fake does: an asyncio protocol that reads Content-Length bodies (how
the connector posts) and keeps no history. The signature is checked with the fake's own
`signed_by` (the documented scheme, independent of the connector's signing code), and a delivery
id received twice is counted apart, so the bench can tell every delivery arrived once, signed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from connectors.webhook.fake.app import RECEIVE_PATH, SIGNATURE_HEADER, signed_by

_SIGNATURE = SIGNATURE_HEADER.lower()
_ANSWERS = {
    200: b'{"status":"received"}',
    401: b'{"error":"bad signature"}',
    404: b'{"error":"not found"}',
}
_REASONS = {200: "OK", 401: "UNAUTHORIZED", 404: "NOT FOUND"}


@dataclass
class Tally:
    secret: str
    received: int = 0
    refused: int = 0
    repeated: int = 0
    ids: set[str] = field(default_factory=set)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if method == "GET" and path == "/stats":
            counts = {"received": self.received, "refused": self.refused, "repeated": self.repeated}
            return 200, json.dumps(counts).encode()
        if method != "POST" or path != RECEIVE_PATH:
            return 404, _ANSWERS[404]
        if not signed_by(self.secret, headers.get(_SIGNATURE, ""), body):
            self.refused += 1
            return 401, _ANSWERS[401]
        delivery = headers.get("x-callhub-delivery", "")
        if delivery in self.ids:
            self.repeated += 1
        self.ids.add(delivery)
        self.received += 1
        return 200, _ANSWERS[200]


class _Connection(asyncio.Protocol):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        # A request whose head and body came in whole is answered; the rest waits for more bytes.
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            status, answer = self.tally.handle(method, path, headers, body)
            self.transport.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )
            if headers.get("connection", "").lower() == "close":
                self.transport.close()
                self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class ReceiverProcess:
    """`python -m bench.receiver` started and stopped by the bench."""

    def __init__(self, secret: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", secret],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("the bench's webhook receiver did not start")
        self.port = int(line)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        """Deliveries received signed, refused (bad signature), and received again."""
        counts: dict[str, int] = requests.get(f"{self.url}/stats", timeout=5).json()
        return counts

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


async def serve(secret: str) -> None:
    tally = Tally(secret)
    server = await asyncio.get_running_loop().create_server(lambda: _Connection(tally), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
