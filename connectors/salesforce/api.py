"""The few REST calls the connector makes, through simple-salesforce, with the hub's guards around each.

simple-salesforce is imported when the first request is made, not with the connector: its package
loads zeep and lxml (~10 MB), which processes that only validate hub.yaml or serve the sandbox
fake (web, `hub run`) would hold for nothing.

Every request: waits for the hub-wide rate limiter, refuses to start once the hub's share of the
org's daily allocation is used up, and, when Salesforce says the session expired, logs in again
and retries once. The client is built in direct-session mode so simple-salesforce never loops on
re-logins by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from connectors.base import ConnectorContext, DestinationSettings, RetryableError
from connectors.exchanges import ExchangeRecorder
from connectors.salesforce import auth
from connectors.salesforce.options import Options
from connectors.salesforce.transport import ExchangeLog, build_session

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

T = TypeVar("T")
COLLECTION_MAX: Final = 200
USAGE_STATE_KEY: Final = "api_usage"


class UsageBudget:
    """The hub's share of the org's daily API allocation, from `Sforce-Limit-Info` readings."""

    def __init__(self, reserve_share: float, backoff_s: float) -> None:
        self.reserve_share = reserve_share
        self.backoff_s = backoff_s
        self.used = 0
        self.total = 0
        self.read_at = 0.0

    def observe(self, used: int, total: int) -> None:
        self.used, self.total, self.read_at = used, total, time.time()

    def load(self, state: dict[str, Any] | None) -> None:
        if state and float(state.get("read_at", 0)) > self.read_at:
            self.used, self.total, self.read_at = (
                int(state["used"]),
                int(state["total"]),
                float(state["read_at"]),
            )

    def snapshot(self) -> dict[str, Any]:
        return {"used": self.used, "total": self.total, "read_at": self.read_at}

    def check(self) -> None:
        """Raise RetryableError while the last reading says the hub's share is spent."""
        if not self.total:
            return
        allowed = self.total * (1 - self.reserve_share)
        age = time.time() - self.read_at
        # The allocation is a rolling 24 h window: after the back-off, one request re-reads it.
        if self.used >= allowed and age < self.backoff_s:
            raise RetryableError(
                f"Salesforce API usage {self.used}/{self.total} reached the hub's share "
                f"({1 - self.reserve_share:.0%}); leaving the rest to other integrations",
                reason="quota_reserve",
                retry_after=self.backoff_s - age,
            )


class SalesforceApi:
    def __init__(self, settings: DestinationSettings, context: ConnectorContext, options: Options) -> None:
        self.settings = settings
        self.context = context
        self.options = options
        self.budget = UsageBudget(options.reserve_share, options.limit_backoff_s)
        secrets = [settings.secret(name) or "" for name in auth.SECRET_CREDENTIALS]
        self.log = ExchangeLog(ExchangeRecorder(secrets=secrets), on_usage=self.budget.observe)
        self.session = build_session(settings.sandbox_url, self.log, settings.timeout_s)
        self._client: Salesforce | None = None

    # --- plumbing ---------------------------------------------------------------------------

    def client(self) -> Salesforce:
        if self._client is None:
            self._client = self._login()
        return self._client

    def _login(self) -> Salesforce:
        from simple_salesforce.api import Salesforce

        session = auth.login(self.settings, self.session, self.options.domain, self.options.api_version)
        return Salesforce(
            session_id=session.session_id,
            instance=session.instance,
            session=self.session,
            version=self.options.api_version,
        )

    def call(self, request: Callable[[Salesforce], T]) -> T:
        """One API request with the budget, the shared rate limit and one re-login on expiry."""
        from simple_salesforce.exceptions import SalesforceExpiredSession

        self.budget.check()
        self.context.throttle("default", 1)
        client = self.client()
        try:
            return request(client)
        except SalesforceExpiredSession as exc:
            if not _is_invalid_session(exc.content):
                raise
            self._client = client = self._login()
            self.context.throttle("default", 1)
            return request(client)

    def load_usage(self) -> None:
        self.budget.load(self.context.get_state(USAGE_STATE_KEY))

    def save_usage(self) -> None:
        if self.budget.total:
            self.context.put_state(USAGE_STATE_KEY, self.budget.snapshot())

    # --- requests ---------------------------------------------------------------------------

    def search(self, sosl: str) -> list[dict[str, Any]]:
        result = self.call(lambda sf: sf.search(sosl))
        return list((result or {}).get("searchRecords") or [])

    def query(self, soql: str) -> list[dict[str, Any]]:
        result = self.call(lambda sf: sf.query_all(soql))
        return list(result.get("records") or [])

    def create(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections create, 200 records a request; SaveResults in order."""
        return self._collections("POST", "composite/sobjects", records)

    def update(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._collections("PATCH", "composite/sobjects", records)

    def upsert(self, sobject: str, field: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._collections("PATCH", f"composite/sobjects/{sobject}/{field}", records)

    def _collections(self, method: str, path: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), COLLECTION_MAX):
            chunk = list(records[start : start + COLLECTION_MAX])
            answer = self.call(_collection_request(method, path, {"allOrNone": False, "records": chunk}))
            results.extend(answer or [])
        return results

    def describe(self, sobject: str) -> dict[str, Any]:
        return dict(self.call(lambda sf: sf.restful(f"sobjects/{sobject}/describe")) or {})

    def limits(self) -> dict[str, Any]:
        return dict(self.call(lambda sf: sf.limits()) or {})


def format_soql(query: str, *args: Any, **kwargs: Any) -> str:
    """simple-salesforce's SOQL formatting: each value quoted and escaped for its type."""
    from simple_salesforce.format import format_soql as vendor_format_soql

    return str(vendor_format_soql(query, *args, **kwargs))


def _collection_request(method: str, path: str, payload: dict[str, Any]) -> Callable[[Salesforce], Any]:
    return lambda sf: sf.restful(path, method=method, json=payload)


def _is_invalid_session(content: Any) -> bool:
    entries = content if isinstance(content, list) else [content]
    return any(isinstance(e, dict) and e.get("errorCode") == "INVALID_SESSION_ID" for e in entries)
