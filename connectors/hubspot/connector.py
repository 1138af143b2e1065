"""The HubSpot destination: callers as contacts (matched by phone), calls on their timeline."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hubspot import HubSpot

from connectors.base import (
    BatchResult,
    CheckResult,
    Connector,
    ConnectorContext,
    DeliveryError,
    DeliveryItem,
    DestinationSettings,
    FieldSchema,
    MemoryContext,
    PermanentError,
    PlannedRequest,
    Skipped,
    TargetSchema,
)
from connectors.exchanges import ExchangeRecorder
from connectors.hubspot.api import HubSpotApi
from connectors.hubspot.calls import CallSync
from connectors.hubspot.capabilities import portal_capabilities, property_facts
from connectors.hubspot.contacts import LAST_CALL_PROPERTY, ContactSync
from connectors.hubspot.errors import CREDENTIAL_HINT, classify, error_body, is_api_exception
from connectors.hubspot.options import HubSpotOptions, destination_problems
from connectors.hubspot.options import mapping_problems as check_mapping
from connectors.hubspot.owners import Owners
from connectors.hubspot.plan import CallPlan, Ledger, OwnerResolver
from connectors.hubspot.preview import planned_requests
from connectors.hubspot.sandbox_options import sandbox_problems
from connectors.hubspot.transport import build_client, matching, recorder
from hub.core import phones
from hub.core.phones import caller_key

#: How long one batch may hold its callers' number locks (rate-limit waits included).
LOCK_TIMEOUT_S = 120.0


class HubSpotConnector(Connector):
    type = "hubspot"
    max_batch = 100
    #: One batch read/upsert serves up to 100 calls: waiting a little for more saves requests
    #: against the 100-per-10-s quota.
    batch_window_s: ClassVar[float] = 2.0
    credential_names = ("access_token",)
    required_credentials = ("access_token",)
    #: HubSpot's own limits (Free/Starter burst, search): what hub.yaml should configure at least.
    default_rate_limits: ClassVar[dict[str, tuple[int, float]]] = {"default": (100, 10.0), "search": (5, 1.0)}

    def __init__(self, settings: DestinationSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.options = HubSpotOptions.from_mapping(settings.options)

    def _client(self, context: ConnectorContext) -> HubSpot:
        token = self.settings.secret("access_token") or ("sandbox" if self.settings.sandbox else None)
        if not token:
            raise PermanentError(
                f"no HubSpot access token configured; {CREDENTIAL_HINT}", reason="unauthorized"
            )
        return build_client(
            token,
            self.settings.sandbox_url,
            context,
            self.settings.timeout_s,
            self.exchanges if context is self.context else None,
        )

    @functools.cached_property
    def exchanges(self) -> ExchangeRecorder:
        """Records what deliveries ask of HubSpot (masked) for their history."""
        return recorder(self.settings.secret("access_token"))

    @functools.cached_property
    def api(self) -> HubSpotApi:
        """For deliveries: every request waits for the shared rate limiter."""
        return HubSpotApi(self._client(self.context))

    @functools.cached_property
    def metadata_api(self) -> HubSpotApi:
        """For `check` and `describe`: a few reads, run where no Redis may be (`hub check --online`)."""
        return HubSpotApi(self._client(MemoryContext()))

    # --- contract ----------------------------------------------------------------------------

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        return destination_problems(options)

    @classmethod
    def sandbox_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Problems with hub.yaml's `sandbox:` settings for the local HubSpot (sandbox_options.py)."""
        return sandbox_problems(options)

    @classmethod
    def mapping_problems(cls, record_target: str, options: Mapping[str, Any]) -> list[str]:
        return check_mapping(record_target, options)

    def classify(self, exc: Exception) -> DeliveryError:
        return classify(exc)

    def send(self, items: Sequence[DeliveryItem]) -> BatchResult:
        ledger = Ledger()
        plans = self._plans(items, ledger)
        match_properties = frozenset(name for w in plans if w.contact for name in w.contact.match)
        with matching(match_properties), self.exchanges.collecting() as exchanges:
            numbers = sorted({w.caller for w in ledger.open(plans) if w.caller and w.contact})
            callers = [f"hubspot:contact:{caller_key(number)}" for number in numbers]
            with contextlib.ExitStack() as locks:
                try:
                    locks.enter_context(self.context.locks(callers, LOCK_TIMEOUT_S))
                except DeliveryError as error:
                    ledger.settle(plans, error)
                    return BatchResult(outcomes=ledger.outcomes, exchanges=list(exchanges))
                ContactSync(self.api, self.context, self.options, self.classify, self._owner_resolver()).run(
                    plans, ledger
                )
            CallSync(self.api, self.context, self.options, self.classify, self._owner_resolver()).run(
                plans, ledger
            )
        return BatchResult(outcomes=ledger.outcomes, exchanges=list(exchanges))

    def preview(self, item: DeliveryItem) -> list[PlannedRequest]:
        planned: list[PlannedRequest] = []
        for plan in self._plans([item], Ledger()):
            planned.extend(planned_requests(plan, self.options, self.context))
        return planned

    def check(self) -> CheckResult:
        """Proves the token and reports the portal capabilities the connector relies on."""
        try:
            contact_key = property_facts(self.metadata_api, "contacts", self.options.contact_key_property)
            call_key = property_facts(self.metadata_api, "calls", self.options.call_key_property)
            last_call = property_facts(self.metadata_api, "contacts", LAST_CALL_PROPERTY)
        except Exception as exc:  # noqa: BLE001
            return CheckResult(False, self.classify(exc).message, _scope_problems(exc))
        capabilities = portal_capabilities(self.options, contact_key, call_key, last_call)
        detail = "HubSpot accepted the access token; " + "; ".join(capabilities.notes)
        if capabilities.problems:
            detail += " - but the portal is not set up"
        return CheckResult(not capabilities.problems, detail, capabilities.problems)

    def describe(self, target: str) -> TargetSchema | None:
        if target not in ("contacts", "calls"):
            return None
        fields = {}
        for prop in self.metadata_api.properties(target):
            read_only = bool(prop.modification_metadata and prop.modification_metadata.read_only_value)
            options = tuple(option.value for option in prop.options or [])
            fields[prop.name] = FieldSchema(
                name=prop.name,
                type=str(prop.type).lower(),
                createable=not read_only,
                updateable=not read_only,
                required=target == "calls" and prop.name == "hs_timestamp",
                picklist=options if prop.type == "enumeration" and options else None,
            )
        notes = ("property values are sent as strings", "hs_call_recording_url must be https")
        return TargetSchema(target, fields, notes if target == "calls" else ())

    # --- helpers -----------------------------------------------------------------------------

    def _plans(self, items: Sequence[DeliveryItem], ledger: Ledger) -> list[CallPlan]:
        plans: list[CallPlan] = []
        for item in items:
            by_target = {record.target: record for record in item.records}
            unknown = sorted(set(by_target) - {"contacts", "calls"})
            if unknown:
                ledger.settle(
                    [CallPlan(item, None, None, None)],
                    PermanentError(
                        f"HubSpot mappings write contacts or calls, not {', '.join(unknown)}",
                        reason="mapping",
                    ),
                )
                continue
            if not by_target:
                ledger.settle(
                    [CallPlan(item, None, None, None)],
                    Skipped("no_records", "no HubSpot mapping rendered this call"),
                )
                continue
            contact = by_target.get("contacts")
            plans.append(CallPlan(item, contact, by_target.get("calls"), self._caller(contact)))
        return plans

    def _caller(self, contact: Any) -> str | None:
        if contact is None:
            return None
        for name in contact.match or ("phone",):
            e164 = phones.e164(contact.fields.get(name), self.options.default_region)
            if e164:
                return e164
        return None

    def _owner_resolver(self) -> OwnerResolver:
        """Owner resolution for one step of a batch: `send` gives its contact step and its call
        step each a fresh one, so an agent's remembered owner is read once per step."""
        return Owners(self.api, self.context).resolve


def _scope_problems(exc: BaseException) -> list[str]:
    """The scopes HubSpot said the token lacks (a 403 MISSING_SCOPES names them), if any."""
    if not is_api_exception(exc) or getattr(exc, "status", None) != 403:
        return []
    body = error_body(exc)
    scopes = [
        scope
        for error in body.get("errors") or []
        if isinstance(error, dict)
        for scope in (error.get("context") or {}).get("requiredGranularScopes") or []
    ]
    named = f": {', '.join(sorted(set(scopes)))}" if scopes else ""
    return [
        f"the private app token lacks the scopes the connector needs{named} (docs/destinations/hubspot.md)"
    ]
