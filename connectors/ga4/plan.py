"""One delivery item -> the GA4 events it should produce, with the destination's policies applied.

Pure: no state, no HTTP. `send`, `preview` and `hub ga4 validate` all plan through here, so what
is previewed and validated is exactly what would be sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from connectors.base import DeliveryError, DeliveryItem, ItemOutcome, PermanentError, Skipped
from connectors.ga4 import limits
from connectors.ga4.identity import normalize_client_id, pseudonymous_client_id
from connectors.ga4.ledger import call_key
from connectors.ga4.options import Ga4Options
from connectors.ga4.payload import EventDraft, MappingFault, draft_event
from hub.core import phones

# Reason slugs this connector gives Skipped outcomes (see docs/destinations/ga4.md).
NO_CLIENT_ID: Final = "no_ga_client_id"
NO_EVENTS: Final = "no_events"
ALREADY_SENT: Final = "already_sent"
IN_DOUBT: Final = "in_doubt"
# How the client id of a delivered item was obtained (Delivered.external_ids["client_id"]).
CLIENT_ID_GA: Final = "ga"
CLIENT_ID_PSEUDONYMOUS: Final = "pseudonymous"
# What GA4 can join a delivered call to (Delivered.external_ids["attribution"]).
SESSION_ATTRIBUTED: Final = "session"
USER_ONLY: Final = "user"
PSEUDONYMOUS: Final = "pseudonymous"
LEVEL_NOTES: Final = {
    SESSION_ATTRIBUTED: "session-attributed: the visitor's client id and session id, sent in time",
    USER_ONLY: "user-only: the visitor's client id without a usable session id (no session campaign)",
    PSEUDONYMOUS: "unattributed: a client id derived from the caller (no web visitor, no session)",
}

#: GA4 joins an MP event to the web session only when sent within 24 h of the session start.
SESSION_WINDOW: Final = timedelta(hours=24)
# Engagement time makes the event count as engaged and show in Realtime; 1 ms is Google's example.
DEFAULT_ENGAGEMENT_MSEC: Final = 1


@dataclass(frozen=True)
class CallPlan:
    item: DeliveryItem
    key: str
    drafts: tuple[EventDraft, ...] = ()
    client_id_kind: str = CLIENT_ID_GA
    #: Set when the item ends before sending (skipped or refused).
    outcome: ItemOutcome | None = None


class Planner:
    def __init__(self, options: Ga4Options, client_id_salt: str | None) -> None:
        self.options = options
        self._salt = client_id_salt

    def plan(self, item: DeliveryItem) -> CallPlan:
        key = call_key(item.call)
        if not item.records:
            return CallPlan(item, key, outcome=Skipped(NO_EVENTS, "no GA4 mapping rendered for this call"))
        try:
            drafts = [draft_event(record) for record in item.records]
        except MappingFault as exc:
            return CallPlan(item, key, outcome=PermanentError(str(exc), reason="mapping"))
        client_id = next((d.envelope["client_id"] for d in drafts if d.envelope.get("client_id")), None)
        kind = CLIENT_ID_GA
        if client_id is None:
            derived = self._pseudonymous_id(item)
            if isinstance(derived, (Skipped, PermanentError)):
                return CallPlan(item, key, outcome=derived)
            client_id, kind = derived, CLIENT_ID_PSEUDONYMOUS
        finished = tuple(
            self._apply_policies(draft, item, normalize_client_id(str(client_id))) for draft in drafts
        )
        return CallPlan(item, key, finished, kind)

    def _pseudonymous_id(self, item: DeliveryItem) -> str | Skipped | PermanentError:
        if self.options.no_client_id != "pseudonymous":
            return Skipped(NO_CLIENT_ID, "the call carries no GA client id (no_client_id: skip)")
        number = phones.e164(item.call.caller.number)
        if number is None:
            return Skipped(NO_CLIENT_ID, "no GA client id and no caller number to derive a pseudonymous one")
        if not self._salt:
            return PermanentError(
                "no_client_id: pseudonymous needs the client_id_salt credential", reason="config"
            )
        return pseudonymous_client_id(number, self._salt)

    def _apply_policies(self, draft: EventDraft, item: DeliveryItem, client_id: str) -> EventDraft:
        envelope: dict[str, Any] = {**draft.envelope, "client_id": client_id}
        if "user_data" in envelope and not self.options.user_data_allowed(item.call.source):
            del envelope["user_data"]
        if self.options.consent:
            # A consent state the mapping read from the call is more specific than the default.
            envelope["consent"] = {**self.options.consent, **envelope.get("consent", {})}
        if self.options.non_personalized_ads is not None:
            envelope.setdefault("non_personalized_ads", self.options.non_personalized_ads)
        event = dict(draft.event)
        params = dict(event.get("params", {}))
        params.setdefault("engagement_time_msec", DEFAULT_ENGAGEMENT_MSEC)
        event["params"] = params
        if "timestamp_micros" not in event:
            # Without it GA4 dates the event at receipt: a retry days later would land on the wrong day.
            moment = item.call.call.started_at or item.trigger.occurred_at
            event["timestamp_micros"] = micros(moment)
        return replace(draft, envelope=envelope, event=event)


def micros(moment: datetime) -> int:
    return (moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def refusal(drafts: Sequence[EventDraft], now: datetime) -> DeliveryError | None:
    """The error refusing these events before sending, None when they respect every limit."""
    found: list[tuple[str, limits.Problem]] = []
    for draft in drafts:
        found += [
            (draft.name, p) for p in limits.check_body({**draft.envelope, "events": [draft.event]}, now)
        ]
    if not found:
        return None
    details = {"problems": [{"event": name, **problem.as_message()} for name, problem in found]}
    message = "; ".join(f"{name}: {problem.description}" for name, problem in found)
    if any(problem.code == limits.TOO_OLD for _, problem in found):
        # Nothing a mapping fix can change: the call is simply too old for the Measurement Protocol.
        return PermanentError(
            f"outside the 72-hour backdating window: {message}", reason="too_old", details=details
        )
    return PermanentError(message, reason="mapping", details=details)


def attribution_level(kind: str, drafts: Sequence[EventDraft], now: datetime) -> str:
    """What GA4 can join these events to: the web session, the visitor only, or no visitor."""
    if kind != CLIENT_ID_GA:
        return PSEUDONYMOUS
    joined = all(
        draft.event.get("params", {}).get("session_id") not in (None, "")
        and not _past_session_window(draft, now)
        for draft in drafts
    )
    return SESSION_ATTRIBUTED if drafts and joined else USER_ONLY


def session_note(drafts: Sequence[EventDraft], now: datetime) -> str | None:
    """A warning when a session id is sent too late for GA4 to join the web session."""
    late = [
        draft.name
        for draft in drafts
        if draft.event.get("params", {}).get("session_id") is not None and _past_session_window(draft, now)
    ]
    if not late:
        return None
    return f"{', '.join(late)} sent more than 24 h after the call: GA4 will not join it to the web session"


def _past_session_window(draft: EventDraft, now: datetime) -> bool:
    """Whether `now` is more than SESSION_WINDOW after the event's own timestamp."""
    return now - datetime.fromtimestamp(draft.event["timestamp_micros"] / 1_000_000, UTC) > SESSION_WINDOW
