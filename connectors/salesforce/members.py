"""Campaign membership: the caller joins the Campaign its mapping names, once per Campaign."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import ConnectorContext
from connectors.salesforce.api import SalesforceApi
from connectors.salesforce.errors import error_entries, from_entries
from connectors.salesforce.names import NameResolver
from connectors.salesforce.options import CAMPAIGN_NAME
from connectors.salesforce.plan import CallPlan, sendable, with_type
from hub.core.records import RenderedRecord


class MemberWriter:
    def __init__(self, api: SalesforceApi, context: ConnectorContext, names: NameResolver) -> None:
        self.api = api
        self.context = context
        self.names = names

    def write(self, plans: Sequence[CallPlan]) -> None:
        members = [
            p for p in plans if p.active and p.who is not None and p.record("CampaignMember") is not None
        ]
        if not members:
            return
        campaign_ids = self._campaign_ids(members)
        #: (plan, its CampaignMember record, the Campaign id, the membership's state key)
        joining: list[tuple[CallPlan, RenderedRecord, Any, str]] = []
        for plan in members:
            record = plan.record("CampaignMember")
            assert record is not None
            assert plan.who is not None
            campaign_id = record.fields.get("CampaignId") or campaign_ids.get(
                str(record.fields.get(CAMPAIGN_NAME))
            )
            if campaign_id:
                joining.append((plan, record, campaign_id, f"member:{campaign_id}:{plan.who.id}"))
            else:
                plan.notes.append("no Salesforce Campaign of that name: membership skipped")
        states = self.context.get_states(key for *_, key in joining)
        pending: dict[str, tuple[dict[str, Any], list[CallPlan]]] = {}
        for plan, record, campaign_id, key in joining:
            assert plan.who is not None
            known = states[key]
            if known is not None:
                if known.get("id"):
                    plan.written["CampaignMember"] = str(known["id"])
                continue
            person_field = "LeadId" if plan.who.sobject == "Lead" else "ContactId"
            body = {**sendable(record.fields), "CampaignId": campaign_id, person_field: plan.who.id}
            pending.setdefault(key, (body, []))[1].append(plan)
        if not pending:
            return
        keys = list(pending)
        results = self.api.create([with_type("CampaignMember", pending[key][0]) for key in keys])
        for key, result in zip(keys, results, strict=True):
            entries = error_entries(result.get("errors"))
            if result.get("success") or (entries and entries[0]["code"] == "DUPLICATE_VALUE"):
                member_id = str(result.get("id") or "")
                self.context.put_state(key, {"id": member_id})
                for plan in pending[key][1]:
                    if member_id:
                        plan.written["CampaignMember"] = member_id
                    plan.notes.append("added to Campaign" if member_id else "already a Campaign member")
            else:
                for plan in pending[key][1]:
                    plan.fail(from_entries(entries))

    def _campaign_ids(self, plans: Sequence[CallPlan]) -> dict[str, str]:
        return self.names.campaigns(
            str(v) for p in plans if (v := _field(p, "CampaignMember", CAMPAIGN_NAME))
        )


def _field(plan: CallPlan, target: str, name: str) -> Any:
    record = plan.record(target)
    return record.fields.get(name) if record is not None else None
