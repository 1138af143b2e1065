"""`hub run`: the whole hub on one machine with embedded defaults, until Ctrl-C.

Starts (when not given) a private redis-server, migrates the database, starts the local fakes
of every destination without credentials, then gunicorn serving `wsgi.py` and RQ workers (one
of which dispatches). On Ctrl-C or SIGTERM every process it started is stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hub import metrics_dir, run_info
from hub.check import check_offline
from hub.config import HubConfig, admin_token
from hub.local_server import LocalServer, start_sandboxes
from hub.redis_server import RedisServer, free_port
from hub.runtime import write_sandbox_urls
from hub.settings import Settings
from hub.store.db import migrate_schema


@dataclass
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 2
    workers: int = 2


@dataclass
class Supervisor:
    settings: Settings
    options: RunOptions
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    redis: RedisServer | None = None
    fakes: list[LocalServer] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopping: bool = False
    metrics_dir: Path | None = None

    def start(self) -> HubConfig:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.redis_url is None:
            self.redis = RedisServer(self.settings.data_dir / "redis", free_port()).start()
            self.env["REDIS_URL"] = self.redis.url
        self.env["HUB_DATA_DIR"] = str(self.settings.data_dir)
        if sys.stderr.isatty() and "HUB_LOG_FORMAT" not in self.env:
            self.env["HUB_LOG_FORMAT"] = "text"
        self.metrics_dir = metrics_dir.configure(self.settings.data_dir, clean=True)
        self.env[metrics_dir.ENV] = str(self.metrics_dir)
        migrate_schema(self.settings.database_url)
        config, report = check_offline(self.settings)
        if config is None or not report.ok:
            raise SystemExit("hub.yaml has problems:\n  " + "\n  ".join(report.problems))
        self._start_fakes(config)
        self._spawn_web()
        for _ in range(self.options.workers):
            self.children.append(subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env=self.env))
        run_info.publish(
            self.settings.data_dir,
            f"http://{_client_host(self.options.host)}:{self.options.port}",
            self.settings.environment,
        )
        return config

    def _start_fakes(self, config: HubConfig) -> None:
        self.fakes, urls = start_sandboxes(config.destinations.values(), self.settings.data_dir)
        write_sandbox_urls(self.settings.data_dir, urls)

    def _spawn_web(self) -> None:
        access_log = "-" if self.env.get("HUB_ACCESS_LOG") else None
        command = web_command(
            self.options.host, self.options.port, self.options.web_workers, "wsgi:create()", access_log
        )
        self.children.append(subprocess.Popen(command, env=self.env))

    def wait(self) -> int:
        def handle(signum: int, _frame: FrameType | None) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)
        while not self.stopping:
            for child in self.children:
                if child.poll() is not None:
                    print(
                        f"hub: a child process exited ({child.args!r}, code {child.returncode}); stopping",
                        file=sys.stderr,
                    )
                    self.stopping = True
                    break
            time.sleep(0.2)
        self.stop()
        return 0

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in self.children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        run_info.withdraw(self.settings.data_dir)
        for fake in self.fakes:
            fake.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.metrics_dir is not None:
            # Per-run samples of processes that no longer exist.
            metrics_dir.remove_dead(self.metrics_dir)


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def web_command(host: str, port: int, workers: int, app: str, access_log: str | None = None) -> list[str]:
    """The shipped web server settings (`make bench` measures exactly these)."""
    # Sync workers: the request path is CPU-bound and short; they keep p99 latency low where
    # gevent/threads traded it for a little throughput on small machines.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        # Sets up the metrics directory and marks exited workers dead (hub/gunicorn_conf.py).
        "--config",
        "python:hub.gunicorn_conf",
        *(["--access-logfile", access_log] if access_log else []),
        app,
    ]


def banner(settings: Settings, config: HubConfig, options: RunOptions, sandbox_urls: dict[str, str]) -> str:
    base = config.public_url or f"http://{options.host}:{options.port}"
    token, generated = admin_token(settings)
    lines = [
        f"callhub is running at http://{options.host}:{options.port}  (Ctrl-C stops everything)",
        "",
        "Sources:",
    ]
    for source in config.sources.values():
        if source.insecure:
            auth = "UNSIGNED (insecure: true)"
        elif source.secret_generated:
            auth = f"generated secret {source.secrets[0].reveal()}  (set HUB_SECRET_{source.id.upper()} to use yours)"
        else:
            auth = f"{len(source.secrets)} secret(s) from the environment"
        lines.append(f"  {source.id:<14} {base}/webhooks/{source.id:<14} {auth}")
    if settings.development:
        lines.insert(
            1,
            "Development mode: destinations without credentials use local fakes (HUB_ENV=production refuses them)",
        )
    lines += ["", "Destinations:"]
    for destination in config.destinations.values():
        if not destination.enabled:
            mode = "disabled"
        elif destination.sandbox:
            mode = f"SANDBOX -> local fake at {sandbox_urls.get(destination.id, '(none)')}"
        else:
            mode = "live"
        lines.append(f"  {destination.id:<14} {destination.type:<11} {mode}")
    lines += [
        "",
        f"Admin API: {base}/api/events  (Authorization: Bearer {token.reveal() if generated else '<HUB_ADMIN_TOKEN>'})",
    ]
    lines += [f"Data: {settings.data_dir}   Database: {settings.database_url.split('@')[-1]}"]
    lines += ["Try it: .venv/bin/hub send-samples   (from another shell)"]
    return "\n".join(lines)
