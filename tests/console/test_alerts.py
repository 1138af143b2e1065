"""Alerts reach a local SMTP server and a Slack-compatible webhook once per storm (the digest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.console.alerts import evaluate
from hub.core.errors import ConfigError
from hub.dispatch import Dispatcher
from hub.store.models import AlertSent
from tests.console.receivers import SmtpServer, slack_receiver
from tests.hubkit import default_config, make_hub

RULES = [
    {"id": "failures", "when": "failures", "threshold": 3, "window_s": 600},
    {"id": "paused", "when": "paused"},
    {"id": "backlog", "when": "backlog_age", "threshold": 60},
]


def _config(smtp_port: int, slack_url: str) -> dict[str, Any]:
    config = default_config()
    config["alerts"] = {
        "email": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "from": "hub@example.test",
            "to": ["ops@example.test"],
        },
        "slack": {"webhook_url": slack_url},
        "rules": RULES,
    }
    return config


def test_a_failure_storm_sends_one_email_and_one_slack_message(tmp_path: Path, redis_url: str) -> None:
    slack, posted = slack_receiver()
    with SmtpServer() as smtp, slack:
        config = _config(smtp.port, f"{slack.url}/services/T000/B000/XXXX")
        with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
            hub.fault(400, count=40)
            for _ in range(2):
                for name in ("post_call_answered_web_session", "post_call_missed", "legacy_fields_only"):
                    hub.post_fixture("callrail", f"callrail/{name}.json", recent=True)
                hub.drain()
                # The dispatcher checks rules on every pass; a storm must not become a message each.
                dispatcher = Dispatcher(hub.runtime)
                for _ in range(5):
                    dispatcher.next_alerts = 0.0
                    dispatcher.check_alerts()
            assert len(smtp.messages) == 1
            assert len(posted) == 1
            message = smtp.messages[0]
            assert message["Subject"] == "[callhub] 3 deliveries failed in the last 10 min"
            assert message["To"] == "ops@example.test"
            assert "3 x webhook: rejected" in message.get_payload()
            assert posted[0]["text"].startswith("callhub alert [failures]: 3 deliveries failed")
            # A window after the digest, the storm still holding: exactly one more message.
            with hub.runtime.db.session() as session:
                sent = session.get(AlertSent, "failures")
                assert sent is not None
                sent.sent_at -= timedelta(seconds=601)
            for _ in range(3):
                evaluate(hub.runtime.db, hub.runtime.config.alerts)
            assert len(smtp.messages) == 2
            assert len(posted) == 2
            assert (
                evaluate(
                    hub.runtime.db, hub.runtime.config.alerts, now=datetime.now(UTC) + timedelta(hours=1)
                )
                == []
            )


def test_pauses_and_backlog_age_alert(tmp_path: Path, redis_url: str) -> None:
    from hub.pauses import pause

    slack, posted = slack_receiver()
    with SmtpServer() as smtp, slack:
        config = _config(smtp.port, f"{slack.url}/services/T000/B000/XXXX")
        with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
            with hub.runtime.db.session() as session:
                pause(session, "webhook", "ada", "maintenance", datetime.now(UTC))
            hub.post_fixture("callrail", "callrail/post_call_missed.json", recent=True)
            hub.drain()
            fired = evaluate(
                hub.runtime.db, hub.runtime.config.alerts, now=datetime.now(UTC) + timedelta(seconds=120)
            )
            assert sorted(f.rule.id for f in fired) == ["backlog", "paused"]
            subjects = sorted(m["Subject"] for m in smtp.messages)
            assert subjects[0] == "[callhub] 1 destination(s) paused"
            assert "pending deliveries has waited 2 min" in subjects[1]
            assert any("webhook paused by ada: maintenance" in p["text"] for p in posted)


def test_alert_rules_are_validated(tmp_path: Path, redis_url: str) -> None:
    config = default_config()
    config["alerts"] = {"rules": [{"id": "x", "when": "sometimes"}], "pager": {}}
    (tmp_path / "var").mkdir()
    with (
        pytest.raises(ConfigError) as raised,
        make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'h.db'}", config),
    ):
        pass
    text = "\n".join(raised.value.problems)
    assert "unknown key 'pager'" in text
    assert "when must be one of failures, paused, backlog_age" in text
    assert yaml.safe_dump(config)
