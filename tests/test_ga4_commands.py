"""`hub ga4 report` over the delivery store and the GA4 sandbox, through the real Data API client."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.ga4.fake import create_app as ga4_sandbox
from hub.cli import main
from hub.local_server import LocalServer
from hub.runtime import write_sandbox_urls
from tests.hubkit import PROJECT, make_hub


def test_report_compares_what_ga4_counted_with_what_the_hub_sent(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "version": 1,
        "sources": [{"id": "callrail", "provider": "callrail", "secrets": ["${TEST_SECRET}"]}],
        "destinations": [
            {
                "id": "ga4",
                "type": "ga4",
                "credentials": {"measurement_id": "${TEST_UNSET_GA4}"},
                "sandbox": True,
                "mappings": [
                    str(PROJECT / "mappings" / "ga4" / name)
                    for name in ("phone_call.yaml", "qualified_call.yaml")
                ],
            }
        ],
        "routes": [{"from": "*", "to": ["ga4"]}],
    }
    with (
        LocalServer(ga4_sandbox()) as fake,
        make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub,
    ):
        hub.settings.data_dir.mkdir(parents=True, exist_ok=True)
        write_sandbox_urls(hub.settings.data_dir, {"ga4": fake.url})
        hub.restart(sandbox_urls={})
        hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json", recent=True)
        hub.drain()
        delivery = hub.api("/deliveries").json["items"][0]
        assert delivery["status"] == "delivered", delivery
        assert delivery["external_ids"]["ga4_events"] == "phone_call"
        stored = hub.api(f"/deliveries/{delivery['id']}").json["records"][0]["fields"]
        hashed = {name: value for name, value in stored.items() if name.startswith("user_data.")}
        assert hashed, "the shipped mapping renders the hashed caller number"
        assert set(hashed.values()) == {"<hashed>"}, "history never keeps hashed personal data"
        for name, value in {
            "HUB_CONFIG": str(hub.settings.config_path),
            "HUB_DATA_DIR": str(hub.settings.data_dir),
            "DATABASE_URL": hub.settings.database_url,
        }.items():
            monkeypatch.setenv(name, value)
        code = main(["ga4", "report", "--days", "5", "--lag-days", "0"])
        served = hub.api("/destinations/ga4/coverage").json
    output = capsys.readouterr().out
    # CallRail passes the visitor's client id but no GA4 session id: user-only, not session-attributed.
    assert served["sources"]["callrail"] == {
        "calls": 1,
        "session_attributed": 0,
        "user_only": 1,
        "unattributed": 0,
        "unattributed_pseudonymous": 0,
        "unattributed_not_sent": 0,
        "session_share": 0.0,
        "user_share": 1.0,
    }
    assert delivery["external_ids"]["attribution"] == "user"
    assert delivery["message"].startswith("user-only"), delivery
    assert "Attribution coverage" in output
    coverage_line = next(line for line in output.splitlines() if line.startswith("callrail ") and "%" in line)
    assert coverage_line.split()[-2:] == ["0%", "100%"]
    assert code == 0, output
    line = next(line for line in output.splitlines() if "phone_call" in line and "callrail" in line)
    assert line.split()[-3:] == ["1", "1", "ok"]
