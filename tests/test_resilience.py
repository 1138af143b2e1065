"""Nothing is lost when Redis or the database are unavailable."""

from __future__ import annotations

from pathlib import Path

from hub.redis_server import free_port
from tests.hubkit import Hub, make_hub

ANSWERED = "callrail/post_call_answered_web_session.json"


def test_redis_down_during_receipt_loses_nothing(tmp_path: Path, redis_url: str, database_url: str) -> None:
    with make_hub(tmp_path, f"redis://127.0.0.1:{free_port()}/0", database_url) as hub:
        response = hub.post_fixture("callrail", ANSWERED)
        assert response.status_code == 202, "receipt never needs Redis"
        ready = hub.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"]["redis"].startswith("error")
        # Redis is back: the stored delivery is dispatched and sent, once.
        hub.runtime.redis_url = redis_url
        hub.runtime.__dict__.pop("redis", None)
        hub.runtime._connectors.clear()
        hub.drain()
        assert len(hub.received()) == 1
        assert hub.api("/events").json["items"][0]["destinations"] == {"webhook": "delivered"}


def test_dispatcher_survives_redis_outage_and_releases_claims(hub: Hub, redis_server) -> None:  # type: ignore[no-untyped-def]
    import pytest
    import redis as redis_lib

    from hub.dispatch import dispatch_once
    from hub.runtime import redis_client

    hub.post_fixture("callrail", ANSWERED)
    live = hub.runtime.redis_url
    hub.runtime.redis_url = f"redis://127.0.0.1:{free_port()}/0"
    hub.runtime.__dict__["redis"] = redis_client(hub.runtime.redis_url, timeout_s=0.2)
    with pytest.raises(redis_lib.RedisError):
        dispatch_once(hub.runtime)
    receipts = hub.api("/receipts").json["items"]
    assert receipts[0]["status"] == "received", "a claim that could not be enqueued is released"
    hub.runtime.redis_url = live
    hub.runtime.__dict__["redis"] = redis_client(live)
    hub.drain()
    assert len(hub.received()) == 1


def test_database_unavailable_answers_503_so_the_provider_retries(tmp_path: Path, redis_url: str) -> None:
    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        from hub.store.db import Database

        # A database without the hub's tables fails every write, as a broken one would.
        hub.runtime.db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        hub.runtime.__dict__.pop("receipt_writer", None)
        response = hub.post_fixture("callrail", ANSWERED)
        assert response.status_code == 503
        assert response.json["error"] == "storage_unavailable"
