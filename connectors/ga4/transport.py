"""POSTs to the Measurement Protocol, recorded as masked exchanges without the api_secret.

Google ships no Python client for the MP; `requests` against a configurable base URL (the real
host, the EU host, or the sandbox) is all there is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import requests
import urllib3.exceptions

from connectors.base import Exchange
from connectors.exchanges import ExchangeRecorder, Masking

#: Client and session ids are long digit runs; every phone number the hub sends GA4 is E.164.
MASKING: Final = Masking(national_numbers=False)
COLLECT_PATH: Final = "/mp/collect"
DEBUG_PATH: Final = "/debug/mp/collect"


@dataclass(frozen=True)
class MpAnswer:
    status: int
    text: str
    headers: Mapping[str, str]
    exchange: Exchange

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class MpTransportError(Exception):
    """The request failed without an answer; `reached` says whether Google may have received it."""

    def __init__(self, kind: str, exchange: Exchange, *, reached: bool, timed_out: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.exchange = exchange
        self.reached = reached
        self.timed_out = timed_out


class MpTransport:
    def __init__(
        self,
        base_url: str,
        measurement_id: str,
        api_secret: str,
        timeout_s: float,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.measurement_id = measurement_id
        self._api_secret = api_secret
        self.timeout_s = timeout_s
        self.session = session or requests.Session()
        # Only the configured host is ever called: proxy variables from the environment are ignored.
        self.session.trust_env = False
        self.exchanges = ExchangeRecorder(MASKING, secrets=[api_secret])

    def public_url(self, path: str) -> str:
        """The URL as shown in previews and history: the api_secret left out."""
        return f"{self.base_url}{path}?{urlencode({'measurement_id': self.measurement_id})}"

    def post(self, path: str, body: Mapping[str, Any]) -> MpAnswer:
        """POST `body`; raises MpTransportError when no HTTP answer came back."""
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        params = {"measurement_id": self.measurement_id, "api_secret": self._api_secret}
        started = time.monotonic()
        try:
            response = self.session.post(
                f"{self.base_url}{path}",
                params=params,
                data=payload.encode(),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            exchange = self.exchanges.exchange(
                "POST", self.public_url(path), None, payload, _describe(exc), started=started
            )
            # `from None`: the requests exception's text holds the full URL, api_secret included.
            raise MpTransportError(
                _describe(exc),
                exchange,
                reached=not never_reached(exc),
                timed_out=isinstance(exc, requests.Timeout),
            ) from None
        exchange = self.exchanges.exchange(
            "POST", self.public_url(path), response.status_code, payload, response.text, started=started
        )
        return MpAnswer(response.status_code, response.text, dict(response.headers), exchange)


def never_reached(exc: requests.RequestException) -> bool:
    """True when the request provably never left: no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _describe(exc: Exception) -> str:
    # The exception text of requests can carry the full URL, api_secret included.
    return type(exc).__name__
