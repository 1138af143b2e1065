"""An older call, retried late or placed anywhere in a batch, never overwrites a newer call's attribution."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from connectors.base import Delivered
from hub.core.events import Attribution
from tests.connectors.hubspot.harness import STARTED, call_event, item_for, make_connector, shared_context


def _contact_of(result: Any, delivery_id: str) -> str:
    outcome = result.outcomes[delivery_id]
    assert isinstance(outcome, Delivered), outcome
    return str(outcome.external_ids["contacts"])


def _properties(portal: Any, contact_id: str) -> dict[str, Any]:
    return dict(portal.fake.store.get("contacts", contact_id).properties)


def test_an_older_call_retried_late_keeps_the_newer_attribution(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    old = call_event(
        "+14155550100", "call-A", attribution=Attribution(source="facebook", campaign="old-promo")
    )
    new = call_event(
        "+14155550100",
        "call-B",
        minutes_later=120,
        attribution=Attribution(source="google", campaign="spring-sale"),
    )
    contact_id = _contact_of(connector.deliver([item_for(new)]), "dlv-call-B-call.completed")

    result = connector.deliver([item_for(old, attempt=2)])

    assert isinstance(result.outcomes["dlv-call-A-call.completed"], Delivered)
    after = _properties(portal, contact_id)
    assert (after["callhub_source"], after["callhub_campaign"]) == ("google", "spring-sale")
    assert after["callhub_last_call_at"] == "2026-05-01T17:04:05Z"
    assert len(portal.records("calls")) == 2


def test_within_a_batch_the_latest_call_wins_whatever_the_order(portal, redis_url):
    connector = make_connector(portal.url, shared_context(redis_url))
    # The older call's update arrives last (its event is the most recent): call time still decides.
    old = dataclasses.replace(
        call_event(
            "+14155550100", "call-A", attribution=Attribution(source="facebook", campaign="old-promo")
        ),
        occurred_at=STARTED + timedelta(hours=5),
    )
    new = call_event(
        "+14155550100",
        "call-B",
        minutes_later=120,
        attribution=Attribution(source="google", campaign="spring-sale"),
    )

    result = connector.deliver([item_for(new), item_for(old)])

    contact_id = _contact_of(result, "dlv-call-A-call.completed")
    after = _properties(portal, contact_id)
    assert (after["callhub_source"], after["callhub_last_call_at"]) == ("google", "2026-05-01T17:04:05Z")
