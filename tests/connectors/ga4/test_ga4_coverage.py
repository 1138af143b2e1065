"""Attribution coverage by source, from the outcomes the connector returns."""

from __future__ import annotations

from connectors.base import Delivered, MemoryContext
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

    # CallRail sends the visitor's client id but no session id: user-only, never session-attributed.
    assert (coverage["callrail"].session, coverage["callrail"].user_only) == (0, 1)
    assert coverage["callrail"].unattributed == 1
    assert (coverage["callrail"].session_share, coverage["callrail"].user_share) == (0.0, 0.5)
    assert (coverage["ctm"].calls, coverage["ctm"].session) == (2, 1)


def test_a_client_id_without_a_session_id_is_user_only_and_says_so(ga4_url: str) -> None:
    ga4 = GA4Connector(settings(ga4_url), MemoryContext(), clock=clock)
    with_session = ga4.deliver([item(ctm_call(), "d1")]).outcomes["d1"]
    no_session = ga4.deliver(
        [item(without(ctm_call(provider_call_id="no-session"), ga_session_id=None), "d2")]
    ).outcomes["d2"]

    assert isinstance(with_session, Delivered)
    assert isinstance(no_session, Delivered)
    assert with_session.external_ids["attribution"] == "session"
    assert with_session.note.startswith("session-attributed")
    assert no_session.external_ids["attribution"] == "user"
    assert no_session.note.startswith("user-only")
    coverage = attribution_coverage(
        [
            CoverageRow("ctm", "1", attribution_of(with_session) or "none"),
            CoverageRow("ctm", "2", attribution_of(no_session) or "none"),
        ]
    )["ctm"]
    assert (coverage.session, coverage.user_only, coverage.unattributed) == (1, 1, 0)
    assert (coverage.session_share, coverage.user_share) == (0.5, 1.0)


def test_pseudonymous_calls_count_apart_and_later_attribution_wins() -> None:
    rows = [
        CoverageRow("invoca", "1", "none"),
        CoverageRow("invoca", "1", "session"),
        CoverageRow("invoca", "2", "pseudonymous"),
        CoverageRow("invoca", "3", "user"),
        CoverageRow("invoca", "3", "none"),
    ]
    coverage = attribution_coverage(rows)["invoca"]
    assert (coverage.session, coverage.user_only, coverage.pseudonymous, coverage.not_sent) == (1, 1, 1, 0)
    assert coverage.unattributed == 1
    assert coverage.session_share == 1 / 3


def test_stored_rows_map_like_outcomes(ga4_url: str) -> None:
    creds = {"measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET, "client_id_salt": "pepper"}
    ga4 = GA4Connector(
        settings(ga4_url, credentials=creds, no_client_id="pseudonymous"), MemoryContext(), clock=clock
    )
    outcome = ga4.deliver([item(without(callrail_call(), ga_client_id=None))]).outcomes["d1"]

    assert attribution_of(outcome) == "pseudonymous"
    assert (
        stored_attribution("delivered", None, {"client_id_source": "ga", "attribution": "session"})
        == "session"
    )
    # Rows from before levels were recorded: a GA client id proves the visitor, not the session.
    assert stored_attribution("delivered", None, {"client_id_source": "ga"}) == "user"
    assert stored_attribution("skipped", "no_ga_client_id", {}) == "none"
    assert stored_attribution("skipped", "already_sent", {}) is None
    assert stored_attribution("failed", "too_old", {}) is None
    assert attribution_coverage([]) == {}
