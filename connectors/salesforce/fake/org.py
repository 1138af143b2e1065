"""The fake org's state beside its records: credentials, sessions, API usage, faults, request log."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FAKE_HISTORY_LIMIT
from connectors.salesforce.fake.errors import FakeError
from connectors.salesforce.fake.store import Store

ORG_ID = "00D000000000001AAA"

_FAULTS: dict[str, tuple[int, str]] = {
    "INVALID_SESSION_ID": (401, "Session expired or invalid"),
    "REQUEST_LIMIT_EXCEEDED": (403, "TotalRequests Limit exceeded."),
    "UNABLE_TO_LOCK_ROW": (400, "unable to obtain exclusive access to this record or 1 records"),
    "SERVER_UNAVAILABLE": (503, "Server temporarily unavailable, please retry"),
    "INSUFFICIENT_ACCESS": (403, "insufficient access rights on cross-reference id"),
}


@dataclass
class Fault:
    """A whole-request failure the next matching API requests get (`times` of them)."""

    code: str
    times: int = 1
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path is None or self.path in path
        )


@dataclass
class Credentials:
    """What the fake accepts; a None value accepts anything (sandbox mode needs no real secrets)."""

    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    #: PEM public key (or X.509 certificate, as uploaded to a connected app) the JWT bearer
    #: assertion must verify against; None skips the signature check (sandbox mode).
    jwt_public_key: str | None = None


@dataclass
class Org:
    credentials: Credentials = field(default_factory=Credentials)
    instance_host: str = "callhub-fake.my.salesforce.com"
    version: str = "64.0"
    #: SOAP API login() is disabled by default in orgs created since its retirement was announced
    #: (help article 005132110); an admin may enable it (API 31.0-64.0, until Summer '27).
    soap_login: bool = False
    #: State and Country/Territory picklists on, and the admin's custom fields (sandbox: key).
    picklists: bool = False
    custom: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    daily_limit: int = 100_000
    api_used: int = 0
    store: Store = field(default_factory=Store)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    #: The most recent requests; `requests` counts every one.
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FAKE_HISTORY_LIMIT))
    requests: int = 0
    logins: int = 0
    #: Puts the org's standing data (users, campaigns) into a fresh store, at start and on reset.
    seed: Callable[[Store], None] | None = None

    def new_session(self) -> str:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(24)}"
        with self.lock:
            self.sessions.add(token)
            self.logins += 1
        return token

    def authorize(self, header: str | None) -> None:
        token = (header or "").removeprefix("Bearer ").removeprefix("OAuth ").strip()
        with self.lock:
            if token not in self.sessions:
                raise FakeError("INVALID_SESSION_ID", "Session expired or invalid", status=401)

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def count_request(self, method: str, path: str) -> None:
        """Charge one API call against the daily allocation, refusing it past the limit."""
        with self.lock:
            if self.api_used >= self.daily_limit:
                raise FakeError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", status=403)
            self.api_used += 1
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        if fault is not None:
            if fault.code == "INVALID_SESSION_ID":
                self.expire_sessions()
            status, message = _FAULTS.get(fault.code, (400, fault.code))
            raise FakeError(fault.code, message, status=status)

    def limit_info(self) -> str:
        return f"api-usage={self.api_used}/{self.daily_limit}"

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.log.append({"method": method, "path": path, "status": status})

    def reset(self) -> None:
        """A new org in the same database (on file for `hub run`, so the reset outlives a restart)."""
        records = self.store.db
        records.clear()
        store = Store(picklists=self.picklists, custom=self.custom, records=records)
        store.duplicate_key = self.store.duplicate_key
        if self.seed is not None:
            self.seed(store)
        with self.lock:
            self.store = store
            self.faults.clear()
            self.log.clear()
            self.requests = 0
            self.api_used = 0
            self.logins = 0
