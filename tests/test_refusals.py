"""Refused deliveries are kept, listed, counted, and recovered once the secret is fixed."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text, update
from sqlalchemy.exc import OperationalError

from hub.prune import prune
from hub.refusals import RefusalKeeper, RefusalPolicy
from hub.runtime import load_hub_config
from hub.samples import request_from_bytes
from hub.store.db import Database
from hub.store.describe import storage_error_detail
from hub.store.models import Receipt
from tests.hubkit import ADMIN_TOKEN, PROJECT, PROVIDER_FIXTURES, SECRET, Hub, default_config, make_hub
from webhooks.base import Headers, InboundRequest

ANSWERED = "callrail/post_call_answered_web_session.json"
WRONG = "a-mistyped-signing-key"


def _config_with_token_source() -> dict[str, object]:
    config = default_config()
    sources = config["sources"]
    assert isinstance(sources, list)
    sources.append({"id": "retreaver", "provider": "retreaver", "secrets": ["${TEST_SECRET}"]})
    return config


@contextmanager
def _hub(tmp_path: Path, redis_url: str, database_url: str) -> Iterator[Hub]:
    with make_hub(tmp_path, redis_url, database_url, _config_with_token_source()) as hub:
        yield hub


@contextmanager
def _secret_fixed(hub: Hub, value: str) -> Iterator[None]:
    """The operator sets the right secret and restarts: the configuration is read again."""
    os.environ["TEST_SECRET"] = value
    try:
        hub.runtime.config = load_hub_config(hub.settings)
        hub.runtime._providers.clear()
        yield
    finally:
        os.environ["TEST_SECRET"] = SECRET
        hub.runtime.config = load_hub_config(hub.settings)
        hub.runtime._providers.clear()


def _refused(hub: Hub) -> list[dict[str, object]]:
    return list(hub.api("/receipts?status=refused").json["items"])


def test_bad_signature_is_kept_listed_counted_and_recovered_after_the_secret_is_fixed(
    tmp_path: Path, redis_url: str, database_url: str
) -> None:
    with _hub(tmp_path, redis_url, database_url) as hub:
        # The hub is configured with a key CallRail never used: every delivery is refused.
        response = hub.post_fixture("callrail", ANSWERED, secret=WRONG)
        assert response.status_code == 401
        refused = _refused(hub)
        assert len(refused) == 1
        assert refused[0]["error_reason"] == "bad_signature"
        assert refused[0]["source"] == "callrail"
        metrics = hub.client.get("/metrics").get_data(as_text=True)
        assert 'hub_refused_deliveries_total{outcome="kept",source="callrail"}' in metrics
        hub.drain()
        assert hub.received() == [], "nothing refused is ever delivered"
        # Replaying while the secret is still wrong changes nothing.
        still = hub.api("/receipts/replay", method="POST", json={"status": "refused"}).json
        assert still["replayed"] == 0
        assert still["still_refused"] == [refused[0]["id"]]
        # The operator fixes the secret: the refused delivery now verifies and goes through.
        with _secret_fixed(hub, WRONG):
            replayed = hub.api("/receipts/replay", method="POST", json={"status": "refused"}).json
        assert replayed["ids"] == [refused[0]["id"]]
        hub.drain()
        assert len(hub.received()) == 1
        assert hub.api(f"/receipts/{refused[0]['id']}").json["status"] == "parsed"
        assert _refused(hub) == []


def test_the_provider_retrying_after_the_fix_makes_the_kept_copy_a_duplicate(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED, secret=WRONG)
    (refused,) = _refused(hub)
    assert hub.post_fixture("callrail", ANSWERED).status_code == 202  # sent again, right key
    with _secret_fixed(hub, WRONG):
        result = hub.api("/receipts/replay", method="POST", json={"status": "refused"}).json
    assert result["duplicates"] == [refused["id"]]
    hub.drain()
    assert len(hub.received()) == 1


def test_stale_and_unknown_source_refusals_are_kept_with_their_reason(hub: Hub) -> None:
    path = PROVIDER_FIXTURES / "ctm/call_end_answered_web_session.json"
    request = request_from_bytes(path.name, path.read_bytes(), "http://localhost/webhooks/ctm")
    provider = hub.runtime.provider(hub.runtime.config.sources["ctm"])
    old = provider.sign(request, SECRET, datetime.now(UTC) - timedelta(hours=2))
    assert hub.client.post("/webhooks/ctm", data=old.body, headers=dict(old.headers)).status_code == 401
    assert hub.client.post("/webhooks/nosuchsource", data=b'{"id": 1}').status_code == 404
    reasons = {r["source"]: r["error_reason"] for r in _refused(hub)}
    assert reasons == {"ctm": "stale_signature", "nosuchsource": "unknown_source"}
    # Still stale when checked again: it is judged by when it arrived.
    result = hub.api("/receipts/replay", method="POST", json={"status": "refused"}).json
    assert result["replayed"] == 0
    assert sorted(result["still_refused"]) == sorted(r["id"] for r in _refused(hub))
    hub.drain()
    assert hub.received() == []


def test_token_refusals_keep_no_credential_in_clear_and_verify_once_fixed(
    tmp_path: Path, redis_url: str
) -> None:
    with _hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        url = "/webhooks/retreaver?token=the-real-token&event=ended&call_uuid=abc-123&caller=%2B15550101234"
        assert hub.client.get(url).status_code == 401
        (refused,) = _refused(hub)
        detail = hub.api(f"/receipts/{refused['id']}").json
        assert "the-real-token" not in str(detail)
        with hub.runtime.db.read_session() as session:
            stored = session.get(Receipt, refused["id"])
            assert stored is not None
            assert "the-real-token" not in f"{stored.url}{stored.headers}{stored.credential_digest}"
        one = hub.api(f"/receipts/{refused['id']}/replay", method="POST")
        assert one.status_code == 409
        assert one.json["error"] == "bad_signature"
        with _secret_fixed(hub, "the-real-token"):
            assert hub.api(f"/receipts/{refused['id']}/replay", method="POST").status_code == 202
        hub.drain()
        assert len(hub.received()) == 1


def test_refusals_are_bounded_per_source_and_by_size(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_REFUSED_HOURLY_CAP", "3")
    monkeypatch.setenv("HUB_REFUSED_MAX_BODY_BYTES", "2000")
    with _hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        assert hub.runtime.refusals.policy == RefusalPolicy(2000, 3, RefusalPolicy().retention)
        for n in range(5):
            body = f'{{"resource_id": "CAL{n}"}}'.encode()
            hub.client.post("/webhooks/callrail", data=body, headers={"Signature": "forged"})
        for n in range(5):
            hub.client.post(f"/webhooks/random{n}", data=b"{}")
        hub.client.post("/webhooks/callrail", data=b"x" * 3000, headers={"Signature": "forged"})
        refused = _refused(hub)
        assert sum(1 for r in refused if r["source"] == "callrail") == 3
        assert sum(1 for r in refused if str(r["source"]).startswith("random")) == 3, (
            "unknown paths share one cap"
        )
        metrics = hub.client.get("/metrics").get_data(as_text=True)
        assert 'hub_refused_deliveries_total{outcome="over_cap",source="callrail"}' in metrics
        assert 'hub_refused_deliveries_total{outcome="too_large",source="callrail"}' in metrics


def test_refusals_past_their_retention_are_deleted_by_prune_never_in_the_request(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED, secret=WRONG)
    with hub.runtime.db.session() as session:
        session.execute(update(Receipt).values(received_at=datetime.now(UTC) - timedelta(days=30)))
    statements = _statements(hub)
    hub.post_fixture("callrail", "callrail/post_call_missed.json", secret=WRONG)
    assert not [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert len(_refused(hub)) == 2, "the request path leaves the old refusal to hub prune"
    report = prune(hub.runtime.db, hub.runtime.config.retention, actor="test")
    assert report.refused_receipts == 1
    assert [r["error_reason"] for r in _refused(hub)] == ["bad_signature"]
    assert len(hub.api("/receipts").json["items"]) == 1
    shorter = prune(
        hub.runtime.db, hub.runtime.config.retention, actor="test", refused_retention=timedelta(0)
    )
    assert shorter.refused_receipts == 1


def _statements(hub: Hub) -> list[str]:
    """Every SQL statement the hub runs from now on (on both its engines)."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    for engine in {hub.runtime.db.engine, hub.runtime.db.read_engine}:
        event.listen(engine, "before_cursor_execute", record)
    return seen


def _retreaver_refusal(hub: Hub, n: int) -> int:
    url = f"/webhooks/retreaver?token=not-the-token&event=ended&call_uuid=flood-{n}&caller=%2B15550101234"
    return int(hub.client.get(url).status_code)


def test_once_the_cap_is_reached_a_refusal_costs_no_hashing_and_no_query(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_REFUSED_HOURLY_CAP", "2")
    stretched: list[int] = []
    real = hashlib.pbkdf2_hmac

    def counting(*args: Any, **kwargs: Any) -> bytes:
        stretched.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting)
    with _hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        assert [_retreaver_refusal(hub, n) for n in range(2)] == [401, 401]
        assert len(stretched) == 2, "each kept token refusal keeps a salted digest"
        assert _retreaver_refusal(hub, 2) == 401  # finds the cap reached
        statements = _statements(hub)
        stretched.clear()
        assert [_retreaver_refusal(hub, n) for n in range(3, 8)] == [401] * 5
        assert stretched == [], "nothing is hashed for a refusal that is not kept"
        assert not [s for s in statements if "receipts" in s], "the cap is known to hold: no query"
        assert len(_refused(hub)) == 2


def test_a_refusal_that_cannot_be_stored_logs_why_without_secrets_or_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keeper = RefusalKeeper(Database(f"sqlite:///{tmp_path / 'never-migrated.db'}"))
    request = InboundRequest(
        "GET",
        "http://localhost/webhooks/r?token=the-real-token&caller=%2B14705550183",
        Headers({"X-Api-Key": "the-real-key"}),
        b'{"caller": "+14705550183"}',
        datetime.now(UTC),
    )
    with caplog.at_level(logging.ERROR, logger="hub.refusals"):
        assert keeper.keep("r", None, request, "unknown_source", "no source 'r'") is None
    (record,) = [r for r in caplog.records if r.getMessage() == "cannot keep refused delivery"]
    detail = str(getattr(record, "detail", ""))
    assert detail.startswith("OperationalError/OperationalError"), detail
    assert "no such table: receipts" in detail
    logged = f"{record.__dict__}"
    for secret in ("the-real-token", "the-real-key", "4705550183"):
        assert secret not in logged


def test_storage_error_detail_masks_digit_runs(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(OperationalError) as raised, db.session() as session:
        session.execute(text("SELECT 1 FROM caller_14705550183"))
    assert storage_error_detail(raised.value) == (
        "OperationalError/OperationalError (SQLITE_ERROR): no such table: caller_#"
    )


def test_hub_replay_receipts_status_refused_on_the_command_line(tmp_path: Path, redis_url: str) -> None:
    with _hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        hub.post_fixture("callrail", ANSWERED, secret=WRONG)
        env = {
            **os.environ,
            "HUB_DATA_DIR": str(tmp_path / "var"),
            "HUB_CONFIG": str(hub.settings.config_path),
            "DATABASE_URL": hub.settings.database_url,
            "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
            "TEST_SECRET": WRONG,
        }
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", "replay", "--receipts", "--status", "refused"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=PROJECT,
        )
        assert done.returncode == 0, done.stderr
        assert "1 refused deliveries verify" in done.stdout
        hub.drain()
        assert len(hub.received()) == 1


def test_forgetting_a_caller_erases_their_refused_deliveries(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED, secret=WRONG)
    assert len(_refused(hub)) == 1
    report = hub.api("/forget", method="POST", json={"phone": "(470) 555-0183"}).json
    assert report["unparsed_receipts"] == 1
    assert _refused(hub) == [], "a refused delivery carries the caller's number: it is erased too"


def test_a_refused_delivery_of_a_forgotten_caller_is_dropped_once_it_verifies(hub: Hub) -> None:
    hub.api("/forget", method="POST", json={"phone": "+14705550183"})
    hub.post_fixture("callrail", ANSWERED, secret=WRONG)  # a late redelivery, signed with the old key
    (late,) = _refused(hub)
    with _secret_fixed(hub, WRONG):
        assert hub.api("/receipts/replay", method="POST", json={"status": "refused"}).json["ids"] == [
            late["id"]
        ]
        hub.drain()
    assert hub.received() == []
    stored = hub.api(f"/receipts/{late['id']}").json
    assert stored["status"] == "forgotten"
    assert stored["events_count"] in (0, None)
