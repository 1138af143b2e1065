"""Sandbox fakes keep their records in a database file across restarts, and a reset persists."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.ga4.fake.app import create_app as ga4_app
from connectors.ga4.fake.app import sandbox_state
from connectors.hubspot.fake.app import create_app as hubspot_app
from connectors.hubspot.fake.app import fake_of
from connectors.salesforce.fake.app import create_app as salesforce_app

HUBSPOT_AUTH = {"Authorization": "Bearer sandbox"}


def _salesforce(path: Path) -> tuple[object, dict[str, str]]:
    app = salesforce_app(state_path=str(path))
    token = app.config["FAKE_ORG"].new_session()
    return app, {"Authorization": f"Bearer {token}"}


def _create_leads(
    app: object, headers: dict[str, str], names: list[str], all_or_none: bool = True
) -> list[dict[str, object]]:
    records = [{"attributes": {"type": "Lead"}, "LastName": name, "Company": "Acme"} for name in names]
    answer = app.test_client().post(  # type: ignore[attr-defined]
        "/services/data/v64.0/composite/sobjects",
        headers=headers,
        json={"allOrNone": all_or_none, "records": records},
    )
    assert answer.status_code == 200
    result: list[dict[str, object]] = answer.json
    return result


def test_salesforce_a_restart_finds_every_record_and_continues_the_ids(tmp_path: Path) -> None:
    path = tmp_path / "sandbox" / "salesforce.sqlite"
    app, headers = _salesforce(path)
    [first] = _create_leads(app, headers, ["Vega"])
    [second] = _create_leads(app, headers, ["Ortiz"])

    again = salesforce_app(state_path=str(path)).config["FAKE_ORG"].store
    assert {lead["LastName"] for lead in again.all("Lead")} == {"Vega", "Ortiz"}
    [third] = _create_leads(*_salesforce(path), ["Lin"])
    assert len({first["id"], second["id"], third["id"]}) == 3, "ids continue after a restart"


def test_salesforce_rolled_back_saves_leave_the_org_and_its_file_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "salesforce.json"
    app, headers = _salesforce(path)
    _create_leads(app, headers, ["Vega"])

    results = _create_leads(app, headers, ["Ortiz", ""], all_or_none=True)  # LastName is required

    assert not any(result["success"] for result in results)
    store = app.config["FAKE_ORG"].store
    assert [lead["LastName"] for lead in store.all("Lead")] == ["Vega"]
    assert [
        lead["LastName"] for lead in salesforce_app(state_path=str(path)).config["FAKE_ORG"].store.all("Lead")
    ] == ["Vega"]


def test_salesforce_reset_is_kept_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "salesforce.json"
    app, headers = _salesforce(path)
    _create_leads(app, headers, ["Vega"])

    assert app.test_client().post("/__fake__/reset").status_code == 200

    assert salesforce_app(state_path=str(path)).config["FAKE_ORG"].store.all("Lead") == []


def _hubspot_contact(app: object, name: str) -> str:
    answer = app.test_client().post(  # type: ignore[attr-defined]
        "/crm/v3/objects/contacts", headers=HUBSPOT_AUTH, json={"properties": {"lastname": name}}
    )
    assert answer.status_code == 201, answer.json
    return str(answer.json["id"])


def test_hubspot_a_restart_finds_every_record_and_continues_the_ids(tmp_path: Path) -> None:
    path = tmp_path / "hubspot.sqlite"
    app = hubspot_app(state_path=str(path))
    first = _hubspot_contact(app, "Vega")
    second = _hubspot_contact(app, "Ortiz")

    again = hubspot_app(state_path=str(path))
    assert {r["properties"]["lastname"] for r in fake_of(again).store.records("contacts")} == {
        "Vega",
        "Ortiz",
    }
    assert int(_hubspot_contact(again, "Lin")) > max(int(first), int(second)), "ids continue after a restart"


@pytest.mark.parametrize("restarted_before_reset", [False, True])
def test_hubspot_reset_is_kept_across_a_restart(tmp_path: Path, restarted_before_reset: bool) -> None:
    path = tmp_path / "hubspot.json"
    app = hubspot_app(state_path=str(path))
    _hubspot_contact(app, "Vega")
    if restarted_before_reset:
        app = hubspot_app(state_path=str(path))

    assert app.test_client().post("/__fake__/reset").status_code == 200

    assert fake_of(hubspot_app(state_path=str(path))).store.records("contacts") == []


def test_hubspot_a_refused_batch_leaves_the_portal_and_its_file_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "hubspot.json"
    app = hubspot_app(state_path=str(path))
    existing = _hubspot_contact(app, "Vega")
    inputs = [{"properties": {"lastname": "Ortiz"}}, {"properties": {"hubspot_owner_id": "not-an-owner"}}]

    answer = app.test_client().post(
        "/crm/v3/objects/contacts/batch/create", headers=HUBSPOT_AUTH, json={"inputs": inputs}
    )

    assert answer.status_code >= 400
    for portal in (app, hubspot_app(state_path=str(path))):
        assert [r["id"] for r in fake_of(portal).store.records("contacts")] == [existing]


def test_a_store_file_from_before_the_journal_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "hubspot.json"
    path.write_text(
        '{"next_id": 1002, "objects": {"contacts": [{"id": "1001", "properties": {"lastname": "Vega"},'
        ' "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z"}]}, "associations": []}',
        encoding="utf-8",
    )
    app = hubspot_app(state_path=str(path))

    assert [r["id"] for r in fake_of(app).store.records("contacts")] == ["1001"]
    assert _hubspot_contact(app, "Ortiz") == "1002"
    assert len(fake_of(hubspot_app(state_path=str(path))).store.records("contacts")) == 2


def test_a_journal_from_before_the_database_is_imported_once(tmp_path: Path) -> None:
    earlier = tmp_path / "sandbox" / "salesforce.json"
    earlier.parent.mkdir()
    earlier.write_text(
        '{"journal":"callhub-fake","version":1}\n'
        '{"k":["Lead","00Q000000000001AAA"],"v":{"Id":"00Q000000000001AAA","LastName":"Vega","Company":"Acme"}}\n'
        '{"k":["Lead","00Q000000000002AAA"],"v":{"Id":"00Q000000000002AAA","LastName":"Gone","Company":"Acme"}}\n'
        '{"k":["Lead","00Q000000000002AAA"],"v":null}\n'
        '{"meta":{"ids":2,"ticks":3,"duplicate_rules":[]}}\n'
        '{"k":["Lead","00Q0000',  # the process died mid-write
        encoding="utf-8",
    )
    path = earlier.with_suffix(".sqlite")
    app, headers = _salesforce(path)

    assert [lead["LastName"] for lead in app.config["FAKE_ORG"].store.all("Lead")] == ["Vega"]
    [created] = _create_leads(app, headers, ["Ortiz"])
    assert created["id"] == "00Q000000000003AAA", "ids continue from the journal's counters"
    assert not earlier.exists()
    assert earlier.with_name("salesforce.json.imported").exists()
    again = salesforce_app(state_path=str(path)).config["FAKE_ORG"].store
    assert [lead["LastName"] for lead in again.all("Lead")] == ["Vega", "Ortiz"]


def test_ga4_hits_from_before_the_database_are_imported(tmp_path: Path) -> None:
    earlier = tmp_path / "ga4.json"
    earlier.write_text(
        '{"measurement_id":"G-1","received_at":"2024-01-01T00:00:00+00:00","body":{"client_id":"1.2"}}\n',
        encoding="utf-8",
    )
    state = sandbox_state(ga4_app(state_path=str(tmp_path / "ga4.sqlite")))
    state.record("G-1", {"client_id": "3.4"})

    again = sandbox_state(ga4_app(state_path=str(tmp_path / "ga4.sqlite")))
    assert [hit.body["client_id"] for hit in again.hits()] == ["1.2", "3.4"]
