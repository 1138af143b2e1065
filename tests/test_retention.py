"""`hub prune` and `hub forget`, on SQLite and PostgreSQL, through the real pipeline."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from connectors.hubspot.contacts import contact_state_key
from connectors.salesforce.lookup import last_call_state_key, person_state_key
from hub.cli import main
from hub.config import RetentionConfig
from hub.erasure import NotAPhoneNumber, forget
from hub.prune import prune, prune_if_due
from hub.store.models import (
    Attempt,
    AuditEntry,
    Call,
    ConnectorState,
    Delivery,
    Event,
    ForgottenCaller,
    Receipt,
)
from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"  # caller +1 470-555-0183
MISSED = "callrail/post_call_missed.json"  # caller +1 678-555-0112


def count(hub: Hub, model: type) -> int:
    with hub.runtime.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_forget_erases_a_caller_everywhere_and_a_late_redelivery_stays_out(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", MISSED)
    # An unparseable delivery that still names the caller (formatted differently).
    broken = hub.post_fixture("callrail", ANSWERED, edit=lambda body: body[:-40])
    assert broken.status_code < 300
    hub.drain()
    assert count(hub, Call) == 2
    assert count(hub, Receipt) == 3

    for name, value in {
        "DATABASE_URL": hub.settings.database_url,
        "HUB_DATA_DIR": str(hub.settings.data_dir),
        "HUB_CONFIG": str(hub.settings.config_path),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["forget", "(470) 555-0183"]) == 0
    printed = capsys.readouterr().out
    for line in (
        "calls: 1",
        "versions: 1",
        "deliveries: 1",
        "attempts: 1",
        "receipts: 1",
        "unparsed receipts: 1",
    ):
        assert line in printed, printed

    with hub.runtime.db.read_session() as session:
        assert session.scalars(select(Call.caller_number)).all() == ["+16785550112"], "the other caller stays"
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
        assert session.scalar(select(func.count()).select_from(Attempt)) == 1
        [tombstone] = session.scalars(select(ForgottenCaller.number_hash)).all()
        assert "4705550183" not in tombstone
        [entry] = session.scalars(select(AuditEntry)).all()
        assert (entry.action, entry.actor.startswith("cli:")) == ("forget", True)
        assert entry.detail["calls"] == 1
        assert "4705550183" not in str(entry.detail)

    # The provider redelivers the erased call later: accepted (2xx), but nothing of it is kept.
    assert hub.post_fixture("callrail", ANSWERED).status_code < 300
    hub.drain()
    assert count(hub, Call) == 1
    with hub.runtime.db.read_session() as session:
        late = session.scalars(select(Receipt).order_by(Receipt.id.desc())).first()
        assert late is not None
        assert (late.status, late.body, late.headers) == ("forgotten", b"", {})
    assert len(hub.received()) == 2, "no new send for the forgotten caller"


def test_forget_through_the_api_is_audited_and_refuses_a_non_number(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    answer = hub.api("/forget", method="POST", json={"phone": "+1 470 555 0183"})
    assert answer.status_code == 200
    assert answer.json["calls"] == 1
    assert hub.api("/forget", method="POST", json={"phone": "plumber"}).status_code == 400
    assert hub.api("/forget", method="POST", json={}).status_code == 400
    [entry] = hub.api("/audit").json["items"]
    assert entry["actor"].startswith("api:")
    assert (entry["action"], entry["detail"]["calls"]) == ("forget", 1)
    with pytest.raises(NotAPhoneNumber):
        forget(hub.runtime.db, "12", actor="test")
    paths = hub.client.get("/api/openapi.json").json["paths"]
    assert {"/api/forget", "/api/prune"} <= set(paths)


def test_forget_erases_connector_state_keyed_by_the_numbers_digest(hub: Hub) -> None:
    now = datetime.now(UTC)
    # The keys the connectors themselves write for the caller, and one for another caller.
    keys = [
        person_state_key("+14705550183"),
        last_call_state_key("+14705550183"),
        contact_state_key("+14705550183"),
        "seen:14705550183",
    ]
    other = person_state_key("+16785550112")
    with hub.runtime.db.session() as session:
        for key in [*keys, other]:
            session.add(ConnectorState(destination="crm", key=key, value={"id": "1"}, updated_at=now))
    report = forget(hub.runtime.db, "(470) 555-0183", actor="test")
    assert report.connector_state == 4
    with hub.runtime.db.read_session() as session:
        assert session.scalars(select(ConnectorState.key)).all() == [other]


def test_prune_empties_exchanges_first_then_attempts_then_old_calls_but_keeps_pending_work(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    hub.fault(503, count=20)
    hub.post_fixture("callrail", MISSED)
    hub.drain()
    with hub.runtime.db.read_session() as session:
        assert sorted(session.scalars(select(Delivery.status))) == ["delivered", "pending"]
    attempts = count(hub, Attempt)
    assert attempts >= 2
    retention = RetentionConfig(
        exchanges_days=30, attempts_days=90, calls_days=365, unparsed_receipts_days=90
    )
    now = datetime.now(UTC)

    report = prune(hub.runtime.db, retention, actor="test", now=now + timedelta(days=31))
    assert report.attempt_exchanges_emptied == attempts
    assert (report.attempts, report.calls) == (0, 0)
    with hub.runtime.db.read_session() as session:
        assert all(e == [] for e in session.scalars(select(Attempt.exchanges)))

    report = prune(hub.runtime.db, retention, actor="test", now=now + timedelta(days=91))
    assert (report.attempt_exchanges_emptied, report.attempts, report.calls) == (0, attempts, 0)

    report = prune(hub.runtime.db, retention, actor="test", now=now + timedelta(days=400))
    assert (report.calls, report.versions, report.deliveries, report.receipts) == (1, 1, 1, 1)
    with hub.runtime.db.read_session() as session:
        assert session.scalars(select(Call.caller_number)).all() == ["+16785550112"], "pending work is kept"
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions == ["prune", "prune", "prune"]


def test_the_dispatcher_prunes_once_a_day(hub: Hub) -> None:
    client = redis.Redis.from_url(hub.runtime.redis_url)
    retention = hub.runtime.config.retention
    today = datetime.now(UTC)
    assert prune_if_due(hub.runtime.db, retention, client, today) is True
    assert prune_if_due(hub.runtime.db, retention, client, today) is False
    assert prune_if_due(hub.runtime.db, retention, client, today + timedelta(days=1)) is True
    client.close()
    assert count(hub, AuditEntry) == 2
    answer = hub.api("/prune", method="POST")
    assert answer.status_code == 200
    assert answer.json["calls"] == 0


def test_backup_copies_a_live_sqlite_database_and_the_generated_secrets(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    secrets = hub.settings.data_dir / "generated-secrets.json"
    secrets.parent.mkdir(parents=True, exist_ok=True)
    secrets.write_text('{"admin_token": "x"}')
    monkeypatch.setenv("DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    code = main(["backup", str(tmp_path / "backups")])
    printed = capsys.readouterr()
    if not hub.settings.database_url.startswith("sqlite"):
        assert code == 2
        assert "pg_dump" in printed.err
        return
    assert code == 0, printed.err
    [copy] = (tmp_path / "backups").glob("hub-*.db")
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT count(*) FROM calls").fetchone() == (1,)
    [kept] = (tmp_path / "backups").glob("generated-secrets-*.json")
    assert kept.read_text() == '{"admin_token": "x"}'
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
