"""Workers pick up fixed mappings without a restart; an invalid change keeps the old ones."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hub.replay import DeliveryFilter, replay_deliveries
from tests.hubkit import make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"
BROKEN = """version: 1
object: lead
events: [call.completed, call.updated]
match: [phone]
fields:
  phone: {from: caller.number, transform: e164}
  source_id: {from: custom.never_sent, required: true}
"""
FIXED = BROKEN.replace("{from: custom.never_sent, required: true}", "{value: callrail}")
INVALID = BROKEN.replace("required: true", "required: true, colour: blue")


def test_a_fixed_mapping_is_used_by_a_replay_without_a_restart(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    mapping = tmp_path / "lead.yaml"
    mapping.write_text(BROKEN)
    config = {
        "version": 1,
        "sources": [{"id": "callrail", "provider": "callrail", "secrets": ["${TEST_SECRET}"]}],
        "destinations": [
            {
                "id": "webhook",
                "type": "webhook",
                "credentials": {"url": "${TEST_UNSET_URL}"},
                "sandbox": True,
                "mappings": [str(mapping)],
            }
        ],
        "routes": [{"from": "*", "to": ["webhook"]}],
    }
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
        hub.post_fixture("callrail", ANSWERED)
        hub.drain()
        rejected = hub.api("/deliveries").json["items"][0]
        assert (rejected["status"], rejected["reason"]) == ("rejected", "mapping")
        first_version = rejected["mapping_version"]
        assert first_version

        mapping.write_text(INVALID)
        with caplog.at_level(logging.ERROR, logger="hub.reload"):
            assert hub.runtime.reloader.check() is False
        assert "configuration change refused" in caplog.text
        assert hub.runtime.mappings.version(hub.runtime.config.destinations["webhook"]) == first_version

        mapping.write_text(FIXED)
        assert len(replay_deliveries(hub.runtime.db, DeliveryFilter(statuses=("rejected",)))) == 1
        hub.drain()
        delivered = hub.api("/deliveries").json["items"][0]
        assert delivered["status"] == "delivered", delivered
        assert delivered["mapping_version"] not in (None, first_version)
        history = hub.api(f"/deliveries/{delivered['id']}").json["attempt_history"]
        assert [a.get("mapping_version") for a in history] == [first_version, delivered["mapping_version"]]
        [sent] = hub.received()
        assert sent["json"]["records"][0]["fields"]["source_id"] == "callrail"


def test_sighup_forces_a_reload_even_without_a_change(tmp_path: Path, redis_url: str) -> None:
    from tests.hubkit import default_config

    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", default_config()) as hub:
        before = hub.runtime.config
        assert hub.runtime.reloader.check() is False
        hub.runtime.reloader.request()
        assert hub.runtime.reloader.check() is True
        assert hub.runtime.config is not before
