"""Refused deliveries are kept, listed, counted, and recovered once the secret is fixed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.refusals import RefusalPolicy
from hub.runtime import load_hub_config
from hub.samples import request_from_bytes
from hub.store.models import Receipt
from tests.hubkit import ADMIN_TOKEN, PROJECT, PROVIDER_FIXTURES, SECRET, Hub, default_config, make_hub

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


def test_refusals_past_their_retention_are_deleted(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED, secret=WRONG)
    with hub.runtime.db.session() as session:
        session.execute(update(Receipt).values(received_at=datetime.now(UTC) - timedelta(days=30)))
    hub.runtime.refusals._last_purge = 0.0
    hub.post_fixture("callrail", "callrail/post_call_missed.json", secret=WRONG)
    assert [r["error_reason"] for r in _refused(hub)] == ["bad_signature"]
    assert len(hub.api("/receipts").json["items"]) == 1


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
