"""The CRM fakes' lookup indexes give the answers a scan of every record gives, after changes too."""

from __future__ import annotations

from connectors.hubspot.fake.store import CrmStore
from connectors.salesforce.fake.sosl import parse_search, run_search
from connectors.salesforce.fake.store import Store


def _sosl(store: Store, digits: str) -> list[str]:
    found = run_search(
        store, parse_search(f"FIND {{{digits}}} IN PHONE FIELDS RETURNING Lead(Id), Contact(Id)")
    )
    return sorted(str(row["Id"]) for row in found)


def test_salesforce_phone_search_follows_a_changed_number_and_a_deleted_record() -> None:
    store = Store()
    moved = store.create("Lead", {"LastName": "Vega", "Company": "Acme", "Phone": "(415) 555-0100"})
    kept = store.create("Contact", {"LastName": "Ortiz", "MobilePhone": "+1 415 555 0100"})
    gone = store.create("Lead", {"LastName": "Lin", "Company": "Acme", "Phone": "4155550100"})

    assert _sosl(store, "4155550100") == sorted([moved, kept, gone])

    store.update("Lead", moved, {"Phone": "+1 212 555 0199"})
    store.delete("Lead", gone)

    assert _sosl(store, "4155550100") == [kept]
    assert _sosl(store, "2125550199") == [moved]
    assert _sosl(store, "12125550199") == [moved], "a longer number still matches by suffix"


def test_salesforce_a_restored_org_is_searchable() -> None:
    store = Store()
    lead = store.create("Lead", {"LastName": "Vega", "Company": "Acme", "Phone": "415-555-0100"})
    again = Store()
    again.restore(store.snapshot())

    assert _sosl(again, "4155550100") == [lead]


def _search(store: CrmStore, name: str, operator: str, value: str) -> list[str]:
    key = "values" if operator == "IN" else "value"
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": name, "operator": operator, key: [value] if operator == "IN" else value}
                ]
            }
        ]
    }
    return [result["id"] for result in store.search("contacts", body)["results"]]


def test_hubspot_search_and_unique_checks_follow_changed_values() -> None:
    store = CrmStore()
    contact = store.create("contacts", {"email": "Vega@Example.com", "phone": "+14155550100"})

    assert _search(store, "email", "EQ", "vega@example.com") == [contact.id]
    assert _search(store, "hs_searchable_calculated_phone_number", "IN", "4155550100") == [contact.id]

    store.update("contacts", contact.id, {"email": "ortiz@example.com", "phone": "+12125550199"})

    assert _search(store, "email", "EQ", "vega@example.com") == []
    assert _search(store, "hs_searchable_calculated_phone_number", "IN", "4155550100") == []
    assert _search(store, "hs_searchable_calculated_phone_number", "EQ", "2125550199") == [contact.id]
    found = store.find("contacts", "ORTIZ@example.com", "email")
    assert found is not None
    assert found.id == contact.id
    assert store.find("contacts", "vega@example.com", "email") is None
    other = store.create("contacts", {"email": "vega@example.com"})
    assert other.id != contact.id, "the old address is free again"


def test_hubspot_a_rolled_back_id_reused_later_is_not_found_by_its_old_values() -> None:
    store = CrmStore()
    try:
        with store.transaction():
            store.create("contacts", {"email": "vega@example.com"})
            raise RuntimeError("the batch is refused")
    except RuntimeError:
        pass
    reused = store.create("contacts", {"email": "ortiz@example.com"})

    assert _search(store, "email", "EQ", "vega@example.com") == []
    assert store.find("contacts", "vega@example.com", "email") is None
    found = store.find("contacts", "ortiz@example.com", "email")
    assert found is not None
    assert found.id == reused.id


def test_hubspot_filters_the_index_cannot_answer_still_read_every_record() -> None:
    store = CrmStore()
    contact = store.create("contacts", {"firstname": "Ana", "email": "ana@example.com"})
    body = {"filterGroups": [{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "ana"}]},
                             {"filters": [{"propertyName": "email", "operator": "EQ", "value": "x@example.com"}]}]}  # fmt: skip

    assert [r["id"] for r in store.search("contacts", body)["results"]] == [contact.id]
