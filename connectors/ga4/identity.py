"""Who a GA4 event belongs to: the visitor's GA client id, or a stable stand-in for it."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

#: `_ga` cookie value `GA1.<n>.<random>.<timestamp>`; GA4 wants only `<random>.<timestamp>`.
_GA_COOKIE: Final = re.compile(r"^GA\d+\.\d+\.(\d+\.\d+)$")


def normalize_client_id(value: str) -> str:
    """The client id GA4 expects, also when a provider passed the raw `_ga` cookie through."""
    value = value.strip()
    cookie = _GA_COOKIE.match(value)
    return cookie.group(1) if cookie else value


def pseudonymous_client_id(e164: str, salt: str) -> str:
    """A client id derived from the caller: stable per caller, not reversible without the salt.

    Shaped like GA's own (`<31-bit int>.<31-bit int>`) so reports and exports treat it alike.
    A keyed hash, not a plain one: phone numbers are few enough to brute-force a bare SHA-256.
    """
    digest = hmac.new(salt.encode(), e164.encode(), hashlib.sha256).digest()
    first = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
    second = int.from_bytes(digest[4:8], "big") & 0x7FFFFFFF
    return f"{first}.{second}"
