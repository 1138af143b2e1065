"""The whole path into HubSpot: signed CallRail webhook -> store -> RQ worker -> connector -> fake portal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import event, func, select

from connectors.hubspot.fake import FakeHubSpot, create_app, fake_of
from hub import jobs
from hub.http import create_app as hub_app
from hub.local_server import LocalServer
from hub.runtime import Runtime
from hub.settings import Settings
from hub.store.db import migrate_schema
from hub.store.models import ConnectorState
from tests.hubkit import ADMIN_TOKEN, PROJECT, SECRET, Hub, default_config

ANSWERED = "callrail/post_call_answered_web_session.json"
MODIFIED = "callrail/call_modified_tags_value_lead_status.json"


@pytest.fixture
def hub_and_portal(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Hub, FakeHubSpot]]:
    config = default_config(webhook=False)
    config["destinations"] = [
        {
            "id": "hubspot",
            "type": "hubspot",
            "credentials": {"access_token": "${TEST_UNSET_HUBSPOT_TOKEN}"},
            "sandbox": True,
            "mappings": [str(PROJECT / "mappings" / "hubspot" / n) for n in ("contact.yaml", "call.yaml")],
            "rate_limit": {"requests": 100, "per_s": 10},
            "rate_limits": {"search": {"requests": 5, "per_s": 1}},
            # Each step here follows one call: no waiting for fuller batches.
            "batch_window_s": 0,
        }
    ]
    config["routes"] = [{"from": "*", "to": ["hubspot"]}]
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("TEST_SECRET", SECRET)
    monkeypatch.delenv("TEST_UNSET_HUBSPOT_TOKEN", raising=False)
    settings = Settings.from_env(
        {
            "HUB_DATA_DIR": str(tmp_path / "var"),
            "HUB_CONFIG": str(config_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "REDIS_URL": redis_url,
            "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "HUB_LOG_FORMAT": "text",
            "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
        }
    )
    migrate_schema(settings.database_url)
    app = create_app()
    with LocalServer(app) as fake_server:
        runtime = Runtime.from_settings(settings, sandbox_urls={"hubspot": fake_server.url})
        try:
            yield Hub(settings, runtime, hub_app(runtime).test_client(), fake_server), fake_of(app)
        finally:
            jobs.use_runtime(None)
            runtime.close()


def test_webhook_to_hubspot_contact_and_call_then_update_in_place(hub_and_portal):
    hub, portal = hub_and_portal

    assert hub.post_fixture("callrail", ANSWERED).status_code == 202
    hub.drain()
    assert hub.post_fixture("callrail", MODIFIED).status_code == 202
    hub.drain()

    [contact] = portal.store.records("contacts")
    [call] = portal.store.records("calls")
    assert contact["properties"]["hs_calculated_phone_number"] == "+14705550183"
    assert contact["properties"]["callhub_campaign"] == "emergency-atl"
    # The call.updated: outcome on the contact, notes on the same engagement.
    assert contact["properties"]["hs_lead_status"] == "CONNECTED"
    assert call["properties"]["hs_call_body"].startswith("Booked 2pm same-day")
    # The agent has no HubSpot seat in the sandbox portal: written unowned, not rejected.
    assert "hubspot_owner_id" not in contact["properties"]
    assert call["associations"]["contacts"] == [contact["id"]]
    assert call["properties"]["callhub_call_id"].endswith("CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1")
    events = hub.api("/events").json
    assert {item["destinations"]["hubspot"] for item in events["items"]} == {"delivered"}


def test_connector_state_is_stored_per_batch_not_per_record(hub_and_portal):
    """Five new callers in one batch: their contact and call ids are remembered, in two writes
    (one as the callers' locks are released, one when the batch ends), not one per record."""
    hub, portal = hub_and_portal
    writes: list[int] = []

    def count(_conn, _cursor, statement, parameters, _context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO CONNECTOR_STATE"):
            writes.append(len(parameters) if executemany else 1)

    for index in range(5):

        def edit(body: bytes, index: int = index) -> bytes:
            text = body.decode().replace("CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1", f"CALbatch{index:04d}")
            return text.replace("+14705550183", f"+1470555{index:04d}").encode()

        assert hub.post_fixture("callrail", ANSWERED, edit=edit).status_code == 202
    event.listen(hub.runtime.db.engine, "before_cursor_execute", count)
    try:
        hub.drain()
    finally:
        event.remove(hub.runtime.db.engine, "before_cursor_execute", count)

    assert len(portal.store.records("contacts")) == 5
    assert len(portal.store.records("calls")) == 5
    assert len(writes) == 2, writes
    # A contact id and a call id per caller.
    assert sum(writes) >= 10
    with hub.runtime.db.read_session() as session:
        stored = session.scalar(select(func.count()).select_from(ConnectorState))
    assert stored is not None
    assert stored >= 10


def test_a_batch_reads_connector_state_in_a_few_queries_whatever_its_size(hub_and_portal):
    """New callers, all taken by one agent: the contact, owner, provenance and call state of a
    batch is read in a fixed number of queries, not in one or more per caller."""
    hub, portal = hub_and_portal
    engines = {id(e): e for e in (hub.runtime.db.engine, hub.runtime.db.read_engine)}.values()

    def state_reads(first: int, count: int) -> int:
        selects: list[str] = []

        def record(_conn, _cursor, statement, _parameters, _context, _executemany):  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("SELECT") and "connector_state" in statement:
                selects.append(statement)

        for index in range(first, first + count):

            def edit(body: bytes, index: int = index) -> bytes:
                text = body.decode().replace("CAL3f1e6c0a9b2d47e8a1c5d9f07b64e2a1", f"CALbatch{index:04d}")
                return text.replace("+14705550183", f"+1470555{index:04d}").encode()

            assert hub.post_fixture("callrail", ANSWERED, edit=edit).status_code == 202
        for engine in engines:
            event.listen(engine, "before_cursor_execute", record)
        try:
            hub.drain()
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", record)
        return len(selects)

    # The first batch also learns the portal's call key mode and the agent's owner: both remembered.
    small = state_reads(0, 2)
    large = state_reads(2, 12)

    assert len(portal.store.records("contacts")) == 14
    assert len(portal.store.records("calls")) == 14
    assert large == small
    assert large <= 8
