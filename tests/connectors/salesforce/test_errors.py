"""Each Salesforce error class ends as the hub says: re-login, back off, link, hold or reject."""

from __future__ import annotations

from connectors.base import LOCAL_RETRY_REASONS, Delivered, Held, PermanentError, RetryableError
from hub.coordination import MemoryStateStore
from hub.core.records import RenderedRecord
from tests.connectors.salesforce.calls import call, connector, hand_item, item
from tests.connectors.salesforce.conftest import FakeOrg

DELIVERY = "evt_CAL1_call.completed"


def test_expired_session_logs_in_again_and_retries_once(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    sf.send([item(call("CAL0", "+14045550100"))])
    fake.fault("INVALID_SESSION_ID")

    result = sf.send([item(call("CAL1"))])

    assert isinstance(result.outcomes[DELIVERY], Delivered)
    assert fake.requests()["logins"] == 2
    assert len(fake.records("Task")) == 2


def test_a_session_that_stays_invalid_is_retried_later(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    fake.fault("INVALID_SESSION_ID", times=5)

    outcome = sf.send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "session_expired"


def test_request_limit_exceeded_backs_off(fake: FakeOrg, redis_url: str) -> None:
    fake.fault("REQUEST_LIMIT_EXCEEDED")

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, RetryableError)
    # The org's own daily limit: wait long, without spending the delivery's retry budget.
    assert outcome.reason == "quota_reserve"
    assert outcome.reason in LOCAL_RETRY_REASONS
    assert (outcome.retry_after or 0) >= 900
    assert "TotalRequests Limit exceeded" in outcome.message


def test_unable_to_lock_row_on_a_save_is_retried_and_then_delivered(fake: FakeOrg, redis_url: str) -> None:
    state = MemoryStateStore()
    fake.fault("UNABLE_TO_LOCK_ROW", scope="record")

    first = connector(fake.url, redis_url, state).send([item(call("CAL1"))]).outcomes[DELIVERY]
    second = connector(fake.url, redis_url, state).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(first, RetryableError)
    assert first.reason == "locked"
    assert isinstance(second, Delivered)
    assert len(fake.records("Lead")) == 1
    assert len(fake.records("Task")) == 1


def test_unable_to_lock_row_on_a_whole_request_is_retryable(fake: FakeOrg, redis_url: str) -> None:
    fake.fault("UNABLE_TO_LOCK_ROW", path="composite/sobjects")

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "locked"


def test_server_unavailable_is_retryable(fake: FakeOrg, redis_url: str) -> None:
    fake.fault("SERVER_UNAVAILABLE")

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, RetryableError)
    assert outcome.reason == "unavailable"


def test_duplicate_rule_links_to_the_duplicate(fake: FakeOrg, redis_url: str) -> None:
    fake.search_lag(True)  # search cannot see it: only the duplicate rule can
    existing = fake.seed("Lead", LastName="Vega", Company="Vega Homes", Phone="(470) 555-0183")
    fake.duplicate_rules(Lead=True)

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, Delivered), outcome
    assert outcome.external_ids["Lead"] == existing
    assert "duplicate rule" in outcome.note
    assert [lead["Id"] for lead in fake.records("Lead")] == [existing]
    assert fake.records("Task")[0]["WhoId"] == existing


def test_duplicate_rule_without_the_match_holds_the_delivery(fake: FakeOrg, redis_url: str) -> None:
    fake.fault("DUPLICATES_DETECTED", scope="record", message="Use one of these records?")

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, Held)
    assert outcome.reason == "duplicate_rule"
    assert "Use one of these records?" in outcome.note
    assert fake.records("Task") == []


def test_restricted_picklist_is_rejected_with_salesforces_message_and_field(
    fake: FakeOrg, redis_url: str
) -> None:
    event = call("CAL1")
    task = RenderedRecord("task.yaml", "Task", {"Subject": "Call", "CallType": "Sideways"}, (),
                          {"call_id_field": "Call_Tracking_Id__c"})  # fmt: skip

    outcome = connector(fake.url, redis_url).send([hand_item("d1", event, task)]).outcomes["d1"]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "rejected"
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in outcome.message
    assert outcome.details["errors"][0]["fields"] == ["CallType"]


def test_unknown_field_is_rejected_naming_it(fake: FakeOrg, redis_url: str) -> None:
    lead = RenderedRecord("lead.yaml", "Lead", {"Phone": "+14705550183", "Lead_Score__c": 5}, ("Phone",))

    outcome = connector(fake.url, redis_url).send([hand_item("d1", call("CAL1"), lead)]).outcomes["d1"]

    assert isinstance(outcome, PermanentError)
    assert "INVALID_FIELD" in outcome.message
    assert "Lead_Score__c" in outcome.message


def test_validation_rule_is_rejected(fake: FakeOrg, redis_url: str) -> None:
    fake.fault(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION", scope="record", message="Company is required for web leads"
    )

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "rejected"
    assert "Company is required for web leads" in outcome.message


def test_missing_permission_is_rejected(fake: FakeOrg, redis_url: str) -> None:
    fake.fault("INSUFFICIENT_ACCESS", path="composite/sobjects")

    outcome = connector(fake.url, redis_url).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "permission"


def test_one_bad_call_does_not_fail_the_others(fake: FakeOrg, redis_url: str) -> None:
    bad = RenderedRecord(
        "task.yaml", "Task", {"CallType": "Sideways"}, (), {"call_id_field": "Call_Tracking_Id__c"}
    )
    result = connector(fake.url, redis_url).send([hand_item("bad", call("CAL0", "+14045550100"), bad),
                                                 item(call("CAL1"))])  # fmt: skip

    assert isinstance(result.outcomes["bad"], PermanentError)
    assert isinstance(result.outcomes[DELIVERY], Delivered)


def test_usage_near_the_daily_limit_slows_down_before_it(fake: FakeOrg, redis_url: str) -> None:
    fake.usage(used=85_000, limit=100_000)
    state = MemoryStateStore()

    first = (
        connector(fake.url, redis_url, state, reserve_share=0.2).send([item(call("CAL1"))]).outcomes[DELIVERY]
    )
    made = fake.api_requests()
    # Another worker reads the shared reading and does not even start.
    second = (
        connector(fake.url, redis_url, state, reserve_share=0.2).send([item(call("CAL1"))]).outcomes[DELIVERY]
    )

    for outcome in (first, second):
        assert isinstance(outcome, RetryableError)
        assert outcome.reason == "quota_reserve"
        assert (outcome.retry_after or 0) > 0
    assert made == 1
    assert fake.api_requests() == made
    assert fake.records("Lead") == []


def test_a_smaller_reserve_lets_the_hub_use_more(fake: FakeOrg, redis_url: str) -> None:
    fake.usage(used=85_000, limit=100_000)

    outcome = connector(fake.url, redis_url, reserve_share=0.1).send([item(call("CAL1"))]).outcomes[DELIVERY]

    assert isinstance(outcome, Delivered)
