"""The API, the console and `hub calls` find the same calls in the same order: one search."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from hub.cli import main
from hub.store.models import Call, Delivery
from tests.console.consolekit import add_user, login
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MISSED = "callrail/post_call_missed.json"
VOICEMAIL = "callrail/post_call_voicemail.json"


@pytest.fixture
def calls(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Three calls: `late` happened 3 days ago but its last version came an hour ago; `recent`
    happened 2 days ago; `old` 10 days ago. `recent` also has a superseded (skipped) delivery."""
    monkeypatch.setenv("DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    add_user(hub)
    login(hub.client)
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", MISSED)
    hub.post_fixture("callrail", VOICEMAIL)
    hub.drain()
    now = datetime.now(UTC)
    with hub.runtime.db.session() as session:
        by_number = {c.caller_number: c.id for c in session.scalars(select(Call))}
        ids = {"late": by_number["+14705550183"], "recent": by_number["+16785550112"]}
        (ids["old"],) = set(by_number.values()) - set(ids.values())
        times = {"late": (3 * 24, 1), "recent": (2 * 24, 2 * 24), "old": (10 * 24, 10 * 24)}
        for name, (first_h, last_h) in times.items():
            session.execute(
                update(Call)
                .where(Call.id == ids[name])
                .values(
                    first_event_at=now - timedelta(hours=first_h), last_event_at=now - timedelta(hours=last_h)
                )
            )
        current = session.scalars(select(Delivery).where(Delivery.call_id == ids["recent"])).one()
        # An older version's delivery, folded into the current one before it was sent.
        session.add(
            Delivery(
                id="dlv_superseded_recent",
                call_id=current.call_id,
                event_id=current.event_id,
                destination="elsewhere",
                status="skipped",
                reason="superseded",
                attempts=0,
                retry_base=0,
                due_at=now,
                external_ids={},
                superseded_by=current.id,
                created_at=now - timedelta(days=2),
                updated_at=now,
            )
        )
    return ids


def _api(hub: Hub, **filters: str) -> list[str]:
    response = hub.api("/events", query_string=filters)
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def _console(hub: Hub, **filters: str) -> list[str]:
    page = hub.client.get("/console/calls", query_string=filters).get_data(as_text=True)
    return re.findall(r'href="/console/calls/([^"]+)"', page)


def _cli(capsys: pytest.CaptureFixture[str], **filters: str) -> list[str]:
    argv = ["calls"]
    for name, value in filters.items():
        argv += [f"--{'id' if name == 'call_id' else name}", value]
    assert main(argv) == 0
    rows = capsys.readouterr().out.splitlines()[2:-1]
    return [row.split()[0] for row in rows]


def _all_three(hub: Hub, capsys: pytest.CaptureFixture[str]) -> Callable[..., list[str]]:
    def found(**filters: str) -> list[str]:
        api = _api(hub, **filters)
        console_filters = dict(filters)
        if "phone" in console_filters:
            console_filters["q"] = console_filters.pop("phone")
        if "call_id" in console_filters:
            console_filters["q"] = console_filters.pop("call_id")
        assert _console(hub, **console_filters) == api, filters
        assert _cli(capsys, **filters) == api, filters
        return api

    return found


def test_api_console_and_cli_agree_on_order_time_window_and_superseded_deliveries(
    hub: Hub, calls: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    found = _all_three(hub, capsys)
    # Newest call first, by when the call happened (not when its last version arrived).
    assert found() == [calls["recent"], calls["late"], calls["old"]]
    # The window is on the same time: `late` happened 3 days ago, whatever arrived since.
    assert found(since="60h") == [calls["recent"]]
    assert found(since="5d", until="60h") == [calls["late"]]
    # Only current deliveries count: the superseded one is no longer the call's state.
    assert found(status="skipped") == []
    assert found(destination="elsewhere") == []
    assert found(status="delivered", destination="webhook") == [calls["recent"], calls["late"], calls["old"]]
    assert found(phone="(678) 555-0112") == [calls["recent"]]
    assert found(call_id=calls["late"]) == [calls["late"]]
    (item,) = [i for i in hub.api("/events").json["items"] if i["id"] == calls["recent"]]
    assert item["destinations"] == {"webhook": "delivered"}


def test_a_phone_that_is_no_number_is_refused_by_the_api_and_the_cli(
    hub: Hub, calls: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    response = hub.api("/events", query_string={"phone": "555-01"})
    assert response.status_code == 400
    assert "not a usable phone number" in response.json["message"]
    assert main(["calls", "--phone", "555-01"]) == 2
    assert "--phone is not a usable phone number" in capsys.readouterr().err
    # Free text in the console is read every way it can be: here, as an id that does not exist.
    assert _console(hub, q="555-01") == []
    assert _console(hub, q="678.555.0112") == [calls["recent"]]
