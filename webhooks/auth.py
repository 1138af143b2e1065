"""How a delivery proves it comes from the provider: HMAC, shared token, basic auth, or nothing.

Each recipe checks a request against the source's secrets (several = rotation, all compared in
constant time) and can sign a request the same way, so tests exercise the exact recipe. Every
provider states its scheme as a recipe (`RecipeAuth`); only a scheme no recipe can express
(Twilio signs the public URL plus sorted form parameters) writes its own verify and sign.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hub.core import fields
from hub.core.errors import SignatureError
from webhooks.base import Headers, InboundRequest, b64, check_timestamp, hmac_digest, matches_any

log = logging.getLogger(__name__)

ALGORITHMS: Final = ("sha1", "sha256", "sha512")
ENCODINGS: Final = ("hex", "base64")
# Nothing was presented at all, as opposed to a credential that does not match.
MISSING: Final = "missing_signature"


def with_header(request: InboundRequest, name: str, value: str) -> InboundRequest:
    kept = [(key, val) for key, val in request.headers.items() if key.lower() != name.lower()]
    return replace(request, headers=Headers([*kept, (name, value)]))


def with_query_param(request: InboundRequest, name: str, value: str) -> InboundRequest:
    parts = urlsplit(request.url)
    pairs = [(key, val) for key, val in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    pairs.append((name, value))
    return replace(request, url=urlunsplit(parts._replace(query=urlencode(pairs))))


@dataclass(frozen=True)
class HmacAuth:
    """HMAC of the raw body (optionally `timestamp + separator + body`) in a header."""

    header: str
    algorithm: str = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    separator: str = ""
    tolerance_s: int = 300

    kind: ClassVar[str] = "hmac"

    @property
    def signs_body(self) -> bool:
        return True

    @property
    def signs_timestamp(self) -> bool:
        return self.timestamp_header is not None

    @property
    def uses_token(self) -> bool:
        return False

    def describe(self) -> str:
        signed = f"{self.timestamp_header} + body" if self.timestamp_header else "raw body"
        return f"HMAC-{self.algorithm.upper()} of the {signed}, {self.encoding}, in {self.header}"

    def _message(self, timestamp: str | None, body: bytes) -> bytes:
        if timestamp is None:
            return body
        return timestamp.encode() + self.separator.encode() + body

    def _signature(self, secret: str, timestamp: str | None, body: bytes) -> str:
        digest = hmac_digest(self.algorithm, secret, self._message(timestamp, body))
        encoded = digest.hex() if self.encoding == "hex" else b64(digest)
        return self.prefix + encoded

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        provided = request.headers.get(self.header)
        if not provided:
            raise SignatureError(f"missing {self.header} header", reason=MISSING)
        timestamp = None
        if self.timestamp_header is not None:
            timestamp = request.headers.get(self.timestamp_header)
            if not timestamp:
                raise SignatureError(f"missing {self.timestamp_header} header", reason=MISSING)
        if self.encoding == "hex":
            # Hex digests are case-insensitive; providers differ in the case they send.
            provided = provided.strip()
            provided = provided[: len(self.prefix)] + provided[len(self.prefix) :].lower()
        if not matches_any(provided, lambda s: self._signature(s, timestamp, request.body), secrets):
            raise SignatureError(f"{self.header} does not match the body signed with any secret")
        if timestamp is not None:
            # Checked after the signature: an attacker cannot learn the tolerance from forged times.
            sent_at = fields.timestamp(timestamp)
            if sent_at is None:
                raise SignatureError(f"unreadable {self.timestamp_header} header")
            check_timestamp(sent_at, now, self.tolerance_s)

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        timestamp = None
        if self.timestamp_header is not None:
            timestamp = str(int(now.timestamp()))
            request = with_header(request, self.timestamp_header, timestamp)
        return with_header(request, self.header, self._signature(secret, timestamp, request.body))


@dataclass(frozen=True)
class TokenAuth:
    """A shared secret sent as is, in a header (optionally after a prefix) or a query parameter."""

    header: str | None = None
    query: str | None = None
    prefix: str = ""

    kind: ClassVar[str] = "token"

    signs_body: ClassVar[bool] = False
    signs_timestamp: ClassVar[bool] = False
    uses_token: ClassVar[bool] = True

    def describe(self) -> str:
        where = []
        if self.header:
            where.append(f"header {self.header}")
        if self.query:
            where.append(f"query parameter {self.query}")
        return "shared token in " + " or ".join(where)

    def _provided(self, request: InboundRequest) -> str | None:
        if self.header:
            value = request.headers.get(self.header, "").strip()
            # With a prefix the header holds our token only after it (an Authorization header may
            # carry another scheme, `Basic ...`, meant for a proxy); schemes ignore case.
            if value and self.prefix:
                has_prefix = value[: len(self.prefix)].lower() == self.prefix.lower()
                value = value[len(self.prefix) :].strip() if has_prefix else ""
            if value:
                return value
        if self.query:
            values = request.query.get(self.query)
            if values and values[0]:
                return values[0]
        return None

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        provided = self._provided(request)
        if provided is None:
            raise SignatureError(f"missing token ({self.describe()})", reason=MISSING)
        if not matches_any(provided, lambda secret: secret, secrets):
            raise SignatureError("token does not match any secret of this source")

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        if self.query:
            return with_query_param(request, self.query, secret)
        assert self.header is not None
        return with_header(request, self.header, self.prefix + secret)


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic auth: the password is the source's secret; the user name is checked if set."""

    username: str | None = None

    kind: ClassVar[str] = "basic"

    signs_body: ClassVar[bool] = False
    signs_timestamp: ClassVar[bool] = False
    uses_token: ClassVar[bool] = True

    def describe(self) -> str:
        return "HTTP basic auth (password = secret)"

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        header = request.headers.get("Authorization", "").strip()
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise SignatureError("missing basic auth (Authorization: Basic ...)", reason=MISSING)
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise SignatureError("unreadable basic auth header") from exc
        password_ok = matches_any(password, lambda secret: secret, secrets)
        user_ok = self.username is None or user == self.username
        if not (password_ok and user_ok):
            raise SignatureError("basic auth credentials do not match this source")

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        credentials = f"{self.username or 'callhub'}:{secret}".encode()
        return with_header(request, "Authorization", "Basic " + b64(credentials))


@dataclass(frozen=True)
class NoAuth:
    """Accept anything: only with `insecure: true`, and said loudly at start."""

    kind: ClassVar[str] = "none"

    signs_body: ClassVar[bool] = False
    signs_timestamp: ClassVar[bool] = False
    uses_token: ClassVar[bool] = False

    def describe(self) -> str:
        return "NONE (insecure: anyone who knows the URL can post calls)"

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        return None

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        return request


AuthRecipe = HmacAuth | TokenAuth | BasicAuth | NoAuth


def warn_insecure(source_id: str) -> None:
    log.warning("source %s accepts unauthenticated deliveries (insecure: true)", source_id)


def carriers(recipe: AuthRecipe) -> tuple[frozenset[str], frozenset[str]]:
    """The headers and query parameters a recipe reads its credential from."""
    if isinstance(recipe, TokenAuth):
        return frozenset({recipe.header} - {None}), frozenset({recipe.query} - {None})  # type: ignore[arg-type]
    if isinstance(recipe, BasicAuth):
        return frozenset({"Authorization"}), frozenset()
    return frozenset(), frozenset()


class RecipeAuth:
    """Provider mixin: `verify`, `sign` and the credential carriers follow `recipe`.

    `recipe` is a class attribute, or set per instance when a source option changes it (CTM's
    timestamp tolerance).
    """

    recipe: AuthRecipe

    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        self.recipe.verify(request, secrets, now)

    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        return self.recipe.sign(request, secret, now)

    def credential_carriers(self) -> tuple[frozenset[str], frozenset[str]]:
        return carriers(self.recipe)
