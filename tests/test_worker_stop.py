"""A `hub worker` asked to stop stops, even while its Redis is gone (as when `hub run` is killed
outright and takes its private Redis down with it): nothing waits for Redis to come back."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import redis
from rq import Worker

from hub.redis_server import RedisServer, free_port
from hub.settings import Settings
from tests.hubkit import make_hub
from tests.test_worker_kill import start_worker, wait_until, worker_env


def test_a_worker_stops_on_sigterm_while_redis_is_gone(tmp_path: Path) -> None:
    private = RedisServer(tmp_path / "redis", free_port()).start()
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    log = tmp_path / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    try:
        with make_hub(tmp_path, private.url, database_url) as hub:
            client = redis.Redis.from_url(private.url)
            worker = start_worker(worker_env(hub, tmp_path, private.url, database_url), log)
            # The main loop and every delivery lane listen.
            listening = Settings.from_env({}).deliver_concurrency
            wait_until(lambda: Worker.count(connection=client) >= listening, 60, "the worker to listen")
            client.close()
            private.stop()
            wait_until(lambda: "could not connect to Redis" in log.read_text(), 60, "redis to be missed")
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the worker did not stop without redis:\n{log.read_text()}") from None
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        private.stop()
    output = log.read_text()
    assert worker.returncode == 0, output
    assert "Traceback" not in output, output
