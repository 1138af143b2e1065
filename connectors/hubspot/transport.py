"""The hubspot-api-client the connector uses, wired so every HTTP request waits for the shared rate
limiter, gets a timeout, and is recorded (phone numbers masked) for the delivery's history."""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from hubspot import HubSpot
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.util.retry import Retry

from connectors import history
from connectors.base import ConnectorContext, Exchange
from connectors.hubspot.phones import PHONE_KEYS, mask, scrub

PRODUCTION_HOST = "https://api.hubapi.com"
_journal: contextvars.ContextVar[list[Exchange] | None] = contextvars.ContextVar(
    "hubspot_journal", default=None
)
#: Extra contact properties the mappings match callers on (masked in search filters like phone).
_match_properties: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "hubspot_match_properties", default=frozenset()
)


@contextmanager
def recording(match_properties: frozenset[str] = frozenset()) -> Iterator[list[Exchange]]:
    """Collect the exchanges made by this thread inside the block (`match_properties`: mapped
    match properties whose search values are masked like phone numbers)."""
    exchanges: list[Exchange] = []
    token = _journal.set(exchanges)
    names = _match_properties.set(match_properties)
    try:
        yield exchanges
    finally:
        _match_properties.reset(names)
        _journal.reset(token)


def _is_phone_key(name: Any) -> bool:
    return isinstance(name, str) and name in PHONE_KEYS


def _masked(node: Any) -> Any:
    if isinstance(node, dict):
        if _is_phone_key(node.get("idProperty")) and "id" in node:
            node = {**node, "id": _masked_value(node["id"])}
        if _is_phone_key(node.get("idProperty")) and isinstance(node.get("inputs"), list):
            # Batch read / upsert by a phone-valued unique property: every input's id is a number.
            node = {
                **node,
                "inputs": [
                    {**item, "id": _masked_value(item["id"])}
                    if isinstance(item, dict) and "id" in item
                    else item
                    for item in node["inputs"]
                ],
            }
        name = node.get("propertyName")
        if _is_phone_key(name) or _is_mapped_match(name):
            return {k: (_masked_value(v) if k in ("value", "values") else v) for k, v in node.items()}
        return {k: (_masked_value(v) if k in PHONE_KEYS else _masked(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_masked(item) for item in node]
    if isinstance(node, str):
        return scrub_numbers(node)
    return node


#: Digits a number may be echoed back with in free text (error messages): national formats too.
_NATIONAL_IN_TEXT = re.compile(r"(?<![\w.:/-])\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{4}(?![\w:/])")


def scrub_numbers(text: str) -> str:
    """Free text with E.164 numbers and national-format ones ("(415) 555-0100") masked."""
    return _NATIONAL_IN_TEXT.sub(lambda found: mask(found.group()), scrub(text))


def _is_mapped_match(name: Any) -> bool:
    """A search filter on a property a mapping matches callers on: its values are numbers too."""
    return isinstance(name, str) and name in _match_properties.get()


def _masked_value(value: Any) -> Any:
    if isinstance(value, list):
        return [mask(str(item)) for item in value]
    return mask(str(value)) if value not in (None, "") else value


def masked_body(raw: Any) -> str:
    """A request or response body for history with every phone number masked."""
    return history.masked_body(raw, _masked, scrub_numbers)


class _GatedPool:
    """Stands in for the generated client's urllib3 pool manager."""

    def __init__(self, inner: Any, context: ConnectorContext, timeout_s: float) -> None:
        self._inner = inner
        self._context = context
        self._timeout_s = timeout_s

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        path = urlsplit(url).path
        self._context.throttle("default")
        if path.endswith("/search"):
            # HubSpot limits search separately (per second) on top of the account's budget.
            self._context.throttle("search")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_s
        started = time.monotonic()
        status: int | None = None
        response_body: Any = None
        try:
            response = self._inner.request(method, url, **kwargs)
            status, response_body = response.status, response.data
            return response
        finally:
            journal = _journal.get()
            if journal is not None:
                journal.append(
                    Exchange(
                        method=method,
                        url=path,
                        status=status,
                        request_body=masked_body(kwargs.get("body")),
                        response_body=masked_body(response_body),
                        duration_ms=round((time.monotonic() - started) * 1000, 1),
                    )
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def build_client(token: str, host: str | None, context: ConnectorContext, timeout_s: float) -> HubSpot:
    """A HubSpot client for `host` (the sandbox URL, or HubSpot itself when None)."""
    apis: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def api_factory(package: Any, api_name: str, config: dict[str, Any]) -> Any:
        # The client builds a fresh API object (and connection pool) on every attribute access;
        # one per API keeps connections alive and puts the gate in front of each pool once.
        key = (package.__name__, api_name)
        with lock:
            if key not in apis:
                api = DiscoveryBase._default_api_factory(package, api_name, config)
                rest = api.api_client.rest_client
                rest.pool_manager = _GatedPool(rest.pool_manager, context, timeout_s)
                apis[key] = api
            return apis[key]

    return HubSpot(
        access_token=token,
        host=host or PRODUCTION_HOST,
        client_side_validation=True,
        api_factory=api_factory,
        # Connection failures only: a read timeout on a write must not be replayed blindly, and
        # status codes (429, 5xx) are the hub's to retry with its own backoff.
        retry=Retry(
            total=2, connect=2, read=0, status=0, other=0, redirect=0, respect_retry_after_header=False
        ),
    )
