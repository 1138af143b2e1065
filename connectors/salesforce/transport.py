"""The HTTP session simple-salesforce uses: sandbox redirection and a record of every exchange.

simple-salesforce only ever builds `https://<instance>.salesforce.com/...` URLs, and every call it
makes (logins included) goes through the `requests.Session` it is given. So sandbox mode mounts an
adapter that sends those requests to the local fake over plain HTTP, and a response hook hands
each exchange to the connectors' shared recorder (masked) for the delivery's history.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from connectors.exchanges import ExchangeRecorder, without_query

#: Logins carry passwords and hand out tokens: their bodies never enter the history.
_SECRET_PATHS = ("/services/oauth2/token", "/services/Soap/")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")

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
    """Records each response of the session (masked) and reports the API usage it announces."""

    def __init__(self, recorder: ExchangeRecorder, on_usage: UsageObserver | None = None) -> None:
        self.recorder = recorder
        self.on_usage = on_usage

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        url = request.url or ""
        secret = any(path in url for path in _SECRET_PATHS)
        self.recorder.record(
            request.method or "",
            without_query(url),
            response.status_code,
            "[credentials omitted]" if secret else request.body,
            "[session omitted]" if secret and response.ok else response.text,
            duration_ms=response.elapsed.total_seconds() * 1000,
        )
        usage = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage and self.on_usage is not None:
            self.on_usage(int(usage.group(1)), int(usage.group(2)))


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
