"""Callers become one Lead, every call one Task, through simple-salesforce against the local fake."""

from __future__ import annotations

import threading

from connectors.base import Delivered, Held, Skipped
from hub.coordination import MemoryStateStore
from hub.core.records import RenderedRecord
from tests.connectors.salesforce.calls import (
    AGENT,
    CAMPAIGN,
    GCLID,
    call,
    connector,
    hand_item,
    item,
    updated,
)
from tests.connectors.salesforce.conftest import FakeOrg


def delivered(result, delivery_id: str) -> Delivered:
    outcome = result.outcomes[delivery_id]
    assert isinstance(outcome, Delivered), outcome
    return outcome


def test_new_caller_becomes_one_lead_and_one_task_with_attribution(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    result = sf.send([item(call("CAL1"))])

    outcome = delivered(result, "evt_CAL1_call.completed")
    [lead] = fake.records("Lead")
    [task] = fake.records("Task")
    [user] = [u for u in fake.records("User") if u["Email"] == AGENT]
    assert outcome.external_ids["Lead"] == lead["Id"]
    assert outcome.external_ids["Task"] == task["Id"]
    assert lead["Phone"] == "+14705550183"
    assert lead["LastName"] == "VEGA MARISOL"
    assert lead["Company"] == "[not provided]"
    assert lead["LeadSource"] == "Phone Inquiry"
    assert lead["OwnerId"] == user["Id"]
    assert (lead["Call_Source__c"], lead["Call_Campaign__c"], lead["GCLID__c"]) == (
        "Google Ads",
        CAMPAIGN,
        GCLID,
    )
    assert lead["Call_Keyword__c"] == "emergency plumber decatur"
    assert lead["Call_Landing_Page__c"] == "https://www.peachtreeplumbing.example/emergency-plumber"
    assert task["WhoId"] == lead["Id"]
    assert task["TaskSubtype"] == "Call"
    assert (task["CallType"], task["CallDurationInSeconds"], task["Status"]) == ("Inbound", 412, "Completed")
    assert task["ActivityDate"] == "2024-03-12"
    assert task["Call_Tracking_Id__c"] == "callrail:CAL1"
    assert task["OwnerId"] == user["Id"]
    for line in ("Source: Google Ads", f"Campaign: {CAMPAIGN}", "Keyword: emergency plumber decatur",
                 "Landing page: https://www.peachtreeplumbing.example/emergency-plumber",
                 "Recording: https://app.callrail.example/calls/CAL1/recording"):  # fmt: skip
        assert line in task["Description"]
    [member] = fake.records("CampaignMember")
    assert member["LeadId"] == lead["Id"]
    assert member["Status"] == "Responded"


def test_same_caller_in_another_format_reuses_the_lead_and_adds_a_task(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    sf.send([item(call("CAL1", "+14705550183"))])
    second = sf.send([item(call("CAL2", "(470) 555-0183"))])

    [lead] = fake.records("Lead")
    tasks = fake.records("Task")
    assert len(tasks) == 2
    assert {t["WhoId"] for t in tasks} == {lead["Id"]}
    assert delivered(second, "evt_CAL2_call.completed").external_ids["Lead"] == lead["Id"]
    assert len(fake.records("CampaignMember")) == 1


def test_lead_stored_in_any_format_is_found_by_phone_search(fake: FakeOrg, redis_url: str) -> None:
    existing = fake.seed("Lead", LastName="Vega", Company="Vega Homes", MobilePhone="470.555.0183")
    result = connector(fake.url, redis_url).send([item(call("CAL1"))])

    assert [lead["Id"] for lead in fake.records("Lead")] == [existing]
    assert delivered(result, "evt_CAL1_call.completed").external_ids["Lead"] == existing
    [lead] = fake.records("Lead")
    assert lead["LastName"] == "Vega"  # create_only: a known caller keeps the name sales gave it
    assert lead.get("Call_Source__c") is None
    assert fake.records("Task")[0]["WhoId"] == existing


def test_contact_wins_over_lead(fake: FakeOrg, redis_url: str) -> None:
    fake.seed("Lead", LastName="Vega", Company="Vega Homes", Phone="+1 470 555 0183")
    contact = fake.seed("Contact", LastName="Vega", Phone="(470) 555-0183")
    result = connector(fake.url, redis_url).send(
        [item(updated(call("CAL1"), qualified=True, tags=("Booked",)))]
    )

    outcome = delivered(result, "evt_CAL1_call.completed_u")
    assert outcome.external_ids["Contact"] == contact
    assert "Lead" not in outcome.external_ids
    assert len(fake.records("Lead")) == 1
    assert fake.records("Task")[0]["WhoId"] == contact
    [stored] = fake.records("Contact")
    assert (stored["Call_Qualified__c"], stored["Call_Tags__c"]) == (True, "Booked")
    assert fake.records("CampaignMember")[0]["ContactId"] == contact


def test_converted_lead_leads_to_its_contact(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    first = sf.send([item(call("CAL1"))])
    lead_id = delivered(first, "evt_CAL1_call.completed").external_ids["Lead"]
    contact_id = fake.convert(lead_id)

    second = sf.send([item(call("CAL2"))])

    assert delivered(second, "evt_CAL2_call.completed").external_ids["Contact"] == contact_id
    assert len(fake.records("Lead")) == 1
    task = next(t for t in fake.records("Task") if t["Call_Tracking_Id__c"] == "callrail:CAL2")
    assert task["WhoId"] == contact_id


def test_several_matches_take_the_most_recently_modified(fake: FakeOrg, redis_url: str) -> None:
    fake.seed(
        "Lead",
        LastName="Old",
        Company="A",
        Phone="4705550183",
        LastModifiedDate="2023-01-01T00:00:00.000+0000",
    )
    newer = fake.seed("Lead", LastName="New", Company="B", Phone="470-555-0183",
                      LastModifiedDate="2023-06-01T00:00:00.000+0000")  # fmt: skip
    result = connector(fake.url, redis_url).send([item(call("CAL1"))])

    assert delivered(result, "evt_CAL1_call.completed").external_ids["Lead"] == newer
    assert len(fake.records("Lead")) == 2


def test_several_matches_are_held_when_the_policy_says_so(fake: FakeOrg, redis_url: str) -> None:
    first = fake.seed("Contact", LastName="One", Phone="4705550183")
    second = fake.seed("Contact", LastName="Two", MobilePhone="+14705550183")
    sf = connector(fake.url, redis_url, on_multiple_matches="hold")
    result = sf.send([item(call("CAL1"))])

    outcome = result.outcomes["evt_CAL1_call.completed"]
    assert isinstance(outcome, Held)
    assert outcome.reason == "several_matches"
    assert first in outcome.note
    assert second in outcome.note
    assert fake.records("Lead") == []
    assert fake.records("Task") == []


def test_lag_in_the_search_index_is_covered_by_the_hubs_memory(fake: FakeOrg, redis_url: str) -> None:
    fake.search_lag(True)
    sf = connector(fake.url, redis_url)
    sf.send([item(call("CAL1"))])
    sf.send([item(call("CAL2", "470 555 0183"))])

    assert len(fake.records("Lead")) == 1
    assert len(fake.records("Task")) == 2


def test_two_concurrent_first_calls_make_one_lead(fake: FakeOrg, redis_url: str) -> None:
    # Two workers: their own connector and Redis connection, one database of state, and a search
    # index that has not caught up (so only the lock and the memory can prevent a second Lead).
    fake.search_lag(True)
    state = MemoryStateStore()
    workers = [connector(fake.url, redis_url, state) for _ in range(2)]
    start = threading.Barrier(2)
    results = {}

    def work(index: int) -> None:
        start.wait()
        results[index] = workers[index].send([item(call(f"CAL{index}"))])

    threads = [threading.Thread(target=work, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    [lead] = fake.records("Lead")
    assert len(fake.records("Task")) == 2
    for index in range(2):
        assert delivered(results[index], f"evt_CAL{index}_call.completed").external_ids["Lead"] == lead["Id"]


def test_two_calls_from_one_new_number_in_one_batch_make_one_lead(fake: FakeOrg, redis_url: str) -> None:
    result = connector(fake.url, redis_url).send([item(call("CAL1")), item(call("CAL2", "4705550183"))])

    [lead] = fake.records("Lead")
    assert len(fake.records("Task")) == 2
    assert {o.external_ids["Lead"] for o in result.outcomes.values() if isinstance(o, Delivered)} == {
        lead["Id"]
    }


def test_call_updated_updates_the_same_task_and_sets_lead_status(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    completed = call("CAL1")
    first = sf.send([item(completed)])
    second = sf.send([item(updated(completed, lead_status="good_lead", qualified=True, value=None,
                                   notes="Booked 2pm"))])  # fmt: skip

    [task] = fake.records("Task")
    [lead] = fake.records("Lead")
    assert delivered(second, "evt_CAL1_call.completed_u").external_ids["Task"] == task["Id"]
    assert delivered(first, "evt_CAL1_call.completed").external_ids["Task"] == task["Id"]
    assert lead["Status"] == "Working - Contacted"
    assert lead["Rating"] == "Hot"
    assert lead["Call_Qualified__c"] is True
    assert "Outcome: good_lead" in task["Description"]
    assert "Notes: Booked 2pm" in task["Description"]


def test_call_updated_finds_its_task_even_when_the_hub_lost_its_note(fake: FakeOrg, redis_url: str) -> None:
    completed = call("CAL1")
    connector(fake.url, redis_url).send([item(completed)])
    # A fresh state store: the upsert on Call_Tracking_Id__c still finds the Task.
    result = connector(fake.url, redis_url, MemoryStateStore()).send(
        [item(updated(completed, lead_status="good_lead"))]
    )

    [task] = fake.records("Task")
    assert delivered(result, "evt_CAL1_call.completed_u").external_ids["Task"] == task["Id"]
    assert "Outcome: good_lead" in task["Description"]


def test_spam_calls_are_skipped(fake: FakeOrg, redis_url: str) -> None:
    import dataclasses

    spam = call("CAL1")
    spam = dataclasses.replace(spam, call=dataclasses.replace(spam.call, spam=True))
    result = connector(fake.url, redis_url).send([item(spam)])

    assert isinstance(result.outcomes[spam.id], Skipped)
    assert fake.api_requests() == 0


def test_unknown_agent_falls_back_to_the_default_owner(fake: FakeOrg, redis_url: str) -> None:
    queue = fake.seed("Group", Name="Inbound calls", Type="Queue")
    sf = connector(fake.url, redis_url, default_owner_id=queue)
    sf.send([item(call("CAL1", agent="nobody@example.com"))])

    [lead] = fake.records("Lead")
    assert lead["OwnerId"] == queue


def test_names_and_emails_cannot_change_a_query(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    result = sf.send([item(call("CAL1", name="O'Brien \\ {x}", agent="o'brien@example.com' OR Email != '"))])

    delivered(result, "evt_CAL1_call.completed")
    [lead] = fake.records("Lead")
    assert lead["LastName"] == "O'Brien \\ {x}"
    assert lead["OwnerId"] != next(u["Id"] for u in fake.records("User") if u["Email"] == AGENT)


def test_every_exchange_is_recorded_without_secrets(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    result = sf.send([item(call("CAL1"))])

    paths = [exchange.url.split("/services/")[1].split("?")[0] for exchange in result.exchanges]
    assert paths[0] == "oauth2/token"
    assert "data/v64.0/composite/sobjects" in paths
    login = result.exchanges[0]
    assert login.request_body == "[credentials omitted]"
    assert login.response_body == "[session omitted]"
    assert all(exchange.status is not None and exchange.status < 300 for exchange in result.exchanges)


def test_an_anonymous_call_is_logged_without_a_lead(fake: FakeOrg, redis_url: str) -> None:
    result = connector(fake.url, redis_url).send([item(call("CAL1", number=None))])

    outcome = delivered(result, "evt_CAL1_call.completed")
    assert fake.records("Lead") == []
    [task] = fake.records("Task")
    assert task.get("WhoId") is None
    assert outcome.external_ids == {"Task": task["Id"]}
    assert "no caller number" in outcome.note


def test_a_mapping_can_match_on_an_exact_e164_field_too(fake: FakeOrg, redis_url: str) -> None:
    # A Lead whose phone fields hold nothing searchable, but whose Phone_E164__c is exact.
    existing = fake.seed("Lead", LastName="Vega", Company="V", Phone_E164__c="+14705550183")
    event = call("CAL1")
    lead = RenderedRecord("lead.yaml", "Lead", {"Phone_E164__c": "+14705550183", "LastName": "Vega"},
                          ("Phone_E164__c",), {"create_only": ["LastName"]})  # fmt: skip
    result = connector(fake.url, redis_url).send([hand_item("d1", event, lead)])

    assert delivered(result, "d1").external_ids["Lead"] == existing
    assert len(fake.records("Lead")) == 1


def test_an_existing_campaign_membership_is_not_an_error(fake: FakeOrg, redis_url: str) -> None:
    first = connector(fake.url, redis_url).send([item(call("CAL1"))])
    lead_id = delivered(first, "evt_CAL1_call.completed").external_ids["Lead"]

    # A worker without the hub's note of the membership: Salesforce answers DUPLICATE_VALUE.
    second = connector(fake.url, redis_url, MemoryStateStore()).send([item(call("CAL2"))])

    assert "already a Campaign member" in delivered(second, "evt_CAL2_call.completed").note
    assert [m["LeadId"] for m in fake.records("CampaignMember")] == [lead_id]


def test_a_task_follows_its_caller_from_lead_to_contact(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    completed = call("CAL1")
    lead_id = delivered(sf.send([item(completed)]), completed.id).external_ids["Lead"]
    contact_id = fake.convert(lead_id)

    sf.send([item(updated(completed, lead_status="good_lead"))])

    [task] = fake.records("Task")
    assert task["WhoId"] == contact_id
    assert fake.records("Lead")[0]["Status"] == "Closed - Converted"


def test_a_task_deleted_in_salesforce_is_logged_again(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url)
    completed = call("CAL1")
    sf.send([item(completed)])
    [deleted] = fake.records("Task")
    fake.http.delete(f"{fake.url}/__fake__/records/Task/{deleted['Id']}").raise_for_status()

    result = sf.send([item(updated(completed, lead_status="good_lead"))])

    [task] = fake.records("Task")
    assert task["Id"] != deleted["Id"]
    assert delivered(result, "evt_CAL1_call.completed_u").external_ids["Task"] == task["Id"]


def test_a_foreign_number_stored_in_national_format_is_found(fake: FakeOrg, redis_url: str) -> None:
    existing = fake.seed("Contact", LastName="Hughes", Phone="020 7123 4567")
    result = connector(fake.url, redis_url).send([item(call("CAL1", "+442071234567"))])

    assert delivered(result, "evt_CAL1_call.completed").external_ids["Contact"] == existing
    assert fake.records("Lead") == []


def test_a_similar_number_is_not_the_caller(fake: FakeOrg, redis_url: str) -> None:
    # Phone search matches on trailing digits; the hub keeps only the caller's own number.
    fake.seed("Lead", LastName="Other", Company="V", Phone="+44 470 555 0183")
    connector(fake.url, redis_url).send([item(call("CAL1", "+14705550183"))])

    assert len(fake.records("Lead")) == 2
