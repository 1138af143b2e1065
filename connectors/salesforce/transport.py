"""The HTTP session simple-salesforce uses: sandbox redirection and a record of every exchange.

simple-salesforce only ever builds `https://<instance>.salesforce.com/...` URLs, and every call it
makes (logins included) goes through the `requests.Session` it is given. So sandbox mode mounts an
adapter that sends those requests to the local fake over plain HTTP, and a response hook keeps a
trimmed copy of each exchange for the delivery's history.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from connectors import history
from connectors.base import Exchange

#: Logins carry passwords and hand out tokens: their bodies never enter the history.
_SECRET_PATHS = ("/services/oauth2/token", "/services/Soap/")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
#: Field names whose values are phone numbers (besides any name containing "phone" or "e164").
_PHONE_FIELDS = frozenset({"Fax", "Tracking_Number__c"})
#: E.164 numbers, and runs of 7+ digits with phone punctuation, inside free text (messages, summaries).
_NUMBER_IN_TEXT = re.compile(r"\+\d{7,15}|(?<![\w.:-])\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?![\w:])")

UsageObserver = Callable[[int, int], None]


class ToLocalHTTP(HTTPAdapter):
    """Send every https:// request of the session to a plain-HTTP local fake (host:port)."""

    def __init__(self, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        # The fake answers per host as Salesforce does (client credentials only at a My Domain).
        request.headers["X-Forwarded-Host"] = parts.netloc
        request.url = urlunsplit(("http", self.target, parts.path, parts.query, parts.fragment))
        return super().send(request, *args, **kwargs)


class ExchangeLog:
    """Collects exchanges and API usage readings from a session's responses.

    Exchanges are kept per thread: a connector shared by threads hands each `send` its own.
    """

    def __init__(self, on_usage: UsageObserver | None = None) -> None:
        self._local = threading.local()
        self.on_usage = on_usage

    @property
    def _exchanges(self) -> list[Exchange]:
        if not hasattr(self._local, "exchanges"):
            self._local.exchanges = []
        exchanges: list[Exchange] = self._local.exchanges
        return exchanges

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        url = request.url or ""
        secret = any(path in url for path in _SECRET_PATHS)
        exchange = Exchange(
            method=request.method or "",
            url=without_query(url),
            status=response.status_code,
            request_body="[credentials omitted]" if secret else masked_body(request.body),
            response_body="[session omitted]" if secret and response.ok else masked_body(response.text),
            duration_ms=response.elapsed.total_seconds() * 1000,
        )
        self._exchanges.append(exchange)
        usage = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage and self.on_usage is not None:
            self.on_usage(int(usage.group(1)), int(usage.group(2)))

    def take(self) -> list[Exchange]:
        taken = list(self._exchanges)
        self._exchanges.clear()
        return taken


def without_query(url: str) -> str:
    """A URL for history: SOSL `q=` and SOQL `q=` carry callers' numbers, so no query is kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "[query omitted]" if parts.query else "", ""))


def _is_phone_field(name: str) -> bool:
    lowered = name.lower()
    return "phone" in lowered or "e164" in lowered or name in _PHONE_FIELDS


def _mask(value: str) -> str:
    digits = [ch for ch in value if ch.isdigit()]
    return "***" + "".join(digits[-2:]) if digits else value


def _scrub(text: str) -> str:
    return _NUMBER_IN_TEXT.sub(lambda found: _mask(found.group()), text)


def _masked(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (_mask(str(value)) if value not in (None, "") else value)
            if isinstance(key, str) and _is_phone_field(key) and not isinstance(value, (dict, list))
            else _masked(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_masked(item) for item in node]
    if isinstance(node, str):
        return _scrub(node)
    return node


def masked_body(raw: Any) -> str:
    """A request or response body for history with every phone number masked."""
    return history.masked_body(raw, _masked, _scrub)


def build_session(sandbox_url: str | None, log: ExchangeLog, timeout_s: float) -> requests.Session:
    session = _TimeoutSession(timeout_s)
    # Proxies or CA bundles from the environment must not reroute or break a configured destination.
    session.trust_env = sandbox_url is None
    if sandbox_url is not None:
        target = urlsplit(sandbox_url).netloc
        session.mount("https://", ToLocalHTTP(target))
    session.hooks["response"].append(log.hook)
    return session


class _TimeoutSession(requests.Session):
    """simple-salesforce passes no timeout; a hung connection must not hold a worker forever."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)
