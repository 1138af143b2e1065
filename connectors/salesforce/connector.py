"""The Salesforce destination: callers become Leads once, every call is one Task, outcomes stay current."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests

from connectors.base import (
    BatchResult,
    CheckResult,
    Connector,
    ConnectorContext,
    DeliveryError,
    DeliveryItem,
    DestinationSettings,
    PlannedRequest,
    TargetSchema,
)
from connectors.salesforce import auth, options
from connectors.salesforce.api import COLLECTION_MAX, SalesforceApi, format_soql
from connectors.salesforce.capabilities import describe_org
from connectors.salesforce.errors import classify
from connectors.salesforce.lookup import person_state_key
from connectors.salesforce.phones import phone_search
from connectors.salesforce.plan import build_plan, create_only, lead_body, sendable, with_type
from connectors.salesforce.schema import target_schema
from connectors.salesforce.writer import BatchWriter


def _salesforce_error() -> type[Exception]:
    # Imported with the first failure, not with the connector (see connectors.salesforce.api).
    from simple_salesforce.exceptions import SalesforceError

    return SalesforceError


def _failures() -> tuple[type[Exception], ...]:
    """What a request to Salesforce raises when it fails (an `except` evaluates this on a failure only)."""
    return (_salesforce_error(), requests.RequestException, DeliveryError)


class SalesforceConnector(Connector):
    type: ClassVar[str] = "salesforce"
    max_batch: ClassVar[int] = COLLECTION_MAX
    #: One sObject Collections request serves up to 200 calls: waiting a little for more saves
    #: requests against the org's daily allocation.
    batch_window_s: ClassVar[float] = 2.0
    credential_names: ClassVar[tuple[str, ...]] = auth.CREDENTIAL_NAMES

    @classmethod
    def missing_credentials(cls, present: frozenset[str]) -> list[str]:
        """What the login flow nearest to the set credentials still needs (none when one is complete)."""
        return auth.missing_for_nearest_flow(present)

    def __init__(self, settings: DestinationSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.options = options.Options.parse(settings.options)
        self.api = SalesforceApi(settings, context, self.options)
        self.writer = BatchWriter(self.api, context, self.options)

    @classmethod
    def option_problems(cls, raw: Mapping[str, Any]) -> list[str]:
        return options.option_problems(raw)

    @classmethod
    def sandbox_problems(cls, raw: Mapping[str, Any]) -> list[str]:
        return options.sandbox_problems(raw)

    @classmethod
    def option_notes(cls, raw: Mapping[str, Any]) -> list[str]:
        return options.option_notes(raw)

    @classmethod
    def mapping_problems(cls, record_target: str, raw: Mapping[str, Any]) -> list[str]:
        return options.mapping_problems(record_target, raw)

    def classify(self, exc: Exception) -> DeliveryError:
        return classify(exc)

    def send(self, items: Sequence[DeliveryItem]) -> BatchResult:
        with self.api.log.recorder.collecting() as exchanges:
            self.api.load_usage()
            plans = [build_plan(item, self.options.default_region) for item in items]
            for start in range(0, len(plans), COLLECTION_MAX):
                chunk = plans[start : start + COLLECTION_MAX]
                try:
                    self.writer.write(chunk)
                except _failures() as exc:
                    # Every step so far is idempotent (remembered ids, upserts): the retry redoes the rest.
                    error = self.classify(exc)
                    for plan in chunk:
                        plan.fail(error)
            self.api.save_usage()
        return BatchResult(
            outcomes={plan.item.delivery_id: plan.outcome() for plan in plans},
            exchanges=list(exchanges),
        )

    def preview(self, item: DeliveryItem) -> list[PlannedRequest]:
        plan = build_plan(item, self.options.default_region)
        base = f"/services/data/v{self.options.api_version}"
        planned: list[PlannedRequest] = []
        lead = plan.record("Lead")
        remembered = self.context.get_state(person_state_key(plan.number)) if plan.number else None
        if plan.number:
            sosl = phone_search([plan.number], ["Lead(Id, IsConverted, ConvertedContactId)", "Contact(Id)"])
            planned.append(PlannedRequest("GET", f"{base}/search/", {"q": sosl}, "find the caller by phone"))
        if lead is not None and plan.number and not remembered:
            body = lead_body(sendable(lead.fields), self.options.default_owner_id)
            key = lead.options.get("key_field")
            if isinstance(key, str):
                planned.append(PlannedRequest(
                    "GET", f"{base}/query/", {"q": format_soql("SELECT Id FROM Lead WHERE {:literal} IN {}", key, ["<caller>"])},
                    "find a Lead the hub created for this caller (exact, no search lag)",
                ))  # fmt: skip
                body[key] = plan.number
            planned.append(PlannedRequest(
                "PATCH" if isinstance(key, str) else "POST",
                f"{base}/composite/sobjects/Lead/{key}" if isinstance(key, str) else f"{base}/composite/sobjects",
                {"allOrNone": False, "records": [with_type("Lead", body)]},
                "create the Lead when no Contact or Lead has this number",
            ))  # fmt: skip
        for target in ("Lead", "Contact"):
            record = plan.record(target)
            update = sendable(record.fields, drop=create_only(record)) if record is not None else {}
            if update:
                planned.append(PlannedRequest(
                    "PATCH", f"{base}/composite/sobjects",
                    {"allOrNone": False, "records": [with_type(target, update, "<matched id>")]},
                    f"update the matched {target}",
                ))  # fmt: skip
        task = plan.record("Task")
        if task is not None:
            field = task.options.get("call_id_field") or (task.match[0] if task.match else None)
            path = f"composite/sobjects/Task/{field}" if field else "composite/sobjects"
            body = {**sendable(task.fields), "WhoId": "<caller's Lead or Contact id>"}
            planned.append(PlannedRequest(
                "PATCH" if field else "POST", f"{base}/{path}", {"allOrNone": False, "records": [
                    with_type("Task", body)]}, "log the call as one Task (updated, never duplicated, later)",
            ))  # fmt: skip
        if plan.record("CampaignMember") is not None:
            planned.append(
                PlannedRequest("POST", f"{base}/composite/sobjects", None, "add the caller to the Campaign")
            )
        return planned

    def check(self) -> CheckResult:
        problem = auth.missing(self.settings)
        if problem:
            return CheckResult(False, problem)
        try:
            limits = self.api.limits()
            lines = describe_org(
                self.api.describe("Lead"), self.api.describe("Task"), self._duplicate_rules()
            )
        except _failures() as exc:
            return CheckResult(False, self.classify(exc).message)
        daily = limits.get("DailyApiRequests") or {}
        flow = auth.flow(self.settings)
        warning = f"; warning: {auth.SOAP_WARNING}" if flow == "soap" else ""
        return CheckResult(
            True,
            f"logged in ({flow}{warning}); API version {self.options.api_version}; daily API requests "
            f"remaining: {daily.get('Remaining', '?')}/{daily.get('Max', '?')}; " + "; ".join(lines),
        )

    def _duplicate_rules(self) -> list[dict[str, Any]] | None:
        """Active duplicate rules, or None when this user may not read Setup metadata."""
        try:
            return self.api.query(
                "SELECT DeveloperName, SobjectType FROM DuplicateRule WHERE IsActive = true"
            )
        except _salesforce_error():
            return None

    def describe(self, target: str) -> TargetSchema | None:
        if target not in options.TARGETS:
            return None
        try:
            return target_schema(target, self.api.describe(target))
        except _failures():
            # `check()` reports why Salesforce cannot be reached; without a describe there is no lint.
            return None
