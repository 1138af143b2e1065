"""Whatever arrives at /webhooks/<source>, the hub answers 2xx/4xx and keeps an explained record."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.samples import payload_files
from tests.hubkit import PROJECT, make_hub
from webhooks import registry as provider_registry

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
PROVIDERS = provider_registry.available(PROJECT / "mappings")


def _fixture_keys() -> list[str]:
    """The top-level field names of every registered provider's fixture payloads."""
    keys: set[str] = set()
    for slug in PROVIDERS:
        for path in payload_files(PROJECT / "tests" / "fixtures" / "providers" / slug):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".form":
                keys.update(name for name, _ in parse_qsl(text.strip(), keep_blank_values=True))
                continue
            payload = json.loads(text)
            if isinstance(payload, dict):
                keys.update(payload)
    return sorted(keys)


PROVIDER_KEYS = st.sampled_from(_fixture_keys())
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(PROVIDER_KEYS, JSON_VALUES, max_size=10).map(lambda v: json.dumps(v).encode()),
)


def test_random_payloads_never_5xx_and_failures_are_explained(tmp_path: Path, redis_url: str) -> None:
    config = {
        "version": 1,
        "sources": [
            {"id": slug, "provider": slug, "insecure": True}
            # Every provider the registry knows, YAML-defined ones included.
            for slug in PROVIDERS
        ],
        "destinations": [
            {"id": "webhook", "type": "webhook", "credentials": {"url": "${TEST_UNSET_URL}"}, "sandbox": True}
        ],
        "routes": [{"from": "*", "to": ["webhook"]}],
    }
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            source=st.sampled_from([s["id"] for s in config["sources"]]), body=PAYLOADS, form=st.booleans()
        )
        def post(source: str, body: bytes, form: bool) -> None:
            content_type = "application/x-www-form-urlencoded" if form else "application/json"
            response = hub.client.post(
                f"/webhooks/{source}", data=body, headers={"Content-Type": content_type}
            )
            assert response.status_code < 500, response.data

        post()
        hub.drain()
        receipts = hub.api("/receipts?limit=500").json["items"]
        assert receipts, "unsigned sources accept and store everything"
        assert all(r["status"] in ("parsed", "failed", "ignored") for r in receipts), (
            "nothing is left unprocessed"
        )
        for receipt in receipts:
            if receipt["status"] == "failed":
                assert receipt["error_reason"] in ("bad_payload", "not_understood")
                assert receipt["error"]
            if receipt["status"] == "ignored":
                assert receipt["error_reason"] == "not_a_call"
                assert receipt["error"]
