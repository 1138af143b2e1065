"""`hub preview`: the exact requests each destination would get, and what a mapping change would alter."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from hub.preview import preview_candidate, preview_file, since_time
from hub.redate import redate
from hub.settings import Settings
from tests.hubkit import PROJECT, PROVIDER_FIXTURES, Hub, make_hub

ANSWERED = PROVIDER_FIXTURES / "callrail" / "post_call_answered_web_session.json"
GCLID = "Cj0KCQjw5cOwBhCiARIsAJ5njuYq2Vd8X0pLk3mZsT9aQw1Rb7HcYfE4nUo2GgKjPzXvA6sWqRtYeLaAm0hEALw_wcB"


def shipped_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "HUB_CONFIG": str(PROJECT / "hub.yaml"),
            "HUB_DATA_DIR": str(tmp_path / "var"),
            "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
            "HUB_ENV": "development",
        }
    )


def test_preview_all_shows_every_destination_with_the_attribution(tmp_path: Path) -> None:
    recent = tmp_path / "answered.json"
    recent.write_bytes(redate(ANSWERED.read_bytes(), False, today=date.today()))
    [report] = preview_file(shipped_settings(tmp_path), "all", recent, source_id="callrail")
    by_destination = {d["destination"]: d for d in report["destinations"]}
    assert set(by_destination) == {"webhook", "salesforce", "hubspot", "ga4"}

    salesforce = json.dumps(by_destination["salesforce"]["requests"])
    records = {r["target"]: r["fields"] for r in by_destination["salesforce"]["records"]}
    for target in ("Lead", "Task"):
        assert records[target]["GCLID__c"] == GCLID
        assert records[target]["Call_Keyword__c"] == "emergency plumber decatur"
        assert records[target]["Call_Campaign__c"] == "emergency-atl"
    assert '"type": "Lead"' in salesforce
    assert '"type": "Task"' in salesforce

    hubspot = {r["target"]: r["fields"] for r in by_destination["hubspot"]["records"]}
    assert hubspot["contacts"]["callhub_gclid"] == GCLID
    assert hubspot["contacts"]["callhub_campaign"] == "emergency-atl"
    assert hubspot["contacts"]["callhub_keyword"] == "emergency plumber decatur"
    call_request = next(r for r in by_destination["hubspot"]["requests"] if "/calls/" in r["url"])
    assert "emergency-atl" in json.dumps(call_request["body"])

    [ga4_request] = by_destination["ga4"]["requests"]
    assert ga4_request["body"]["client_id"] == "1187416732.1710263921"
    event = ga4_request["body"]["events"][0]
    assert event["name"] == "phone_call"
    assert event["params"]["call_campaign"] == "emergency-atl"
    assert "refused" not in ga4_request["note"]
    assert "api_secret" not in ga4_request["url"]


def sandbox_webhook_config(mapping: Path) -> dict[str, Any]:
    """One CallRail source routed to a sandboxed webhook destination using `mapping`."""
    return {
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


def test_candidate_mapping_is_compared_with_what_was_sent(tmp_path: Path, redis_url: str) -> None:
    mappings = tmp_path / "mappings" / "webhook"
    mappings.mkdir(parents=True)
    shutil.copy(PROJECT / "tests" / "fixtures" / "mappings" / "webhook_lead.yaml", mappings / "lead.yaml")
    config = sandbox_webhook_config(mappings / "lead.yaml")
    hub: Hub
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
        hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json")
        hub.drain()
        assert hub.received()[0]["json"]["records"][0]["fields"]["campaign"] == "emergency-atl"
        candidate = tmp_path / "lead.yaml"
        candidate.write_text(
            (mappings / "lead.yaml")
            .read_text()
            .replace("campaign: {from: attribution.campaign}", "campaign: {value: Phone}")
        )
        unchanged = preview_candidate(hub.settings, "webhook", mappings / "lead.yaml", since_time("1d"))
        assert unchanged["calls_compared"] == 1
        assert unchanged["calls_changed"] == 0
        report = preview_candidate(hub.settings, "webhook", candidate, since_time("1d"))
    assert report["calls_changed"] == 1
    text = "\n".join(report["changes"][0]["lines"])
    assert "campaign" in text
    assert "emergency-atl" in text
    assert "Phone" in text


def test_options_compare_like_with_like_so_only_real_changes_show(tmp_path: Path, redis_url: str) -> None:
    from sqlalchemy import select, update

    from hub.store.models import Delivery

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    lead = (PROJECT / "tests" / "fixtures" / "mappings" / "webhook_lead.yaml").read_text()
    (mappings / "lead.yaml").write_text(
        lead.replace("match: [phone]", "match: [phone]\noptions: {tier: gold}")
    )
    config = sandbox_webhook_config(mappings / "lead.yaml")
    hub: Hub
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
        hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json")
        hub.drain()
        same = preview_candidate(hub.settings, "webhook", mappings / "lead.yaml", since_time("1d"))
        assert (same["calls_compared"], same["calls_changed"]) == (1, 0)
        # History written before options were kept: they are left out of the comparison.
        with hub.runtime.db.session() as session:
            [records] = session.scalars(select(Delivery.records)).all()
            legacy = [{k: v for k, v in r.items() if k != "options"} for r in records]
            session.execute(update(Delivery).values(records=legacy))
        legacy_report = preview_candidate(hub.settings, "webhook", mappings / "lead.yaml", since_time("1d"))
        assert legacy_report["calls_changed"] == 0
        candidate = tmp_path / "lead.yaml"
        candidate.write_text(
            (mappings / "lead.yaml").read_text().replace("{from: caller.name}", "{value: x}")
        )
        changed = preview_candidate(hub.settings, "webhook", candidate, since_time("1d"))
    assert changed["calls_changed"] == 1
    assert changed["changes"][0]["lines"][1:] == ['    ~ name: "Vega Marisol" -> "x"']
