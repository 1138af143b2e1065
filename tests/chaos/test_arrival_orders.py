"""Every arrival order of a call's versions gives the same merged state."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.hubkit import PROVIDER_FIXTURES, Hub, make_hub

pytestmark = pytest.mark.chaos

POST = (PROVIDER_FIXTURES / "callrail/post_call_answered_web_session.json").read_bytes()
MODIFIED = (PROVIDER_FIXTURES / "callrail/call_modified_tags_value_lead_status.json").read_bytes()


def _pre_call(body: bytes) -> bytes:
    """What CallRail's Pre-Call trigger sends: the call as it rings."""
    data = json.loads(body)
    data.update(
        {"answered": False, "call_type": "missed", "duration": "0", "recording": "", "transcription": ""}
    )
    return json.dumps(data).encode()


VERSIONS = {
    "pre_call": ("?event=pre_call", _pre_call(POST)),
    "post_call": ("", POST),
    "call_modified": ("", MODIFIED),
}
# Differ by call and by when the hub received a version, not by what the call is.
_VOLATILE = {"id", "provider_call_id", "occurred_at", "received_at"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_every_arrival_order_merges_to_the_same_state(tmp_path: Path, redis_url: str) -> None:
    orders = list(itertools.permutations(VERSIONS))
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        states = {}
        for number, order in enumerate(orders):
            call = f"CALORDER{number:02d}"
            for name in order:
                query, body = VERSIONS[name]
                personal = re.sub(rb'"resource_id": ?"[^"]+"', f'"resource_id":"{call}"'.encode(), body)
                _post(hub, query, personal)
                hub.drain()  # each version fully ingested before the next arrives
            states[order] = _state_of(hub, call)
    reference = states[orders[0]]
    for order, state in states.items():
        assert state == reference, f"arrival order {order} merged differently"
    assert reference["kind"] == "call.updated"
    assert reference["call"]["status"] == "answered", "a late pre-call never reopens the call"


def _post(hub: Hub, query: str, body: bytes) -> None:
    from datetime import UTC, datetime

    from hub.samples import request_from_bytes

    provider = hub.runtime.provider(hub.runtime.config.sources["callrail"])
    request = request_from_bytes("call.json", body, f"http://localhost/webhooks/callrail{query}")
    signed = provider.sign(request, "test-signing-secret", datetime.now(UTC))
    response = hub.client.post(f"/webhooks/callrail{query}", data=signed.body, headers=dict(signed.headers))
    assert response.status_code == 202, response.json


def _state_of(hub: Hub, provider_call_id: str) -> Any:
    calls = hub.api(f"/events?call_id={provider_call_id}").json["items"]
    assert len(calls) == 1
    detail = hub.api(f"/events/{calls[0]['id']}").json
    return _stable(detail["state"])
