"""The webhook destination: what it sends, how it signs, and what its answers mean."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, request

from connectors.base import Delivered, DestinationSettings, MemoryContext, PermanentError
from connectors.webhook import WebhookConnector
from connectors.webhook.fake import create_app
from connectors.webhook.fake.app import signed_by
from connectors.webhook.signing import header_value, verify
from hub.core.records import RenderedRecord
from hub.core.secrets import Secret
from hub.local_server import LocalServer
from tests.connectors.contract import FakeControl, items

SECRET = "webhook-test-secret-1"


def webhook(url: str, *secrets: str, **options: Any) -> WebhookConnector:
    credentials = {"url": Secret(url), "secret": Secret(",".join(secrets or (SECRET,)))}
    settings = DestinationSettings("hook", "webhook", credentials, options=options, timeout_s=5.0)
    return WebhookConnector(settings, MemoryContext())


@pytest.fixture(scope="module")
def receiver() -> Iterator[LocalServer]:
    with LocalServer(create_app(secret=SECRET)) as server:
        yield server


@pytest.fixture
def fake(receiver: LocalServer) -> Iterator[FakeControl]:
    control = FakeControl(receiver.url)
    control.reset()
    yield control
    control.http.close()


def test_the_signature_follows_the_documented_recipe() -> None:
    body = b'{"type":"call.completed"}'
    header = header_value([SECRET, "next-secret"], body, timestamp=1_714_575_845)

    expected = hmac.new(SECRET.encode(), b"1714575845." + body, hashlib.sha256).hexdigest()
    assert (
        header
        == f"t=1714575845,v1={expected},v1="
        + hmac.new(b"next-secret", b"1714575845." + body, hashlib.sha256).hexdigest()
    )
    # The receiver's own check (the fake's, written from the docs) and the hub's agree.
    assert signed_by("next-secret", header, body, now=1_714_575_845)
    assert verify(SECRET, header, body, now=1_714_575_845)
    assert not signed_by(SECRET, header, body + b" ", now=1_714_575_845)
    assert not signed_by(SECRET, header, body, now=1_714_575_845 + 301)


def test_each_call_is_posted_signed_with_its_delivery_id(fake: FakeControl) -> None:
    batch = items("webhook", 2)

    result = webhook(f"{fake.url}/receive", headers={"X-Team": "sales"}).deliver(batch)

    assert all(isinstance(o, Delivered) for o in result.outcomes.values()), result.outcomes
    received = fake.get("requests")["items"]
    assert sorted(r["delivery_id"] for r in received) == ["dlv-contract-0", "dlv-contract-1"]
    first = next(r for r in received if r["delivery_id"] == "dlv-contract-0")
    assert first["event"] == "call.completed"
    assert first["json"]["call"]["caller"]["number"] == "+14705550183"
    assert "records" not in first["json"]


def test_a_replay_carries_the_same_delivery_id(fake: FakeControl) -> None:
    [item] = items("webhook", 1)
    webhook(f"{fake.url}/receive").deliver([item])
    webhook(f"{fake.url}/receive").deliver([item])

    assert [r["delivery_id"] for r in fake.get("requests")["items"]] == ["dlv-contract-0"] * 2


def test_a_wrong_secret_is_refused_by_the_receiver(fake: FakeControl) -> None:
    [item] = items("webhook", 1)

    outcome = webhook(f"{fake.url}/receive", "not-the-secret").deliver([item]).outcomes[item.delivery_id]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "unauthorized"
    assert fake.get("requests")["items"] == []


def test_the_hook_url_path_and_secret_never_reach_history(fake: FakeControl) -> None:
    [item] = items("webhook", 1)
    url = f"{fake.url}/receive?token=hook-path-credential"

    result = webhook(url).deliver([item])

    [exchange] = result.exchanges
    assert exchange.url == f"{fake.url}/***"
    assert exchange.delivery_ids == (item.delivery_id,)
    assert "hook-path-credential" not in json.dumps(exchange.__dict__)
    assert SECRET not in json.dumps(exchange.__dict__)
    assert '"number":"***83"' in exchange.request_body


def test_a_redirect_is_refused_not_followed() -> None:
    app = Flask("redirecting")

    @app.post("/hook")
    def moved() -> Response:
        return Response(status=301, headers={"Location": "https://elsewhere.example/hook"})

    [item] = items("webhook", 1)
    with LocalServer(app) as server:
        outcome = webhook(f"{server.url}/hook").deliver([item]).outcomes[item.delivery_id]

    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "redirect"
    assert "elsewhere.example" in outcome.message


def test_mapped_records_are_sent_beside_the_call() -> None:
    seen: list[dict[str, Any]] = []
    app = Flask("collecting")

    @app.post("/hook")
    def collect() -> Response:
        seen.append(json.loads(request.get_data()))
        return Response(status=204)

    [item] = items("webhook", 1)
    record = RenderedRecord(mapping="note.yaml", target="crm_note", fields={"text": "called"})
    with LocalServer(app) as server:
        webhook(f"{server.url}/hook").deliver([dataclasses.replace(item, records=[record])])

    assert seen[0]["records"] == [{"target": "crm_note", "fields": {"text": "called"}}]


def test_option_problems() -> None:
    assert WebhookConnector.option_problems({"concurrency": 8, "headers": {"X-Team": "a"}}) == []
    assert WebhookConnector.option_problems({"concurrency": 0, "colour": "red"}) == [
        "unknown option 'colour'",
        "concurrency must be 1..32",
    ]


def test_the_signature_freshness_window_uses_now() -> None:
    body = b"{}"
    assert signed_by(SECRET, header_value([SECRET], body), body)
    assert not signed_by(SECRET, header_value([SECRET], body, timestamp=int(time.time()) - 3600), body)
