"""Password hashing with scrypt (memory-hard, in the standard library) and constant-time checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# 2**15 * 8 * 128 bytes = 32 MiB per hash: OWASP's scrypt baseline (N=2^15, r=8, p=1) at about
# 0.1 s here, costly enough for offline guessing while a login stays quick.
N, R, P = 2**15, 8, 1
MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 10


class WeakPassword(ValueError):
    """The password is too short to be worth hashing."""


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM, dklen=32)


def hash_password(password: str) -> str:
    """The stored form: scrypt$N$r$p$salt$hash (base64)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a console password needs at least {MIN_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, N, R, P)
    encode = base64.b64encode
    return f"scrypt${N}${R}${P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored` (parameters are read from the stored form)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def fingerprint(stored: str) -> str:
    """A short value that changes with the password: sessions made before a change end."""
    return hashlib.sha256(stored.encode()).hexdigest()[:16]
