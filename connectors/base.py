"""The destination connector contract.

A connector builds its vendor client from settings, sends the records that mappings rendered for
a batch of calls, and says per call what happened. Everything a vendor client can raise goes
through `classify` into one of two errors that decide the delivery's fate:

- `RetryableError`: try again later (timeouts, 408, 429, 5xx, expired sessions, lock contention);
  `retry_after` honours the destination's own hint.
- `PermanentError`: retrying cannot help (validation, permissions, unknown fields); the delivery
  ends `rejected` with the destination's message and is replayable after a fix.

Connectors do not touch the database or Redis directly: a `ConnectorContext` gives them durable
per-destination state (record ids written before, GA4 events already sent), per-key locks shared
by all workers, and the destination-wide rate limiter.
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from flask import Blueprint, g, jsonify, request

from hub.core.errors import HubError
from hub.core.events import CallEvent
from hub.core.records import RenderedRecord
from hub.core.secrets import Secret

if TYPE_CHECKING:
    from connectors.hooks import AdminReport

EXCERPT_CHARS = 2000
#: Where every local fake (`connectors/<type>/fake/`) serves its control API: faults, recordings, reset.
FAKE_CONTROL_PREFIX = "/__fake__"
#: How many recent requests a fake keeps for inspection (counters cover the rest): a sandbox in a
#: long-running `hub run` stays bounded in memory.
FAKE_HISTORY_LIMIT = 1000


def add_fake_latency(app: Any, seconds: float = 0.0) -> None:
    """Make a fake answer its API requests `seconds` after they arrive (a real vendor's response
    time), its own work included: the answer waits for whatever is left of `seconds` once the
    request is handled, so a fake that takes 50 ms to handle a batch still answers in 200 ms.

    `POST /__fake__/latency {"seconds": 0.2}` changes it, `GET /__fake__/latency` reads it; the
    control API itself is never delayed. Register it after the fake's own `after_request` hooks:
    they then run once the answer is due (one logging when a request was answered sees it so).
    """
    setting = {"seconds": float(seconds)}

    def start() -> None:
        if not request.path.startswith(FAKE_CONTROL_PREFIX):
            g.fake_latency_from = time.monotonic()

    def delay(response: Any) -> Any:
        started = g.pop("fake_latency_from", None)
        if started is not None and setting["seconds"] > 0:
            left = setting["seconds"] - (time.monotonic() - started)
            if left > 0:
                time.sleep(left)
        return response

    control = Blueprint(f"{app.name}_latency", __name__, url_prefix=f"{FAKE_CONTROL_PREFIX}/latency")

    @control.get("")
    def read() -> Any:
        return jsonify(seconds=setting["seconds"])

    @control.post("")
    def change() -> Any:
        value = (request.get_json(silent=True) or {}).get("seconds")
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 60:
            return jsonify(error="seconds must be a number from 0 to 60"), 400
        setting["seconds"] = float(value)
        return jsonify(seconds=setting["seconds"])

    app.before_request(start)
    app.after_request(delay)
    app.register_blueprint(control)


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    text = (
        value
        if isinstance(value, str)
        else repr(value)
        if not isinstance(value, bytes)
        else value.decode("utf-8", "replace")
    )
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


# --- Errors ----------------------------------------------------------------------------------


class DeliveryError(HubError):
    retryable: ClassVar[bool]

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after
        self.details = dict(details or {})


class RetryableError(DeliveryError):
    retryable = True
    reason = "unavailable"


#: Retry reasons that come from inside the hub (its own rate limiter, a lock another worker
#: holds, a send still in flight, the share of a quota kept for other integrations): the
#: delivery waits and tries again without spending its retry budget, since the destination
#: was never asked.
LOCAL_RETRY_REASONS = frozenset({"throttled", "lock_timeout", "in_flight", "quota_reserve"})


class PermanentError(DeliveryError):
    retryable = False
    reason = "rejected"


# --- What a connector works on and returns ---------------------------------------------------


@dataclass(frozen=True)
class DeliveryItem:
    """One call to bring up to date at one destination."""

    delivery_id: str
    #: The call's current state: every version received so far, merged (newest known value wins).
    call: CallEvent
    #: The version whose arrival caused this delivery.
    trigger: CallEvent
    #: What the destination's mappings rendered for `call` (already filtered by events / when).
    records: Sequence[RenderedRecord]
    attempt: int = 1
    #: The hub's claim this send runs under (see `ConnectorContext.claim_alive`); None outside
    #: the hub's delivery jobs (previews, checks, tests).
    claim: str | None = None


@dataclass(frozen=True)
class Exchange:
    """One HTTP request a connector made, kept (trimmed) in the delivery's attempt history."""

    method: str
    url: str
    status: int | None
    request_body: str = ""
    response_body: str = ""
    duration_ms: float = 0.0
    #: The deliveries this request served; empty when it served the whole batch. An attempt's
    #: history keeps its own exchanges, and the batch-wide ones once per batch.
    delivery_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivered:
    #: Ids of what was written, e.g. {"Lead": "00Q...", "Task": "00T..."}: shown in history.
    external_ids: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Skipped:
    reason: str
    note: str = ""


@dataclass(frozen=True)
class Held:
    """Needs a person (e.g. several CRM records match the caller and the policy says hold)."""

    reason: str
    note: str = ""


ItemOutcome = Delivered | Skipped | Held | DeliveryError


@dataclass
class BatchResult:
    """Outcome per delivery id, plus the HTTP exchanges the batch made."""

    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedRequest:
    """A request `hub preview` shows instead of sending."""

    method: str
    url: str
    body: Any = None
    note: str = ""


@dataclass(frozen=True)
class FieldSchema:
    """One field of a destination object as the live API describes it (for `hub check --online`)."""

    name: str
    #: Vendor type in lower case: "string", "picklist", "double", "boolean", "date", "datetime",
    #: "phone", "email", "url", "textarea", "reference", "number", "enumeration"...
    type: str
    createable: bool = True
    updateable: bool = True
    #: Must be given on create (not nillable and no default).
    required: bool = False
    max_length: int | None = None
    #: Allowed values when the field only accepts a fixed list; None when free.
    picklist: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TargetSchema:
    target: str
    fields: Mapping[str, FieldSchema]
    #: Rules that are not per field (e.g. GA4: "at most 25 params per event").
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    problems: Sequence[str] = ()


# --- Settings and context --------------------------------------------------------------------


@dataclass(frozen=True)
class DestinationSettings:
    id: str
    type: str
    #: Credentials resolved from the environment; empty when the destination runs in sandbox mode.
    credentials: Mapping[str, Secret]
    #: Connector-specific options from hub.yaml (validated by the connector's `option_problems`).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Base URL of the local fake when in sandbox mode (or a test), else None for the real API.
    sandbox_url: str | None = None
    #: Requests per `rate_window_s` the whole hub may send (all workers together); None = no cap.
    rate_limit: int | None = None
    rate_window_s: float = 1.0
    timeout_s: float = 15.0

    @property
    def sandbox(self) -> bool:
        return self.sandbox_url is not None

    def secret(self, name: str) -> str | None:
        value = self.credentials.get(name)
        return value.reveal() if value else None


class ConnectorContext(Protocol):
    """Services the hub lends a connector; the real one is backed by the database and Redis."""

    def get_state(self, key: str) -> dict[str, Any] | None:
        """Durable per-destination state, e.g. key "call:<source>:<provider_call_id>"."""

    def get_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        """`get_state` of several keys at once (one query, not one per key): a batch reads the
        state of all its calls or callers before its loop over them."""

    def put_state(self, key: str, value: Mapping[str, Any]) -> None: ...

    def lock(self, key: str, timeout_s: float = 30.0) -> contextlib.AbstractContextManager[None]:
        """A lock shared by every worker (e.g. per caller number, so two calls make one Lead)."""

    def locks(self, keys: Iterable[str], timeout_s: float = 30.0) -> contextlib.AbstractContextManager[None]:
        """`lock` on every one of `keys` at once (a batch's callers): all are held inside the block,
        or RetryableError(reason="lock_timeout") once `timeout_s` passed with some held elsewhere,
        holding none. Each key excludes `lock` on the same key, and overlapping sets cannot
        deadlock."""

    def throttle(self, bucket: str = "default", cost: int = 1) -> None:
        """Wait (briefly) until the shared rate limiter allows `cost` requests, else raise
        RetryableError(reason="throttled", retry_after=...): the hub reschedules the delivery for
        when the quota allows, without spending an attempt, instead of holding the worker."""

    def claim_alive(self, claim: str) -> bool | None:
        """Whether the hub's claim `claim` still holds its work: its lease is being renewed and
        the work was not handed to another claim. None where the context cannot tell."""


class MemoryContext:
    """A process-local context for previews and checks: state reads come from a snapshot.

    `live_claims`, when given, are the claims it knows to be alive (every other one is not);
    without it, it cannot tell.
    """

    def __init__(
        self, state: Mapping[str, dict[str, Any]] | None = None, live_claims: set[str] | None = None
    ) -> None:
        self.state: dict[str, dict[str, Any]] = dict(state or {})
        self.live_claims = live_claims

    def get_state(self, key: str) -> dict[str, Any] | None:
        return self.state.get(key)

    def get_states(self, keys: Iterable[str]) -> dict[str, dict[str, Any] | None]:
        return {key: self.get_state(key) for key in keys}

    def put_state(self, key: str, value: Mapping[str, Any]) -> None:
        self.state[key] = dict(value)

    def lock(self, key: str, timeout_s: float = 30.0) -> contextlib.AbstractContextManager[None]:
        return self.locks([key], timeout_s)

    @contextlib.contextmanager
    def locks(self, keys: Iterable[str], timeout_s: float = 30.0) -> Iterator[None]:
        # Its state is its own snapshot, shared with no other worker: there is nobody to exclude.
        yield

    def throttle(self, bucket: str = "default", cost: int = 1) -> None:
        return None

    def claim_alive(self, claim: str) -> bool | None:
        return None if self.live_claims is None else claim in self.live_claims


# --- The contract ----------------------------------------------------------------------------


class Connector(ABC):
    type: ClassVar[str]
    #: Most calls one `send` takes; the hub groups pending deliveries into batches of this size.
    max_batch: ClassVar[int] = 50
    #: Seconds the hub may wait for a fuller batch once a call is due (hub.yaml's
    #: `batch_window_s` overrides): worth it where a batch costs about what one call costs.
    batch_window_s: ClassVar[float] = 0.0
    #: Credential names the connector reads (all `${ENV}` references in hub.yaml).
    credential_names: ClassVar[tuple[str, ...]] = ()
    #: Those it cannot log in without (the rest are optional).
    required_credentials: ClassVar[tuple[str, ...]] = ()
    #: The destination's own published limits, used when hub.yaml sets none:
    #: bucket -> (requests, window seconds); "default" covers every request.
    default_rate_limits: ClassVar[dict[str, tuple[int, float]]] = {}
    #: Read-only reports the admin API serves for this connector's destinations (see connectors.hooks).
    admin_reports: ClassVar[tuple[AdminReport, ...]] = ()

    def __init__(self, settings: DestinationSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @classmethod
    def missing_credentials(cls, present: frozenset[str]) -> list[str]:
        """Credential names still needed when only `present` are set (half a set is an error)."""
        return [name for name in cls.required_credentials if name not in present]

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Problems with this connector's hub.yaml options (unknown keys, bad values)."""
        return []

    @classmethod
    def sandbox_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Problems with the destination's `sandbox:` settings (how its local fake is shaped)."""
        return [f"the {cls.type} sandbox takes no settings"] if options else []

    @classmethod
    def option_notes(cls, options: Mapping[str, Any]) -> list[str]:
        """Warnings about options that work but should change (a login flow being retired)."""
        return []

    @classmethod
    def mapping_problems(cls, record_target: str, options: Mapping[str, Any]) -> list[str]:
        """Problems with a mapping meant for this connector (unknown target, bad options)."""
        return []

    @classmethod
    def field_problems(cls, target: str, field_names: Sequence[str]) -> list[tuple[str, str]]:
        """(field, problem) for mapping field names this destination refuses (reserved, too long)."""
        return []

    @abstractmethod
    def send(self, items: Sequence[DeliveryItem]) -> BatchResult:
        """Write every item; one item's failure belongs in its outcome, not in an exception."""

    @abstractmethod
    def preview(self, item: DeliveryItem) -> list[PlannedRequest]:
        """The requests `send` would make for this item, without making them."""

    @abstractmethod
    def check(self) -> CheckResult:
        """Prove the credentials work (a cheap authenticated read)."""

    def describe(self, target: str) -> TargetSchema | None:
        """The live schema of a mapping target, for `hub check --online`; None when not describable."""
        return None

    def classify(self, exc: Exception) -> DeliveryError:
        """Vendor exception -> hub error. Subclasses handle their client's exceptions first."""
        return classify_common(exc)

    def deliver(self, items: Sequence[DeliveryItem]) -> BatchResult:
        """`send` with error translation: an exception fails every item of the batch with its class."""
        try:
            result = self.send(items)
        except Exception as exc:  # noqa: BLE001
            # Translated, stored per delivery and retried or rejected: never swallowed.
            error = exc if isinstance(exc, DeliveryError) else self.classify(exc)
            return BatchResult(outcomes={item.delivery_id: error for item in items})
        missing = [item.delivery_id for item in items if item.delivery_id not in result.outcomes]
        for delivery_id in missing:
            result.outcomes[delivery_id] = RetryableError(
                "connector returned no outcome for this delivery", reason="no_outcome"
            )
        return result


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def classify_status(status: int, message: str, *, retry_after: float | None = None) -> DeliveryError:
    """The common HTTP status policy: 408/425/429/5xx retry, other 4xx are permanent."""
    if status == 429:
        return RetryableError(message, reason="rate_limited", retry_after=retry_after)
    if status in (408, 425) or status >= 500:
        return RetryableError(message, reason="unavailable", retry_after=retry_after)
    if status in (401, 403):
        return PermanentError(message, reason="unauthorized")
    return PermanentError(message, reason="rejected")


def classify_common(exc: Exception) -> DeliveryError:
    """Network-level failures every HTTP client shares."""
    import requests

    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return RetryableError(f"timed out: {exc}", reason="timeout")
    if isinstance(exc, (requests.ConnectionError, ConnectionError)):
        return RetryableError(f"connection failed: {exc}", reason="unreachable")
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        response = exc.response
        return classify_status(
            response.status_code,
            f"HTTP {response.status_code}: {excerpt(response.text, 500)}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    # An unexpected exception is a bug in the connector or an answer we do not understand:
    # retrying may help (a transient oddity) and exhausting retries leaves it visible as failed.
    return RetryableError(f"{type(exc).__name__}: {exc}", reason="connector_error")
