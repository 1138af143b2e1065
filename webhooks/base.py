"""The provider contract and the plumbing every provider shares.

A provider module fills in three methods (`verify`, `parse`, `sign`); the base class turns
whatever `parse` raises into a stored, explained parse failure and stamps ids on the events.
Providers never import Flask: they see an `InboundRequest`, built from Flask's request by the
receiver, or from a fixture file by tests and `hub normalize`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from hub.core.errors import NotACall, ParseError, SignatureError
from hub.core.events import KIND_UNKNOWN, CallEvent, event_id, validate_event

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: Query parameters that usually carry a credential, whatever the provider: never part of what
#: identifies a delivery, never stored in clear.
CREDENTIAL_PARAM = re.compile(
    r"^(token|access_token|auth|auth_token|secret|key|api_key|apikey|password|signature|sig|hub_token)$", re.I
)


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping (HTTP header names are case-insensitive)."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Any:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def with_values(self, **values: str) -> Headers:
        merged = dict(self.items())
        for name, value in values.items():
            merged = {k: v for k, v in merged.items() if k.lower() != name.lower().replace("_", "-")}
            merged[name.replace("_", "-")] = value
        return Headers(merged)


@dataclass(frozen=True)
class InboundRequest:
    """One HTTP delivery as received: the URL the provider called and the raw bytes it sent."""

    method: str
    url: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @cached_property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query, keep_blank_values=True)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    @cached_property
    def form(self) -> dict[str, list[str]]:
        """Parameters of a form-encoded body, or of the query string when the body is not a form."""
        # A GET's body is never the payload: it is not what Twilio (or anyone) signed for a GET.
        if self.body and self.method in ("POST", "PUT") and self.content_type in (FORM_CONTENT_TYPE, ""):
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ParseError(f"form body is not UTF-8: {exc}") from exc
            if self.content_type == FORM_CONTENT_TYPE or ("=" in text and not text.lstrip().startswith("{")):
                return parse_qs(text, keep_blank_values=True)
        return self.query

    def params(self) -> dict[str, str]:
        """Form or query parameters, first value of each (what most providers mean)."""
        return {name: values[0] for name, values in self.form.items() if values}

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParseError(f"body is not valid JSON: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ParseError(f"expected a JSON object, got {type(data).__name__}")
        return data


@dataclass(frozen=True)
class SourceSettings:
    """What a provider knows of the source it serves (from hub.yaml)."""

    id: str
    default_region: str = "US"
    options: Mapping[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """A call-tracking provider's webhook dialect."""

    slug: ClassVar[str]
    name: ClassVar[str]
    #: How the provider proves a delivery is its own, shown in docs and `hub run`'s banner.
    auth: ClassVar[str]

    # What the proof covers; the shared contract tests (tests/providers/) pick their checks from
    # these. Plain attributes with class defaults, so a provider defined by data (YAML) can set
    # them per instance.
    #: The signature covers the payload (body, or query string of a GET): tampering is refused.
    signs_body: bool = False
    #: The signature covers a delivery time, and a stale one is refused.
    signs_timestamp: bool = False
    #: A shared token (header or query parameter) proves the delivery, not a signature.
    uses_token: bool = False

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings

    @abstractmethod
    def verify(self, request: InboundRequest, secrets: Sequence[str], now: datetime) -> None:
        """Raise SignatureError (with a reason people can act on) unless a secret proves the request."""

    @abstractmethod
    def sign(self, request: InboundRequest, secret: str, now: datetime) -> InboundRequest:
        """The request as the provider would send it with this secret (headers or URL added)."""

    @abstractmethod
    def parse(self, request: InboundRequest) -> list[CallEvent]:
        """The call events in one delivery; `id` and `source` are left for the hub to fill."""

    def credential_carriers(self) -> tuple[frozenset[str], frozenset[str]]:
        """Header names and query parameters that carry this provider's credential.

        The hub never stores them in clear (the stored delivery must not leak the secret).
        """
        return frozenset(), frozenset()

    def receipt_key(self, request: InboundRequest) -> str:
        """What makes two deliveries the same delivery: the query string and the body.

        The query counts because providers say which trigger fired there (`?event=update`); its
        credentials do not, so a delivery re-sent under a rotated token is still the same one.
        """
        _, secret_params = self.credential_carriers()
        hidden = {name.lower() for name in secret_params}
        query = [
            (name, value)
            for name, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
            if name.lower() not in hidden and not CREDENTIAL_PARAM.match(name)
        ]
        return hashlib.sha256(urlencode(query).encode() + b"\x00" + request.body).hexdigest()

    def normalize(self, request: InboundRequest, receipt_key: str | None = None) -> list[CallEvent]:
        """Parse and stamp ids; any failure becomes a ParseError so the delivery is kept, not lost.

        `receipt_key` is the key stored when the delivery was received (a replay of a stored
        delivery must yield the same event ids even though credentials were masked in storage).
        """
        try:
            events = self.parse(request)
            if not events:
                raise NotACall("the payload holds no call")
            for event in events:
                refuse_if_empty(event)
            key = receipt_key or self.receipt_key(request)
            stamped = [
                replace(event, id=event_id(self.settings.id, key, index), source=self.settings.id)
                for index, event in enumerate(events)
            ]
            return [validate_event(event) for event in stamped]
        except (ParseError, NotACall):
            raise
        except Exception as exc:
            # A parser bug must not lose the delivery: it is stored with this message and can be
            # re-run once the parser is fixed.
            raise ParseError(f"{type(exc).__name__}: {exc}") from exc


def refuse_if_empty(event: CallEvent) -> None:
    """A payload the provider did not understand must fail visibly, not pass as an empty call.

    An event of unknown kind that carries none of a call's facts (a number, a time, a status, a
    duration) means the parser recognized nothing but an id.
    """
    if event.kind != KIND_UNKNOWN:
        return
    call = event.call
    facts = (
        event.caller.number,
        event.tracking_number,
        event.business_number,
        call.started_at,
        call.ended_at,
        call.status,
        call.duration_s,
    )
    if all(fact is None for fact in facts):
        raise ParseError(
            f"payload not understood: no event name, number, time, status or duration for call "
            f"{event.provider_call_id!r}",
            reason="not_understood",
        )


# --- HMAC helpers ----------------------------------------------------------------------------


def hmac_digest(algorithm: str, key: str | bytes, message: bytes) -> bytes:
    key_bytes = key.encode() if isinstance(key, str) else key
    return hmac.new(key_bytes, message, getattr(hashlib, algorithm)).digest()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def matches_any(provided: str | None, expected_for_secret: Any, secrets: Sequence[str]) -> bool:
    """Constant-time check of `provided` against the expected value for each secret (rotation)."""
    if not provided:
        return False
    provided_bytes = provided.strip().encode()
    found = False
    for secret in secrets:
        expected: str = expected_for_secret(secret)
        # Compare against every secret so timing does not reveal which one matched.
        found |= hmac.compare_digest(expected.encode(), provided_bytes)
    return found


def require_header(request: InboundRequest, name: str) -> str:
    value = request.headers.get(name)
    if not value:
        raise SignatureError(f"missing {name} header", reason="missing_signature")
    return value


def check_timestamp(sent_at: datetime, now: datetime, tolerance_s: int) -> None:
    """Refuse a signed delivery time too far from now: a replayed old request, or a skewed clock."""
    skew = abs((now - sent_at).total_seconds())
    if skew > tolerance_s:
        raise SignatureError(
            f"stale signature: signed at {sent_at.isoformat()}, {int(skew)} s from now "
            f"(tolerance {tolerance_s} s)",
            reason="stale_signature",
        )
