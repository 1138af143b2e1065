"""The whole path on real components: webhook -> store -> RQ -> webhook destination."""

from __future__ import annotations

from tests.hubkit import Hub

ANSWERED = "callrail/post_call_answered_web_session.json"
MODIFIED = "callrail/call_modified_tags_value_lead_status.json"


def test_signed_delivery_is_stored_parsed_and_delivered(hub: Hub) -> None:
    response = hub.post_fixture("callrail", ANSWERED)
    assert response.status_code == 202, response.json
    hub.drain()
    calls = hub.api("/events").json
    assert calls["total"] == 1
    call = calls["items"][0]
    assert call["destinations"] == {"webhook": "delivered"}
    sent = hub.received()
    assert len(sent) == 1
    assert sent[0]["json"]["call"]["provider_call_id"] == call["provider_call_id"]
    assert sent[0]["json"]["call"]["caller"]["number"] == call["caller_number"]


def test_bad_signature_is_refused_with_reason_and_not_stored(hub: Hub) -> None:
    response = hub.post_fixture("callrail", ANSWERED, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json["error"] == "bad_signature"
    assert "Signature" in response.json["message"]
    assert hub.api("/receipts").json["total"] == 0


def test_tampered_body_is_refused(hub: Hub) -> None:
    response = hub.post_fixture("callrail", ANSWERED, mutate=lambda body: body + b"\n")
    assert response.status_code == 401


def test_unknown_source_is_404(hub: Hub) -> None:
    response = hub.client.post("/webhooks/nope", data=b"{}")
    assert response.status_code == 404
    assert response.json["error"] == "unknown_source"


def test_oversized_body_is_413(hub: Hub) -> None:
    response = hub.client.post("/webhooks/callrail", data=b"x" * (hub.settings.max_body_bytes + 1))
    assert response.status_code == 413


def test_same_delivery_twice_yields_one_event_and_one_send(hub: Hub) -> None:
    first = hub.post_fixture("callrail", ANSWERED)
    second = hub.post_fixture("callrail", ANSWERED)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json["status"] == "duplicate"
    assert second.json["receipt_id"] == first.json["receipt_id"]
    hub.drain()
    detail = hub.api(f"/events/{hub.api('/events').json['items'][0]['id']}").json
    assert len(detail["versions"]) == 1
    assert len(hub.received()) == 1


def test_versions_of_one_call_merge_and_a_sparse_update_blanks_nothing(hub: Hub) -> None:
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    hub.post_fixture("callrail", MODIFIED)
    hub.drain()
    items = hub.api("/events").json["items"]
    assert len(items) == 1, "both deliveries are versions of one call"
    detail = hub.api(f"/events/{items[0]['id']}").json
    assert len(detail["versions"]) == 2
    state = detail["state"]
    assert state["kind"] == "call.updated"
    assert state["attribution"]["gclid"], "the update must not blank the first delivery's gclid"
    assert state["outcome"]["tags"], "the update's tags are merged in"
    sent = hub.received()
    assert [s["event"] for s in sent] == ["call.completed", "call.updated"]
    assert sent[1]["json"]["call"]["attribution"]["gclid"] == state["attribution"]["gclid"]


def test_versions_of_one_call_in_one_batch_merge_into_one_call(hub: Hub) -> None:
    hub.post_fixture("callrail", MODIFIED)
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    items = hub.api("/events").json["items"]
    assert len(items) == 1
    assert items[0]["versions"] == 2
    assert items[0]["kind"] == "call.updated", "arrival order does not decide the lifecycle"


def test_unparseable_payload_is_kept_visible_with_its_error(hub: Hub) -> None:
    body = b'{"not": "a call"}'
    provider = hub.runtime.provider(hub.runtime.config.sources["callrail"])
    from datetime import UTC, datetime

    from hub.samples import request_from_bytes

    signed = provider.sign(
        request_from_bytes("x.json", body, "http://localhost/webhooks/callrail"),
        "test-signing-secret",
        datetime.now(UTC),
    )
    response = hub.client.post("/webhooks/callrail", data=signed.body, headers=dict(signed.headers))
    assert response.status_code == 202, "stored before parsing: the provider must not retry forever"
    hub.drain()
    failed = hub.api("/receipts?status=failed").json
    assert failed["total"] == 1
    receipt = hub.api(f"/receipts/{failed['items'][0]['id']}").json
    assert receipt["error_reason"] == "bad_payload"
    assert receipt["error"]
    assert receipt["body"] == body.decode()
    replay = hub.api(f"/receipts/{receipt['id']}/replay", method="POST")
    assert replay.status_code == 202
    assert hub.api(f"/receipts/{receipt['id']}").json["status"] == "received"


def test_retryable_error_backs_off_then_delivers(hub: Hub) -> None:
    hub.fault(503, count=1, retry_after=30)
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    deliveries = hub.api("/deliveries").json["items"]
    assert deliveries[0]["status"] == "pending"
    assert deliveries[0]["reason"] == "unavailable"
    assert deliveries[0]["attempts"] == 1
    hub.drain(now=hub.later(60))
    delivery = hub.api(f"/deliveries/{deliveries[0]['id']}").json
    assert delivery["status"] == "delivered"
    history = delivery["attempt_history"]
    assert [a["outcome"] for a in history] == ["retry", "delivered"]
    assert history[0]["retry_after_s"] == 30
    assert history[0]["exchanges"][0]["status"] == 503


def test_exhausted_retries_end_failed_and_replay_delivers(hub: Hub) -> None:
    hub.fault(500, count=3)
    hub.post_fixture("callrail", ANSWERED)
    for _ in range(4):
        hub.drain(now=hub.later(10))
    delivery = hub.api("/deliveries").json["items"][0]
    assert delivery["status"] == "failed"
    assert "gave up after 3 attempts" in delivery["message"]
    listed = hub.api("/deliveries?status=failed&destination=webhook").json
    assert listed["total"] == 1
    replay = hub.api(
        "/deliveries/replay", method="POST", json={"destination": "webhook", "statuses": ["failed"]}
    )
    assert replay.json["replayed"] == 1
    hub.drain()
    assert hub.api(f"/deliveries/{delivery['id']}").json["status"] == "delivered"
    assert len(hub.received()) == 1


def test_permanent_error_is_rejected_with_the_destination_message(hub: Hub) -> None:
    hub.fault(422, count=1)
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    delivery = hub.api("/deliveries").json["items"][0]
    assert delivery["status"] == "rejected"
    assert delivery["reason"] == "rejected"
    assert "422" in delivery["message"]
    one = hub.api(f"/deliveries/{delivery['id']}/replay", method="POST")
    assert one.status_code == 202
    hub.drain()
    assert hub.api(f"/deliveries/{delivery['id']}").json["status"] == "delivered"


def test_payload_unparseable_until_a_definition_fix_is_replayed_and_delivered(
    tmp_path, redis_url: str, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """A provider definition with a wrong field path: the delivery waits, stored, until fixed."""
    import shutil

    from tests.hubkit import PROJECT, default_config, make_hub

    mappings = tmp_path / "mappings"
    shutil.copytree(PROJECT / "mappings" / "providers", mappings / "providers")
    definition = mappings / "providers" / "callscaler.yaml"
    correct = definition.read_text()
    definition.write_text(correct.replace("provider_call_id: call_id", "provider_call_id: callId"))
    config = default_config()
    config["sources"].append({"id": "callscaler", "provider": "callscaler", "secrets": ["${TEST_SECRET}"]})
    with make_hub(tmp_path, redis_url, database_url, config) as hub:
        hub.settings = hub.settings.__class__(**{**hub.settings.__dict__, "mappings_dir": mappings})
        hub.restart()
        assert hub.post_fixture("callscaler", "callscaler/call_completed.json").status_code == 202
        hub.drain()
        failed = hub.api("/receipts?status=failed").json["items"]
        assert len(failed) == 1
        assert "provider_call_id" in (failed[0]["error"] or "")
        assert hub.received() == []

        definition.write_text(correct)  # the fix; workers pick it up on restart
        hub.restart()
        assert hub.api("/receipts/replay", method="POST", json={}).json["replayed"] == 1
        hub.drain()
        assert hub.api("/receipts?status=parsed").json["total"] == 1
        assert len(hub.received()) == 1


def test_settle_window_folds_a_quick_update_into_one_write(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.hubkit import default_config, make_hub

    config = default_config()
    config["sources"][0]["settle_s"] = 120
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
        hub.post_fixture("callrail", ANSWERED)
        hub.drain()
        assert hub.received() == [], "a completed call waits for its settle window"
        hub.post_fixture("callrail", MODIFIED)
        hub.drain()
        assert hub.received() == []
        hub.drain(now=hub.later(130))
        sent = hub.received()
        assert len(sent) == 1, "the update is folded into the first write"
        assert sent[0]["json"]["call"]["outcome"]["tags"]
        statuses = sorted(
            d["status"] + ":" + (d["reason"] or "") for d in hub.api("/deliveries").json["items"]
        )
        assert statuses == ["delivered:", "skipped:superseded"]


def test_logs_carry_ids_but_no_phone_numbers_or_secrets(hub: Hub, caplog) -> None:  # type: ignore[no-untyped-def]
    import json
    import logging

    from hub.logs import JsonFormatter

    caplog.set_level(logging.INFO)
    hub.post_fixture("callrail", ANSWERED)
    hub.post_fixture("callrail", ANSWERED, secret="wrong")
    hub.drain()
    lines = [JsonFormatter().format(record) for record in caplog.records]
    text = "\n".join(lines)
    assert "received delivery" in text
    assert "delivery attempt" in text
    assert "refused delivery" in text
    assert "+14705550183" not in text
    assert "470-555-0183" not in text
    assert "test-signing-secret" not in text
    attempt = next(json.loads(line) for line in lines if '"delivery attempt"' in line)
    assert attempt["delivery_id"].startswith("dlv_")
    assert attempt["call_id"].startswith("call_")
    assert attempt["outcome"] == "delivered"


def test_a_completed_only_mapping_still_fires_when_an_update_was_folded_in(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.hubkit import PROJECT, make_hub

    mapping = tmp_path / "completed.yaml"
    mapping.write_text(
        (PROJECT / "tests" / "fixtures" / "mappings" / "webhook_lead.yaml")
        .read_text()
        .replace("events: [call.completed, call.updated]", "events: [call.completed]")
    )
    config = {
        "version": 1,
        "sources": [
            {"id": "callrail", "provider": "callrail", "secrets": ["${TEST_SECRET}"], "settle_s": 60}
        ],
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
        hub.post_fixture("callrail", MODIFIED)
        hub.drain(now=hub.later(90))
        sent = hub.received()
        assert len(sent) == 1
        assert sent[0]["json"]["records"][0]["target"] == "lead"
        assert sent[0]["json"]["call"]["kind"] == "call.updated", "the state is the merged call"


def test_a_destination_that_cannot_be_set_up_rejects_with_the_reason(hub: Hub) -> None:
    hub.runtime.sandbox_urls = {}  # no credentials and no sandbox running
    hub.runtime._connectors.clear()
    hub.post_fixture("callrail", ANSWERED)
    hub.drain()
    delivery = hub.api("/deliveries").json["items"][0]
    assert delivery["status"] == "rejected"
    assert delivery["reason"] == "config"
    assert "no sandbox is running" in delivery["message"]


def test_the_hubs_own_rate_limit_never_spends_the_retry_budget(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.hubkit import default_config, make_hub

    config = default_config()
    config["destinations"][0].update({"rate_limit": {"requests": 1, "per_s": 300}, "max_attempts": 1})
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}", config) as hub:
        for fixture in (ANSWERED, "callrail/post_call_missed.json", "callrail/post_call_voicemail.json"):
            hub.post_fixture("callrail", fixture)
        for _ in range(3):
            hub.drain(now=hub.later(400))
        deliveries = hub.api("/deliveries").json["items"]
        sent = hub.received()
    assert sorted(d["status"] for d in deliveries) == ["delivered", "pending", "pending"]
    waiting = [d for d in deliveries if d["status"] == "pending"]
    assert all(d["reason"] == "throttled" for d in waiting)
    assert all(d["attempts"] == 0 for d in waiting), "waiting for the hub's own limiter is not an attempt"
    assert len(sent) == 1
