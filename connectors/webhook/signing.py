"""How the hub signs what it sends, and how a receiver checks it.

`X-Callhub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. Signing the
timestamp with the body lets receivers refuse replays; several `v1=` values appear while a secret
is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Callhub-Signature"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header_value(secrets: list[str], body: bytes, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={moment}", *(f"v1={signature(s, moment, body)}" for s in secrets)])


def verify(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in parts if k.strip() == "t"]
    if not stamps or not stamps[0].isdigit():
        return False
    moment = int(stamps[0])
    if abs((time.time() if now is None else now) - moment) > tolerance_s:
        return False
    expected = signature(secret, moment, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, v in parts if k.strip() == "v1")
