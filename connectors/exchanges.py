"""How every connector records its HTTP exchanges for the delivery history, with personal data masked.

A connector makes one `ExchangeRecorder` with the secrets it sends and, where its vendor's bodies
need it, a `Masking` naming extra fields. Whatever passes through it is kept trimmed, with:

- secrets (the credential values, and any field named like one) replaced by `[secret]`;
- phone numbers (fields named like one, and numbers written inside any text) cut to their last
  two digits: `***00`;
- people's names (fields named like one) cut to their first letter: `M***`.

Exchanges are kept per thread, inside `collecting()`: a connector shared by threads collects each
`send`'s own, and requests made outside a send (checks, schema reads) are not kept.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from connectors.base import EXCERPT_CHARS, Exchange, excerpt

log = logging.getLogger("connectors.exchanges")

#: Field names (lower case) containing one of these hold phone numbers: `Phone`, `mobilephone`,
#: `caller_e164`, `hs_call_from_number`, `Tracking_Number__c`, `hs_searchable_calculated_mobile_number`.
PHONE_KEY_PARTS: Final = (
    "phone",
    "e164",
    "fax",
    "mobile_number",
    "from_number",
    "to_number",
    "tracking_number",
    "business_number",
    "caller_number",
)
#: Field names (lower case) holding a person's name.
NAME_KEYS: Final = frozenset(
    {"firstname", "lastname", "first_name", "last_name", "full_name", "fullname", "caller_name", "callername"}
)
#: Field names (lower case) holding credentials.
SECRET_KEYS: Final = frozenset(
    {
        "access_token",
        "refresh_token",
        "api_secret",
        "api_key",
        "client_secret",
        "password",
        "security_token",
        "secret",
        "authorization",
    }
)
SECRET_SHOWN: Final = "[secret]"  # noqa: S105

_E164_IN_TEXT: Final = re.compile(r"\+\d{7,15}")
#: E.164 numbers, and national formats ("(415) 555-0100", "020 7123 4567", "4155550100") that are
#: not part of a longer word, path or time.
_NUMBER_IN_TEXT: Final = re.compile(
    _E164_IN_TEXT.pattern + r"|(?<![\w.:/-])\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{4}(?![\w:/])"
)


def mask_number(value: str) -> str:
    """A phone number reduced to its last two digits, for history and messages."""
    digits = [ch for ch in value if ch.isdigit()]
    return "***" + "".join(digits[-2:]) if digits else value


def mask_name(value: str) -> str:
    """A person's name reduced to its first letter."""
    text = value.strip()
    return text[0] + "***" if text else value


def scrub_numbers(text: str, *, national: bool = True) -> str:
    """Free text (messages, notes, URLs) with every phone number in it masked; `national=False`
    masks E.164 numbers only, for bodies whose long digit runs are ids rather than numbers."""
    pattern = _NUMBER_IN_TEXT if national else _E164_IN_TEXT
    return pattern.sub(lambda found: mask_number(found.group()), text)


def without_query(url: str) -> str:
    """A URL whose query string is left out (a search's `q=` carries callers' numbers)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "[query omitted]" if parts.query else "", ""))


Reshape = Callable[[dict[str, Any], "Masking"], dict[str, Any]]


@dataclass(frozen=True)
class Masking:
    """Which fields of a connector's bodies hold phone numbers, names and secrets."""

    #: Exact field names (lower case) holding phone numbers besides those matching PHONE_KEY_PARTS.
    phone_keys: frozenset[str] = frozenset()
    name_keys: frozenset[str] = NAME_KEYS
    secret_keys: frozenset[str] = SECRET_KEYS
    #: Mask national-format numbers in text too; off where bodies carry long numeric ids (GA4's
    #: client and session ids) and every number the hub sends is E.164.
    national_numbers: bool = True
    #: Vendor structures the key rules cannot see (a search filter naming a phone property and
    #: giving its value beside it): called on every object before its fields are masked.
    reshape: Reshape | None = None

    def is_phone_key(self, key: object) -> bool:
        return isinstance(key, str) and _key_traits(key, self.phone_keys, self.name_keys, self.secret_keys)[1]

    def masked_value(self, value: Any) -> Any:
        """A phone-valued field's value (or list of values) masked."""
        if isinstance(value, list):
            return [self.masked_value(item) for item in value]
        if isinstance(value, dict):
            return self.data(value)
        if value in (None, "") or isinstance(value, bool):
            return value
        return mask_number(str(value))

    def data(self, node: Any) -> Any:
        """A decoded JSON body with every phone number, name and secret masked."""
        if isinstance(node, dict):
            if self.reshape is not None:
                node = self.reshape(node, self)
            return {key: self._field(key, value) for key, value in node.items()}
        if isinstance(node, list):
            return [self.data(item) for item in node]
        if isinstance(node, str):
            return self.text(node)
        return node

    def text(self, value: str) -> str:
        """Free text with the phone numbers in it masked."""
        return scrub_numbers(value, national=self.national_numbers)

    def _field(self, key: Any, value: Any) -> Any:
        secret, phone, name = (
            _key_traits(key, self.phone_keys, self.name_keys, self.secret_keys)
            if isinstance(key, str)
            else _NO_TRAITS
        )
        if secret and value not in (None, ""):
            return SECRET_SHOWN
        if isinstance(value, dict):
            return self.data(value)
        if phone:
            return self.masked_value(value)
        if name and isinstance(value, str):
            return mask_name(value)
        return self.data(value)


_NO_TRAITS: Final = (False, False, False)


# A vendor's bodies repeat the same few field names in every record of every batch: what a name
# says (secret, phone, person's name) is worked out once per name and set of keys.
@functools.lru_cache(maxsize=4096)
def _key_traits(
    key: str, phone_keys: frozenset[str], name_keys: frozenset[str], secret_keys: frozenset[str]
) -> tuple[bool, bool, bool]:
    lowered = key.lower()
    phone = lowered in phone_keys or any(part in lowered for part in PHONE_KEY_PARTS)
    return lowered in secret_keys, phone, lowered in name_keys


DEFAULT_MASKING: Final = Masking()


#: What a masker (its key rules or a connector's `reshape`) may raise on a shape it does not know.
_MASKING_FAILURES: Final = (TypeError, ValueError, RecursionError, LookupError, AttributeError)
_CAUSES: Final[dict[type[BaseException], str]] = {
    RecursionError: "RecursionError: nested too deep",
    TypeError: "TypeError: a value JSON cannot hold",
}


def _unrecorded(exc: BaseException, text: str) -> str:
    """A JSON body the masker cannot handle: better no body in history than a number in clear.
    The cause is told by its kind only: an exception's message may quote the value."""
    cause = _CAUSES.get(type(exc), type(exc).__name__)
    log.warning("exchange body not recorded: masking failed", extra={"detail": cause, "bytes": len(text)})
    return f"[body not recorded: masking failed ({cause}) on {len(text)} bytes of JSON]"


#: How much of a JSON body (in characters as sent) is masked for its excerpt: masking shortens
#: numbers and names, never by half, so twice the excerpt still fills it.
_PRUNE_BUDGET_CHARS: Final = 2 * EXCERPT_CHARS


def _leading_part(node: Any, budget: int) -> tuple[Any, bool]:
    """`node` with the list items that start past `budget` characters of its JSON left out, and
    whether any were: its JSON, up to where the first left-out item would begin, is unchanged.
    Objects keep all their keys (a connector's `reshape` may read a record's sibling fields)."""
    kept, _, dropped = _lead(node, budget)
    return kept, dropped


def _lead(node: Any, budget: int) -> tuple[Any, int, bool]:
    if isinstance(node, list):
        items: list[Any] = []
        size, dropped = 1, False
        for index, item in enumerate(node):
            if size >= budget:
                return items, size + 1, True
            kept, item_size, item_dropped = _lead(item, budget - size)
            items.append(kept)
            size += item_size + (1 if index else 0)
            dropped = dropped or item_dropped
        return items, size + 1, dropped
    if isinstance(node, dict):
        fields: dict[Any, Any] = {}
        size, dropped = 1, False
        for key, value in node.items():
            kept, value_size, value_dropped = _lead(value, max(budget - size, 0))
            fields[key] = kept
            size += len(str(key)) + 4 + value_size
            dropped = dropped or value_dropped
        return fields, size + 1, dropped
    if isinstance(node, str):
        return node, len(node) + 2, False
    return node, len(str(node)), False


@dataclass
class ExchangeRecorder:
    """Turns requests into masked `Exchange`s and collects each thread's."""

    masking: Masking = DEFAULT_MASKING
    #: Credential values sent to the vendor: replaced wherever they appear (URL, bodies, errors).
    secrets: Iterable[str] = ()
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        # Longest first, so a secret containing another is replaced whole; short values would
        # blank out ordinary text.
        self.secrets = tuple(sorted({s for s in self.secrets if s and len(s) >= 8}, key=len, reverse=True))

    def text(self, value: str) -> str:
        """Free text for history: secrets and phone numbers masked."""
        for secret in self.secrets:
            value = value.replace(secret, SECRET_SHOWN)
        return self.masking.text(value)

    def body(self, raw: Any) -> str:
        """A request or response body for history: JSON masked field by field, other text scrubbed."""
        if raw in (None, b"", ""):
            return ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        try:
            data = json.loads(text)
        except ValueError:
            return excerpt(self.text(text))
        except RecursionError as exc:
            return _unrecorded(exc, text)
        try:
            # History keeps the first EXCERPT_CHARS of the masked body: a batch of 100 records is
            # masked only as far as that excerpt can reach, not whole, then cut as before.
            shown, dropped = _leading_part(data, _PRUNE_BUDGET_CHARS)
            masked = self._masked_json(shown)
            if dropped and len(masked) <= EXCERPT_CHARS:
                # Masking shrank what was kept below the excerpt: mask the whole body instead.
                masked, dropped = self._masked_json(data), False
        except _MASKING_FAILURES as exc:
            return _unrecorded(exc, text)
        if not dropped and len(masked) <= EXCERPT_CHARS:
            return masked
        return masked[:EXCERPT_CHARS] + f"... [cut; the whole body has {len(text)} chars]"

    def _masked_json(self, data: Any) -> str:
        return self.text(json.dumps(self.masking.data(data), separators=(",", ":")))

    def exchange(
        self,
        method: str,
        url: str,
        status: int | None,
        request_body: Any = None,
        response_body: Any = None,
        *,
        started: float | None = None,
        duration_ms: float | None = None,
        delivery_ids: tuple[str, ...] = (),
    ) -> Exchange:
        """One masked exchange (not kept); `started` is a `time.monotonic()` reading."""
        if duration_ms is None:
            duration_ms = round((time.monotonic() - started) * 1000, 1) if started is not None else 0.0
        return Exchange(
            method=method,
            url=self.text(url),
            status=status,
            request_body=self.body(request_body),
            response_body=self.body(response_body),
            duration_ms=duration_ms,
            delivery_ids=delivery_ids,
        )

    def record(self, *args: Any, **kwargs: Any) -> Exchange:
        """`exchange(...)`, kept when this thread is inside `collecting` (checks keep nothing)."""
        exchange = self.exchange(*args, **kwargs)
        journal: list[Exchange] | None = getattr(self._local, "journal", None)
        if journal is not None:
            journal.append(exchange)
        return exchange

    @contextmanager
    def collecting(self) -> Iterator[list[Exchange]]:
        """Collect the exchanges this thread records inside the block into the list yielded."""
        previous = getattr(self._local, "journal", None)
        journal: list[Exchange] = []
        self._local.journal = journal
        try:
            yield journal
        finally:
            self._local.journal = previous
