"""The hubspot-api-client the connector uses, wired so every HTTP request waits for the shared rate
limiter, gets a timeout, and is recorded (phone numbers masked) for the delivery's history."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from hubspot import HubSpot
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.util.retry import Retry

from connectors.base import ConnectorContext
from connectors.exchanges import ExchangeRecorder, Masking
from connectors.hubspot.phones import PHONE_KEYS

PRODUCTION_HOST = "https://api.hubapi.com"
#: Extra contact properties the mappings match callers on (masked in search filters like phone).
_match_properties: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "hubspot_match_properties", default=frozenset()
)


@contextmanager
def matching(match_properties: frozenset[str]) -> Iterator[None]:
    """Inside the block, search values on these mapped match properties are masked like numbers."""
    token = _match_properties.set(match_properties)
    try:
        yield
    finally:
        _match_properties.reset(token)


def _phone_valued(name: Any, masking: Masking) -> bool:
    return isinstance(name, str) and (
        name in PHONE_KEYS or masking.is_phone_key(name) or name in _match_properties.get()
    )


def _reshape(node: dict[str, Any], masking: Masking) -> dict[str, Any]:
    """HubSpot names a phone property in one field and gives its value in another."""
    if _phone_valued(node.get("idProperty"), masking):
        # Read or upsert by a phone-valued unique property: the id (or every input's) is a number.
        if "id" in node:
            node = {**node, "id": masking.masked_value(node["id"])}
        if isinstance(node.get("inputs"), list):
            node = {
                **node,
                "inputs": [
                    {**item, "id": masking.masked_value(item["id"])}
                    if isinstance(item, dict) and "id" in item
                    else item
                    for item in node["inputs"]
                ],
            }
    if _phone_valued(node.get("propertyName"), masking):
        # A search filter: `value` / `values` hold the numbers searched for.
        node = {k: (masking.masked_value(v) if k in ("value", "values") else v) for k, v in node.items()}
    return node


MASKING = Masking(phone_keys=PHONE_KEYS, reshape=_reshape)


def recorder(access_token: str | None) -> ExchangeRecorder:
    """The recorder of a portal's exchanges: phone numbers, names and the token masked."""
    return ExchangeRecorder(MASKING, secrets=[access_token or ""])


class _GatedPool:
    """Stands in for the generated client's urllib3 pool manager."""

    def __init__(
        self, inner: Any, context: ConnectorContext, timeout_s: float, exchanges: ExchangeRecorder | None
    ) -> None:
        self._inner = inner
        self._context = context
        self._timeout_s = timeout_s
        self._exchanges = exchanges

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
            if self._exchanges is not None:
                self._exchanges.record(
                    method, path, status, kwargs.get("body"), response_body, started=started
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def build_client(
    token: str,
    host: str | None,
    context: ConnectorContext,
    timeout_s: float,
    exchanges: ExchangeRecorder | None = None,
) -> HubSpot:
    """A HubSpot client for `host` (the sandbox URL, or HubSpot itself when None); its requests
    are recorded in `exchanges` when given."""
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
                rest.pool_manager = _GatedPool(rest.pool_manager, context, timeout_s, exchanges)
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
