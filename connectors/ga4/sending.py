"""Sending one batch: claim each call's new events, validate if asked, POST, settle the ledger.

Claiming (read the calls' marks, decide, write `pending`/`prepared`) happens under the calls'
locks, for the whole batch at once, and is short; POSTs happen after the locks are released,
each preceded by turning its events' marks to `sending` (see ledger.py), in the same step that
marks the previous request's events `sent`. A `pending` mark of another claim is judged by that
claim's liveness: alive means its send is under way (`in_flight`, retry shortly); dead means it
is decided at once: `prepared` is sent now, `sending` is `in_doubt`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from connectors.base import (
    BatchResult,
    ConnectorContext,
    Delivered,
    DeliveryError,
    PermanentError,
    RetryableError,
    Skipped,
    classify_common,
    classify_status,
    excerpt,
    retry_after_seconds,
)
from connectors.ga4 import ledger as marks
from connectors.ga4.ledger import Confirmed, Ledger
from connectors.ga4.payload import EventDraft, EventRef, PackedRequest, pack_requests
from connectors.ga4.plan import (
    ALREADY_SENT,
    IN_DOUBT,
    LEVEL_NOTES,
    CallPlan,
    attribution_level,
    refusal,
    session_note,
)
from connectors.ga4.transport import COLLECT_PATH, DEBUG_PATH, MpTransport, MpTransportError

#: A `pending` mark whose claim cannot be judged (written without one, or read where liveness is
#: unknown) belongs to a send still under way while younger than this.
IN_FLIGHT_WINDOW: Final = timedelta(minutes=10)
#: When a delivery that met another claim's send under way tries again.
IN_FLIGHT_RETRY_S: Final = 30.0
Verdict = Literal["in_flight", "unsent", "in_doubt"]
_EVENT_INDEX: Final = re.compile(r"index: \[(\d+)\]")


def pending_verdict(mark: Mapping[str, Any], context: ConnectorContext, now: datetime) -> Verdict:
    """What another sender's `pending` mark means now (see ledger.py): its claim's liveness and
    phase decide; only a mark whose claim nobody can judge falls back to IN_FLIGHT_WINDOW.
    `send` and `preview` both judge through here."""
    writer = mark.get("claim")
    alive = context.claim_alive(str(writer)) if writer else None
    if alive:
        return "in_flight"
    if alive is False:
        # Its worker is gone or its work was handed on: the mark's phase says whether the
        # request could have left. A mark without a phase predates phases: in doubt.
        return "unsent" if mark.get("phase") == marks.PREPARED else "in_doubt"
    if now - datetime.fromisoformat(str(mark["at"])) < IN_FLIGHT_WINDOW:
        return "in_flight"
    return "in_doubt"


def in_flight_error(name: str) -> RetryableError:
    """What a delivery meeting another claim's send of `name` under way records (no attempt spent)."""
    return RetryableError(
        f"{name} of this call is being sent by another worker",
        reason="in_flight",
        retry_after=IN_FLIGHT_RETRY_S,
    )


@dataclass
class _Claim:
    plan: CallPlan
    new: list[EventDraft] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    doubtful: list[str] = field(default_factory=list)
    error: DeliveryError | None = None


@dataclass
class _Unsettled:
    """A request GA4 accepted whose events are not marked sent yet."""

    request: PackedRequest
    confirmed: dict[str, Confirmed]
    settled: bool = False


class BatchSender:
    def __init__(
        self,
        transport: MpTransport,
        context: ConnectorContext,
        *,
        validate_first: bool,
        resend_in_doubt: bool,
        now: datetime,
    ) -> None:
        self.transport = transport
        self.context = context
        self.ledger = Ledger(context)
        self.validate_first = validate_first
        self.resend_in_doubt = resend_in_doubt
        self.now = now

    def send(self, plans: Sequence[CallPlan], result: BatchResult) -> None:
        by_key: dict[str, list[CallPlan]] = defaultdict(list)
        for plan in plans:
            by_key[plan.key].append(plan)
        claims = self._claim(by_key)
        ready = {claim.plan.item.delivery_id: claim for claim in claims if claim.error is None and claim.new}
        requests: list[PackedRequest] = []
        # A request's confirmed events are marked sent together with the next request's start.
        unsettled: _Unsettled | None = None
        try:
            requests = pack_requests(self._refs(ready.values()))
            if self.validate_first and requests:
                self._validate(requests, ready, result)
                requests = pack_requests(self._refs(claim for claim in ready.values() if claim.error is None))
            for request in requests:
                unsettled = self._post(request, ready, result, unsettled)
        except BaseException:
            # The batch fails as a whole (the hub retries it): events never POSTed must not stay
            # pending, or they would end in doubt without ever having been sent.
            self._release_unattempted(requests, ready)
            raise
        finally:
            if unsettled is not None and not unsettled.settled:
                self._settle(unsettled, ready)
        for claim in claims:
            result.outcomes[claim.plan.item.delivery_id] = self._outcome(claim)

    # --- claiming ----------------------------------------------------------------------------

    def _claim(self, by_key: Mapping[str, list[CallPlan]]) -> list[_Claim]:
        """Every call's new events marked `pending` under this claim, all calls at once: their
        locks in one Redis call, their marks in one read, and one write when the locks go."""
        grouped = {key: [_Claim(plan) for plan in plans] for key, plans in by_key.items()}
        claims = [claim for group in grouped.values() for claim in group]
        try:
            with self.context.locks(grouped):
                self.ledger.refresh(grouped)
                for key, group in grouped.items():
                    claimed: set[str] = set()
                    for claim in group:
                        self._decide(key, claim, claimed)
                        if claim.error is None and claim.new:
                            claimed.update(draft.name for draft in claim.new)
                    if claimed:
                        self.ledger.claim(key, sorted(claimed), self.now, group[0].plan.item.claim)
        except RetryableError as exc:
            # A call's lock stayed busy: the batch tries again later, no attempt spent.
            for claim in claims:
                claim.error = exc
        except Exception as exc:  # noqa: BLE001
            # The state store failed: the batch's items fail (and are retried). Nothing was
            # claimed, since the write, when the locks go, is what failed.
            error = classify_common(exc)
            for claim in claims:
                claim.error = error
        return claims

    def _decide(self, key: str, claim: _Claim, claimed: set[str]) -> None:
        done: list[str] = []
        for draft in claim.plan.drafts:
            mark = self.ledger.marks(key).get(draft.name)
            if draft.name in claimed or (mark and mark.get("status") == marks.SENT):
                done.append(draft.name)
            elif mark and mark.get("status") == marks.PENDING:
                verdict = self._pending(mark)
                if verdict == "in_flight":
                    claim.error = in_flight_error(draft.name)
                    return
                if verdict == "in_doubt" and not self.resend_in_doubt:
                    claim.doubtful.append(draft.name)
                else:
                    claim.new.append(draft)
            else:
                claim.new.append(draft)
        if done:
            claim.notes.append(f"already sent earlier: {', '.join(done)}")
        if claim.doubtful:
            claim.notes.append(
                f"in doubt, not resent (an earlier send was never confirmed): {', '.join(claim.doubtful)}"
            )
        if claim.new:
            claim.error = refusal(claim.new, self.now)
            for draft in claim.new:
                claim.notes += draft.notes
            note = session_note(claim.new, self.now)
            if note:
                claim.notes.append(note)

    def _pending(self, mark: dict[str, Any]) -> Verdict:
        return pending_verdict(mark, self.context, self.now)

    @staticmethod
    def _refs(claims: Any) -> list[tuple[EventRef, EventDraft]]:
        return [
            (EventRef(claim.plan.item.delivery_id, claim.plan.key, draft.name), draft)
            for claim in claims
            for draft in claim.new
        ]

    def _release_unattempted(self, requests: list[PackedRequest], ready: dict[str, _Claim]) -> None:
        attempted = {
            (ref.call_key, ref.name) for request in requests if request.attempted for ref in request.refs
        }
        for claim in ready.values():
            unsent = [
                d.name
                for d in claim.new
                if (claim.plan.key, d.name) not in attempted and d.name not in claim.sent
            ]
            # Best effort while already failing: a store that is down leaves them in doubt.
            with contextlib.suppress(Exception):
                self.ledger.settle(claim.plan.key, self.now, released=unsent, claim=claim.plan.item.claim)

    # --- HTTP --------------------------------------------------------------------------------

    def _validate(self, requests: list[PackedRequest], ready: dict[str, _Claim], result: BatchResult) -> None:
        for request in requests:
            answer = self._exchange(DEBUG_PATH, request, ready, result)
            if answer is None:
                continue
            listed = answer.get("validationMessages", [])
            messages = (
                [message for message in listed if isinstance(message, dict)]
                if isinstance(listed, list)
                else []
            )
            blamed: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for message in messages:
                index = _EVENT_INDEX.search(str(message.get("description", "")))
                refs = request.refs[int(index.group(1)) : int(index.group(1)) + 1] if index else request.refs
                for ref in refs or request.refs:
                    blamed[ref.delivery_id].append(message)
            for delivery_id, found in blamed.items():
                text = "; ".join(f"{m.get('validationCode')}: {m.get('description')}" for m in found)
                self._fail(
                    ready[delivery_id],
                    PermanentError(
                        f"GA4 validation server refused the event: {text}",
                        reason="rejected",
                        details={"validationMessages": found},
                    ),
                )

    def _post(
        self,
        request: PackedRequest,
        ready: dict[str, _Claim],
        result: BatchResult,
        unsettled: _Unsettled | None,
    ) -> _Unsettled | None:
        """Start, POST and confirm one request; returns what is left to mark sent (this
        request's confirmed events, or `unsettled` when this request did not start)."""
        if all(ready[ref.delivery_id].error is not None for ref in request.refs):
            return unsettled
        if not self._start_sending(request, ready, unsettled):
            # `unsettled` was marked sent meanwhile, with this request's start or on its own.
            return None
        # Before the POST: from here on, GA4 may have the events, so they are never released.
        request.attempted = True
        if self._exchange(COLLECT_PATH, request, ready, result) is None:
            return None
        names: dict[str, list[str]] = defaultdict(list)
        times: dict[str, dict[str, datetime]] = defaultdict(dict)
        for ref in request.refs:
            names[ref.call_key].append(ref.name)
            claim = ready[ref.delivery_id]
            claim.sent.append(ref.name)
            draft = next((d for d in claim.new if d.name == ref.name), None)
            micros = draft.event.get("timestamp_micros") if draft else None
            if isinstance(micros, int):
                times[ref.call_key][ref.name] = datetime.fromtimestamp(micros / 1_000_000, UTC)
        return _Unsettled(request, {key: Confirmed(names[key], times[key]) for key in names})

    def _settle(self, unsettled: _Unsettled, ready: dict[str, _Claim]) -> None:
        """Mark a request's confirmed events sent on their own (no request follows it).

        Every call of the request in one step: one lock take, one read, one write (a request
        holds up to 25 calls' events, and each write is a transaction of the state store, on
        SQLite behind the one write lock). Only when a lock is busy is each call tried alone, so
        the busy call alone keeps its marks pending.
        """
        unsettled.settled = True
        try:
            self.ledger.advance({}, confirmed=unsettled.confirmed, now=self.now)
            return
        except RetryableError:
            pass
        for key, events in unsettled.confirmed.items():
            try:
                self.ledger.settle(key, self.now, sent=events.names, event_times=events.event_times)
            except RetryableError:
                # Sent but not recorded as such: left pending, they are never sent again.
                for ref in unsettled.request.refs:
                    if ref.call_key == key:
                        ready[ref.delivery_id].notes.append(f"{ref.name} sent, but its record stays pending")

    def _start_sending(
        self, request: PackedRequest, ready: dict[str, _Claim], unsettled: _Unsettled | None
    ) -> bool:
        """Turn the request's marks to `sending`; drop the events another claim took over. The
        previous request's confirmed events (`unsettled`) are marked sent in the same step.

        Returns whether anything is left to POST.
        """
        by_key: dict[str, list[EventRef]] = defaultdict(list)
        for ref in request.refs:
            if ready[ref.delivery_id].error is None:
                by_key[ref.call_key].append(ref)
        starting = {
            key: ([ref.name for ref in refs], ready[refs[0].delivery_id].plan.item.claim)
            for key, refs in by_key.items()
        }
        confirmed = unsettled.confirmed if unsettled is not None and not unsettled.settled else None
        try:
            mine = self.ledger.advance(starting, confirmed=confirmed, now=self.now)
            if unsettled is not None:
                unsettled.settled = True
        except Exception as exc:  # noqa: BLE001
            # A busy lock, or the state store failed: nothing was written. The previous request's
            # events are marked sent on their own; this request's stay `prepared` (unsent).
            if unsettled is not None and not unsettled.settled:
                self._settle(unsettled, ready)
            error = exc if isinstance(exc, RetryableError) else classify_common(exc)
            for delivery_id in dict.fromkeys(ref.delivery_id for refs in by_key.values() for ref in refs):
                self._fail(ready[delivery_id], error)
            return False
        keep = {(key, name) for key, names in mine.items() for name in names}
        for refs in by_key.values():
            for ref in refs:
                if (ref.call_key, ref.name) not in keep:
                    # Taken over by a newer claim while this one lapsed: that claim sends it.
                    self._fail(
                        ready[ref.delivery_id],
                        RetryableError(
                            f"{ref.name} of this call was handed to another worker",
                            reason="in_flight",
                            retry_after=IN_FLIGHT_RETRY_S,
                        ),
                    )
        events = request.body["events"]
        kept = [
            (ref, event)
            for ref, event in zip(request.refs, events, strict=True)
            if (ref.call_key, ref.name) in keep and ready[ref.delivery_id].error is None
        ]
        request.refs = [ref for ref, _ in kept]
        request.body = {**request.body, "events": [event for _, event in kept]}
        return bool(kept)

    def _exchange(
        self, path: str, request: PackedRequest, ready: dict[str, _Claim], result: BatchResult
    ) -> dict[str, Any] | None:
        """POST; the parsed JSON answer ({} when empty), or None after failing the request's items."""
        try:
            self.context.throttle()
            answer = self.transport.post(path, request.body)
        except RetryableError as exc:
            self._fail_request(request, ready, exc, release=True)
            return None
        except MpTransportError as exc:
            result.exchanges.append(exc.exchange)
            error: DeliveryError = RetryableError(
                f"no answer from GA4 ({exc.kind})"
                + (
                    "; the events may have arrived and will not be resent"
                    if exc.reached and path == COLLECT_PATH
                    else ""
                ),
                reason="timeout" if exc.timed_out else "unreachable",
            )
            # Only a request that may have reached /mp/collect keeps its events pending.
            self._fail_request(request, ready, error, release=not (exc.reached and path == COLLECT_PATH))
            return None
        result.exchanges.append(answer.exchange)
        if not answer.ok:
            error = classify_status(
                answer.status,
                f"GA4 answered HTTP {answer.status}: {excerpt(answer.text, 300)}",
                retry_after=retry_after_seconds(answer.headers.get("Retry-After")),
            )
            self._fail_request(request, ready, error, release=True)
            return None
        try:
            parsed = json.loads(answer.text) if answer.text.strip() else {}
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
        if path == DEBUG_PATH:
            # Google's validation server always answers a JSON object: anything else means the
            # events were not checked, which must not pass as "no problems".
            error = RetryableError(
                f"GA4's validation server answered HTTP {answer.status} with no readable result: "
                f"{excerpt(answer.text, 200)}",
                reason="unavailable",
            )
            self._fail_request(request, ready, error, release=True)
            return None
        # /mp/collect answers 2xx with an empty or meaningless body (Measurement Protocol docs).
        return {}

    def _fail_request(
        self, request: PackedRequest, ready: dict[str, _Claim], error: DeliveryError, *, release: bool
    ) -> None:
        for delivery_id in dict.fromkeys(ref.delivery_id for ref in request.refs):
            self._fail(ready[delivery_id], error, release=release)

    def _fail(self, claim: _Claim, error: DeliveryError, *, release: bool = True) -> None:
        if claim.error is None:
            claim.error = error
        if release:
            unsent = [draft.name for draft in claim.new if draft.name not in claim.sent]
            with contextlib.suppress(RetryableError):
                # A busy lock leaves them pending: in doubt later, never sent twice.
                self.ledger.settle(claim.plan.key, self.now, released=unsent, claim=claim.plan.item.claim)

    # --- outcome -----------------------------------------------------------------------------

    def _outcome(self, claim: _Claim) -> Delivered | Skipped | DeliveryError:
        if claim.error is not None:
            return claim.error
        if claim.sent:
            sent = [draft for draft in claim.plan.drafts if draft.name in claim.sent]
            level = attribution_level(claim.plan.client_id_kind, sent, self.now)
            ids = {
                "ga4_events": ",".join(claim.sent),
                "client_id_source": claim.plan.client_id_kind,
                "attribution": level,
            }
            return Delivered(ids, "; ".join([LEVEL_NOTES[level], *claim.notes]))
        return Skipped(IN_DOUBT if claim.doubtful else ALREADY_SENT, "; ".join(claim.notes))
