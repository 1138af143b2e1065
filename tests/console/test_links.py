"""CRM record links on the call page."""

from __future__ import annotations

from hub.console.links import record_links


def test_salesforce_links_join_the_instance_url_and_the_record_id() -> None:
    ids = {
        "Lead": "00Q000000000006AAA",
        "Task": "00T000000000017AAA",
        "instance_url": "https://acme.my.salesforce.com/",
    }
    assert record_links("salesforce", ids) == [
        ("Salesforce Lead", "https://acme.my.salesforce.com/00Q000000000006AAA"),
        ("Salesforce Task", "https://acme.my.salesforce.com/00T000000000017AAA"),
    ]


def test_hubspot_links_name_the_portal_and_object_type() -> None:
    ids = {"contacts": "1002", "calls": "1007", "portal_id": "1234567"}
    assert record_links("hubspot", ids) == [
        ("HubSpot contacts", "https://app.hubspot.com/contacts/1234567/record/0-1/1002"),
        ("HubSpot calls", "https://app.hubspot.com/contacts/1234567/record/0-48/1007"),
    ]


def test_without_an_instance_or_portal_there_is_no_link() -> None:
    assert record_links("salesforce", {"Lead": "00Q000000000006AAA"}) == []
    assert record_links("hubspot", {"contacts": "1002"}) == []
    assert (
        record_links("salesforce", {"Lead": "00Q000000000006AAA", "instance_url": "javascript:alert(1)"})
        == []
    )
