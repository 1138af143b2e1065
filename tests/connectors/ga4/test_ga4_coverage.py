"""Attribution coverage by source, from the outcomes the connector returns."""

from __future__ import annotations

from connectors.base import MemoryContext
from connectors.ga4 import CoverageRow, GA4Connector, attribution_coverage
from connectors.ga4.coverage import attribution_of, stored_attribution
from tests.connectors.ga4.calls import (
    API_SECRET,
    MEASUREMENT_ID,
    callrail_call,
    clock,
    ctm_call,
    item,
    settings,
)
from tests.connectors.ga4.calls import with_attribution as without


def test_coverage_counts_each_call_once_by_its_best_outcome(ga4_url: str) -> None:
    ga4 = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock)
    calls = {
        "d1": callrail_call(),
        "d2": callrail_call(kind="call.updated"),  # same call again: already_sent, not counted twice
        "d3": without(callrail_call(provider_call_id="anon-1"), ga_client_id=None),
        "d4": without(callrail_call(provider_call_id="anon-1", kind="call.updated"), ga_client_id=None),
        "d5": ctm_call(),
        "d6": without(ctm_call(provider_call_id="anon-2"), ga_client_id=None),
    }
    rows = []
    for delivery_id, call in calls.items():
        outcome = ga4.deliver([item(call, delivery_id)]).outcomes[delivery_id]
        attribution = attribution_of(outcome)
        if attribution is not None:
            rows.append(CoverageRow(call.source, call.provider_call_id, attribution))

    coverage = attribution_coverage(rows)

    assert coverage["callrail"].attributed == 1
    assert coverage["callrail"].unattributed == 1
    assert coverage["callrail"].share == 0.5
    assert coverage["ctm"].calls == 2


def test_pseudonymous_calls_count_apart_and_later_attribution_wins() -> None:
    rows = [
        CoverageRow("invoca", "1", "none"),
        CoverageRow("invoca", "1", "ga"),
        CoverageRow("invoca", "2", "pseudonymous"),
    ]
    coverage = attribution_coverage(rows)["invoca"]
    assert (coverage.attributed, coverage.pseudonymous, coverage.unattributed) == (1, 1, 0)
    assert coverage.share == 0.5


def test_stored_rows_map_like_outcomes(ga4_url: str) -> None:
    creds = {"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET, "client_id_salt": "pepper"}
    ga4 = GA4Connector(
        settings(ga4_url, credentials=creds, no_client_id="pseudonymous"), MemoryContext(), clock=clock
    )
    outcome = ga4.deliver([item(without(callrail_call(), ga_client_id=None))]).outcomes["d1"]

    assert attribution_of(outcome) == "pseudonymous"
    assert stored_attribution("delivered", None, {"client_id_source": "ga"}) == "ga"
    assert stored_attribution("skipped", "no_ga_client_id", {}) == "none"
    assert stored_attribution("skipped", "already_sent", {}) is None
    assert stored_attribution("failed", "too_old", {}) is None
    assert attribution_coverage([]) == {}
