"""Building blocks for tests that run the real pipeline: a hub in a temp folder, real Redis,
real SQLite or PostgreSQL, the webhook destination's local receiver, and RQ workers in burst."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from connectors.webhook.fake import create_app as webhook_sandbox
from hub import jobs
from hub.dispatch import dispatch_once
from hub.http import create_app
from hub.local_server import LocalServer
from hub.redate import redate
from hub.runtime import Runtime
from hub.samples import request_from_bytes
from hub.settings import Settings
from hub.store.db import migrate_schema
from hub.worker import make_worker, work

FIXTURES = Path(__file__).parent / "fixtures"
PROVIDER_FIXTURES = FIXTURES / "providers"
ADMIN_TOKEN = "test-admin-token"
SECRET = "test-signing-secret"
PROJECT = Path(__file__).resolve().parent.parent


def default_config(webhook: bool = True) -> dict[str, Any]:
    return {
        "version": 1,
        "sources": [
            {"id": "callrail", "provider": "callrail", "secrets": ["${TEST_SECRET}"]},
            {"id": "ctm", "provider": "ctm", "secrets": ["${TEST_SECRET}"]},
            {"id": "twilio", "provider": "twilio", "secrets": ["${TEST_SECRET}"]},
        ],
        "destinations": [
            {
                "id": "webhook",
                "type": "webhook",
                "credentials": {"url": "${TEST_UNSET_URL}"},
                "sandbox": True,
                "max_attempts": 3,
                "retry": {"base_s": 1, "max_s": 2},
            }
        ]
        if webhook
        else [],
        "routes": [{"from": "*", "to": ["webhook"]}] if webhook else [],
    }


@dataclass
class Hub:
    """A configured hub: settings, runtime, web client and the webhook receiver."""

    settings: Settings
    runtime: Runtime
    client: FlaskClient
    receiver: LocalServer

    def post_fixture(
        self,
        source: str,
        relative: str,
        *,
        secret: str = SECRET,
        mutate: Any = None,
        recent: bool = False,
        edit: Any = None,
    ) -> Any:
        """Post a fixture signed as its provider signs.

        `edit` changes the payload before signing, `mutate` after (a tampered body); `recent`
        moves its dates to the last days.
        """
        path = PROVIDER_FIXTURES / relative
        url = f"http://localhost/webhooks/{source}"
        payload = edit(path.read_bytes()) if edit else path.read_bytes()
        if recent:
            payload = redate(payload, path.suffix == ".form")
        request = request_from_bytes(path.name, payload, url)
        provider = self.runtime.provider(self.runtime.config.sources[source])
        signed = provider.sign(request, secret, datetime.now(UTC))
        body = mutate(signed.body) if mutate else signed.body
        target = signed.url.removeprefix("http://localhost")
        return self.client.open(target, method=signed.method, data=body, headers=dict(signed.headers))

    def restart(self, sandbox_urls: Mapping[str, str] | None = None) -> None:
        """A new runtime and web app over the same store, as after restarting the hub's processes.

        The sandbox URLs stay the receiver's unless given (`{}`: read what `hub run` published).
        """
        self.runtime.close()
        urls = {"webhook": self.receiver.url} if sandbox_urls is None else sandbox_urls
        self.runtime = Runtime.from_settings(self.settings, sandbox_urls=urls or None)
        self.client = create_app(self.runtime).test_client()

    def api(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return self.client.open(f"/api{path}", method=method, headers=headers, **kwargs)

    def drain(self, *, now: datetime | None = None, rounds: int = 10) -> None:
        """Dispatch and run jobs until nothing is left (or `rounds` passes)."""
        connection = redis.Redis.from_url(self.runtime.redis_url)
        for _ in range(rounds):
            # Jobs already queued (by another dispatcher) run first; then whatever is due now.
            self.run_jobs(connection)
            summary = dispatch_once(self.runtime, now)
            if not summary.receipts and not summary.deliveries:
                break
        self.run_jobs(connection)
        connection.close()

    def run_jobs(self, connection: redis.Redis | None = None) -> None:
        """Run every queued job (ingest and every destination's) in this process, then return."""
        jobs.use_runtime(self.runtime)
        client = connection or redis.Redis.from_url(self.runtime.redis_url)
        work(make_worker(self.runtime, client), burst=True)
        if connection is None:
            client.close()

    def lose_jobs(self) -> None:
        """Redis forgets every job (as after a crash without persistence)."""
        client = redis.Redis.from_url(self.runtime.redis_url)
        client.flushall()
        client.close()

    def later(self, seconds: float) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=seconds)

    def received(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.receiver.url}/__fake__/requests", timeout=5)
        return list(response.json()["items"])

    def fault(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        requests.post(
            f"{self.receiver.url}/__fake__/faults",
            json={"status": status, "count": count, "retry_after": retry_after},
            timeout=5,
        )


@contextmanager
def make_hub(
    tmp_path: Path, redis_url: str, database_url: str, config: dict[str, Any] | None = None
) -> Iterator[Hub]:
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(config or default_config(), sort_keys=False))
    env = {
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_CONFIG": str(config_path),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
        "HUB_LOG_FORMAT": "text",
        "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
    }
    previous = {name: os.environ.get(name) for name in ("TEST_SECRET",)}
    os.environ["TEST_SECRET"] = SECRET
    receiver = LocalServer(webhook_sandbox()).start()
    settings = Settings.from_env(env)
    migrate_schema(settings.database_url)
    runtime = Runtime.from_settings(settings, sandbox_urls={"webhook": receiver.url})
    app = create_app(runtime)
    hub = Hub(settings, runtime, app.test_client(), receiver)
    try:
        yield hub
    finally:
        jobs.use_runtime(None)
        hub.runtime.close()
        runtime.close()
        receiver.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def postgres_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    admin_url = postgres_admin_url()
    if not admin_url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL tests: TEST_DATABASE_URL is not set")
        pytest.skip("no PostgreSQL server (set TEST_DATABASE_URL; make test starts one where it can)")
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(
        admin_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextmanager
def small_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount` (made here), for disk-full cases; skips the test where
    mounting is not allowed (it needs root)."""
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(directory: Path) -> Path:
    """Write zeros into `directory` until its file system is full; returns the file written."""
    filler = directory / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], check=False, capture_output=True)
    return filler
