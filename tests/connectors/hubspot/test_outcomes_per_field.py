"""An earlier call's outcome reaches the contact unless a newer call set that same property."""

from __future__ import annotations

import dataclasses
from typing import Any

from connectors.base import Delivered
from hub.core.events import Attribution, Outcome
from tests.connectors.hubspot.harness import call_event, item_for, make_connector, shared_context

NUMBER = "+14155550100"


def _contact(result: Any, delivery_id: str) -> str:
    outcome = result.outcomes[delivery_id]
    assert isinstance(outcome, Delivered), outcome
    return str(outcome.external_ids["contacts"])


def test_an_earlier_calls_outcome_reaches_the_contact_after_a_newer_missed_call(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    answered = call_event(NUMBER, "call-A")
    missed = call_event(NUMBER, "call-B", status="missed", minutes_later=60,
                        attribution=Attribution(source="bing", campaign="retarget"))  # fmt: skip
    contact_id = _contact(connector.deliver([item_for(answered)]), "dlv-call-A-call.completed")
    connector.deliver([item_for(missed)])

    good = dataclasses.replace(
        answered, kind="call.updated", id="evt-call-A-updated", outcome=Outcome(lead_status="good_lead")
    )
    result = connector.deliver([item_for(good)])

    assert isinstance(result.outcomes["dlv-call-A-call.updated"], Delivered)
    after = dict(portal.fake.store.get("contacts", contact_id).properties)
    assert after["hs_lead_status"] == "CONNECTED"
    # B, the newer call, set the attribution and last-call time: A's update leaves them alone.
    assert (after["callhub_source"], after["callhub_campaign"]) == ("bing", "retarget")
    assert after["callhub_last_call_at"] == "2026-05-01T16:04:05Z"


def test_a_property_a_newer_call_set_keeps_its_value(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    answered = call_event(NUMBER, "call-A")
    contact_id = _contact(connector.deliver([item_for(answered)]), "dlv-call-A-call.completed")
    newer = call_event(NUMBER, "call-B", minutes_later=60, kind="call.updated",
                       outcome=Outcome(lead_status="not_a_lead"))  # fmt: skip
    connector.deliver([item_for(newer)])

    good = dataclasses.replace(
        answered, kind="call.updated", id="evt-call-A-updated", outcome=Outcome(lead_status="good_lead")
    )
    connector.deliver([item_for(good)])

    after = dict(portal.fake.store.get("contacts", contact_id).properties)
    assert after["hs_lead_status"] == "UNQUALIFIED"
