"""The shipped Grafana dashboard and alert rules parse and use only metrics the hub exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.hubkit import Hub

DOCS = Path(__file__).resolve().parent.parent / "docs" / "monitoring"
_NAME = re.compile(r"\bhub_[a-z_]+")


def exported(hub: Hub) -> set[str]:
    hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json")
    hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json", secret="wrong")
    hub.drain()
    names: set[str] = set()
    for family in text_string_to_metric_families(hub.client.get("/metrics").get_data(as_text=True)):
        names |= {sample.name for sample in family.samples} | {family.name}
    return names


def test_dashboard_and_alerts_use_exported_metrics(hub: Hub) -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    rules = yaml.safe_load((DOCS / "alerts.yml").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert all(rule.get("alert") for group in rules["groups"] for rule in group["rules"])
    used = {name for expression in expressions for name in _NAME.findall(expression)}
    assert used, "the dashboard queries hub metrics"
    missing = used - exported(hub)
    assert not missing, f"not exported by the hub: {sorted(missing)}"
