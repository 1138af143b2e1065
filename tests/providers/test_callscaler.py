"""CallScaler via its YAML definition: token header, event/status vocabulary."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.core.errors import SignatureError
from tests.providers.support import FIXTURES, make_provider
from webhooks.base import Headers, InboundRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def delivery(headers: dict[str, str] | None = None, **changes: object) -> InboundRequest:
    data = json.loads((FIXTURES / "callscaler" / "call_completed.json").read_text())
    data.update(changes)
    body = json.dumps(data).encode()
    return InboundRequest("POST", "https://hub.example.com/webhooks/cs", Headers(headers or {}), body, NOW)


@pytest.mark.parametrize(
    ("event", "status", "expected"),
    [
        ("call.completed", "answered", "answered"),
        ("call.failed", None, "failed"),
        ("call.voicemail", "", "voicemail"),
        ("call.missed", "no-answer", "missed"),
        ("call.missed", "strange", "missed"),
    ],
)
def test_status_from_status_or_event(event: str, status: str | None, expected: str) -> None:
    [normalized] = make_provider("callscaler").parse(delivery(event=event, status=status))
    assert (normalized.kind, normalized.call.status) == ("call.completed", expected)


def test_unknown_event_is_kept_as_unknown() -> None:
    [normalized] = make_provider("callscaler").parse(delivery(event="call.routed"))
    assert normalized.kind == "unknown"


def test_secret_travels_in_a_custom_header() -> None:
    provider = make_provider("callscaler")
    provider.verify(delivery({"X-Hub-Token": "s3cret"}), ["old", "s3cret"], NOW)
    with pytest.raises(SignatureError):
        provider.verify(delivery({"X-Hub-Token": "nope"}), ["s3cret"], NOW)
    with pytest.raises(SignatureError):
        provider.verify(delivery(token="s3cret"), ["s3cret"], NOW)
