"""The GA4 destination: phone calls as Measurement Protocol events, at most once per call."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import requests

from connectors.base import (
    BatchResult,
    CheckResult,
    Connector,
    ConnectorContext,
    DeliveryError,
    DeliveryItem,
    DestinationSettings,
    FieldSchema,
    PermanentError,
    PlannedRequest,
    TargetSchema,
    classify_common,
    classify_status,
)
from connectors.ga4 import limits
from connectors.ga4.coverage import COVERAGE_REPORT
from connectors.ga4.ledger import PENDING, Ledger
from connectors.ga4.options import Ga4Options, option_problems, parse_options
from connectors.ga4.payload import EventDraft, EventRef, pack_requests
from connectors.ga4.plan import CallPlan, Planner, refusal
from connectors.ga4.sending import BatchSender, in_flight_error, pending_verdict
from connectors.ga4.transport import COLLECT_PATH, DEBUG_PATH, MpTransport, MpTransportError
from connectors.hooks import AdminReport

#: Stand-ins the sandbox accepts when a destination has no credentials.
SANDBOX_MEASUREMENT_ID: Final = "G-SANDBOX0000"
_MEASUREMENT_ID: Final = re.compile(r"^G-[A-Z0-9]{4,}$")

Clock = Callable[[], datetime]


class GA4Connector(Connector):
    type: ClassVar[str] = "ga4"
    # One MP request carries up to 25 events; a call rarely yields more than two.
    max_batch: ClassVar[int] = 25
    credential_names: ClassVar[tuple[str, ...]] = (
        "measurement_id",
        "api_secret",
        "property_id",
        "service_account_json",
        "client_id_salt",
    )
    #: The Data API ones (property_id, service_account_json) serve `hub ga4 report` only.
    required_credentials: ClassVar[tuple[str, ...]] = ("measurement_id", "api_secret")
    admin_reports: ClassVar[tuple[AdminReport, ...]] = (COVERAGE_REPORT,)

    def __init__(
        self,
        settings: DestinationSettings,
        context: ConnectorContext,
        *,
        clock: Clock | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(settings, context)
        self.options: Ga4Options = parse_options(settings.options)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.transport = mp_transport(settings, self.options, session)
        self.planner = Planner(self.options, settings.secret("client_id_salt"))

    # --- hub.yaml and mapping checks ---------------------------------------------------------

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        return option_problems(options)

    @classmethod
    def field_problems(cls, target: str, field_names: Sequence[str]) -> list[tuple[str, str]]:
        """GA4 drops a whole event for a bad parameter name: refuse it when the mapping loads."""
        problems: list[tuple[str, str]] = []
        for field in field_names:
            group, _, name = field.partition(".")
            if group == "params":
                limit, names, what = limits.MAX_PARAM_NAME_CHARS, limits.RESERVED_PARAM_NAMES, "parameter"
                prefixes: tuple[str, ...] = limits.RESERVED_PREFIXES
            elif group == "user_properties":
                limit, names, what = (
                    limits.MAX_USER_PROPERTY_NAME_CHARS,
                    limits.RESERVED_USER_PROPERTY_NAMES,
                    "user property",
                )
                prefixes = limits.RESERVED_USER_PROPERTY_PREFIXES
            else:
                continue
            verdict = limits.name_problem(name, limit)
            if verdict is not None:
                problems.append((field, f"GA4 {what} name {name!r} {verdict[1]}"))
            elif limits.reserved(name, names, prefixes):
                problems.append(
                    (
                        field,
                        f"GA4 reserves the {what} name {name!r} (reserved names and the prefixes "
                        f"{', '.join(prefixes)}: {limits.RESERVED_URL})",
                    )
                )
        return problems

    @classmethod
    def mapping_problems(cls, record_target: str, options: Mapping[str, Any]) -> list[str]:
        problems = [f"options.{key}: GA4 mappings take no options" for key in options]
        verdict = limits.name_problem(record_target, limits.MAX_EVENT_NAME_CHARS)
        if verdict is not None:
            problems.append(f"event {record_target!r}: a GA4 event name {verdict[1]}")
        elif limits.reserved(record_target, limits.RESERVED_EVENT_NAMES):
            problems.append(
                f"event {record_target!r}: reserved by GA4 ({limits.RESERVED_URL}); choose another name"
            )
        return problems

    # --- sending -----------------------------------------------------------------------------

    def send(self, items: Sequence[DeliveryItem]) -> BatchResult:
        result = BatchResult()
        missing = self._missing_credentials()
        if missing:
            error = PermanentError(f"missing GA4 credentials: {', '.join(missing)}", reason="config")
            return BatchResult(outcomes={item.delivery_id: error for item in items})
        plans = []
        for item in items:
            plan = self.planner.plan(item)
            if plan.outcome is not None:
                result.outcomes[item.delivery_id] = plan.outcome
            else:
                plans.append(plan)
        sender = BatchSender(
            self.transport,
            self.context,
            validate_first=self.options.validate_before_send,
            resend_in_doubt=self.options.resend_in_doubt,
            now=self.clock(),
        )
        sender.send(plans, result)
        return result

    def preview(self, item: DeliveryItem) -> list[PlannedRequest]:
        """The collect requests `send` would make now; [] when the item would be skipped.

        Raises the DeliveryError `send` would record when the mappings cannot make an event, or
        (`in_flight`) while another claim's send of the call is under way; another claim's
        `pending` marks are judged as `send` judges them (its liveness, then its phase). A limit
        the event breaks (too old, too long) is named in the request's note instead.
        """
        plan = self.planner.plan(item)
        if isinstance(plan.outcome, DeliveryError):
            raise plan.outcome
        if plan.outcome is not None:
            return []
        drafts = self._unsent(plan)
        if not drafts:
            return []
        error = refusal(drafts, self.clock())
        note = "checked at /debug/mp/collect first" if self.options.validate_before_send else ""
        if error is not None:
            # The body still shows what the mappings make of the call; the note says why it
            # would not leave the hub.
            note = f"refused before sending ({error.reason}): {error.message}"
        packed = pack_requests(
            [(EventRef(item.delivery_id, plan.key, draft.name), draft) for draft in drafts]
        )
        return [
            PlannedRequest("POST", self.transport.public_url(COLLECT_PATH), request.body, note)
            for request in packed
        ]

    def _unsent(self, plan: CallPlan) -> list[EventDraft]:
        """The drafts `send` would POST now, judging other claims' marks as `send` does; raises
        the RetryableError `send` records while another claim's send is under way."""
        marks = Ledger(self.context).marks(plan.key)
        now = self.clock()
        drafts = []
        for draft in plan.drafts:
            mark = marks.get(draft.name)
            if mark is None:
                drafts.append(draft)
            elif mark.get("status") == PENDING:
                verdict = pending_verdict(mark, self.context, now)
                if verdict == "in_flight":
                    raise in_flight_error(draft.name)
                if verdict == "unsent" or self.options.resend_in_doubt:
                    drafts.append(draft)
        return drafts

    # --- checks ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Reachability of the MP (it cannot prove an api_secret) and, when set up, the Data API."""
        problems = [f"missing credential {name}" for name in self._missing_credentials()]
        measurement_id = self.transport.measurement_id
        if measurement_id and not _MEASUREMENT_ID.match(measurement_id):
            problems.append(f"measurement_id {measurement_id!r} does not look like G-XXXXXXXX")
        if self.options.no_client_id == "pseudonymous" and not self.settings.secret("client_id_salt"):
            problems.append("no_client_id: pseudonymous needs the client_id_salt credential")
        probe = {"client_id": "1.1", "events": [{"name": "hub_check", "params": {"engagement_time_msec": 1}}]}
        try:
            answer = self.transport.post(DEBUG_PATH, probe)
            if not answer.ok:
                problems.append(f"validation server answered HTTP {answer.status}")
        except MpTransportError as exc:
            problems.append(f"validation server unreachable ({exc.kind})")
        problems += self._data_api_problems()
        detail = (
            f"Measurement Protocol reachable at {self.transport.base_url}; the api_secret can only be "
            "proven by events appearing in GA4 (see `hub ga4 report`)"
        )
        return CheckResult(
            ok=not problems, detail=detail if not problems else "; ".join(problems), problems=problems
        )

    def _data_api_problems(self) -> list[str]:
        from connectors.ga4.data_api import probe_data_api

        if not self.settings.sandbox and not self.settings.secret("property_id"):
            return []
        try:
            probe_data_api(self.settings)
        except Exception as exc:  # noqa: BLE001
            # Any failure of the probe is the check's answer, shown to the person running it.
            error = self.classify(exc)
            return [f"Data API: {error.reason}: {error.message}"]
        return []

    def _missing_credentials(self) -> list[str]:
        if self.settings.sandbox:
            return []
        return [name for name in ("measurement_id", "api_secret") if not self.settings.secret(name)]

    def describe(self, target: str) -> TargetSchema | None:
        """GA4 has no per-event schema; the limits every event must respect, as a schema."""
        text, number = "string", "number"
        # client_id is not required here: a call without one follows the no_client_id policy.
        fields = {
            name: FieldSchema(name, kind, max_length=length, picklist=choices)
            for name, kind, length, choices in (
                ("client_id", text, None, None),
                ("user_id", text, None, None),
                ("non_personalized_ads", "boolean", None, None),
                ("timestamp_micros", "integer", None, None),
                ("params.engagement_time_msec", "integer", None, None),
                ("params.value", number, None, None),
                ("params.currency", text, 3, None),
                ("params.*", text, limits.MAX_PARAM_VALUE_CHARS, None),
                ("user_data.sha256_phone_number", text, 64, None),
                ("user_data.sha256_email_address", text, 64, None),
                ("consent.ad_user_data", "picklist", None, tuple(sorted(limits.CONSENT_VALUES))),
                ("consent.ad_personalization", "picklist", None, tuple(sorted(limits.CONSENT_VALUES))),
                ("user_properties.*", text, limits.MAX_USER_PROPERTY_VALUE_CHARS, None),
            )
        }
        return TargetSchema(target, fields, notes=_LIMIT_NOTES)

    def classify(self, exc: Exception) -> DeliveryError:
        from google.api_core import exceptions as google_errors

        if isinstance(exc, google_errors.GoogleAPICallError) and exc.code is not None:
            return classify_status(int(exc.code), f"GA4 Data API: {exc.message}")
        return classify_common(exc)


def mp_transport(
    settings: DestinationSettings, options: Ga4Options, session: requests.Session | None = None
) -> MpTransport:
    """The MP transport of a destination: the sandbox when it has one, else the region's host."""
    return MpTransport(
        settings.sandbox_url or options.base_url,
        settings.secret("measurement_id") or (SANDBOX_MEASUREMENT_ID if settings.sandbox else ""),
        settings.secret("api_secret") or ("sandbox" if settings.sandbox else ""),
        settings.timeout_s,
        session,
    )


_LIMIT_NOTES: Final = (
    f"at most {limits.MAX_EVENTS_PER_REQUEST} events per request (the hub packs them)",
    f"at most {limits.MAX_PARAMS_PER_EVENT} params per event",
    f"event and param names: at most {limits.MAX_EVENT_NAME_CHARS} characters, a letter first, then letters, "
    "digits and underscores",
    f"param values: at most {limits.MAX_PARAM_VALUE_CHARS} characters (longer strings are cut)",
    f"reserved param prefixes {', '.join(limits.RESERVED_PREFIXES)} and names "
    f"{', '.join(sorted(limits.RESERVED_PARAM_NAMES))} are refused",
    f"request body under {limits.MAX_BODY_BYTES} bytes",
    "timestamp_micros at most 72 hours old (older events are refused with reason too_old)",
    "session attribution needs params.session_id and sending within 24 h of the session start",
)
