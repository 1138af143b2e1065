"""`hub run`: the whole hub on one machine with embedded defaults, until Ctrl-C.

Starts (when not given) a private redis-server, migrates the database, starts the local fakes
of every destination without credentials, then gunicorn serving `wsgi.py` and RQ workers (one
of which dispatches). On Ctrl-C or SIGTERM every process it started is stopped, in the reverse
order of need: the web server (no new deliveries), then the workers (each finishes its current
job), then the fakes they may still be calling, then Redis they talk to. Children run in their
own process groups so a terminal's Ctrl-C reaches only this supervisor, which keeps that order;
otherwise Redis would vanish under RQ's scheduler and print tracebacks.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hub import lifeline, metrics_dir, run_info
from hub.check import check_offline
from hub.config import HubConfig, admin_token
from hub.local_server import LocalServer, start_sandboxes
from hub.redis_server import RedisServer, free_port
from hub.runtime import write_sandbox_urls
from hub.settings import Settings


@dataclass
class RunOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 2
    workers: int = 2


class StartFailed(RuntimeError):
    """A part of the hub could not start; the message says which and why."""


#: How long each group (web, then workers) has to stop before it is killed. A worker finishing
#: a delivery batch needs the longest: its connector calls carry their own timeouts.
STOP_GRACE_S = 30.0


@dataclass
class Supervisor:
    settings: Settings
    options: RunOptions
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    redis: RedisServer | None = None
    fakes: list[LocalServer] = field(default_factory=list)
    web: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopping: bool = False
    metrics_dir: Path | None = None

    @property
    def children(self) -> list[subprocess.Popen[bytes]]:
        return [*self.web, *self.workers]

    def catch_signals(self) -> None:
        """From now on Ctrl-C and SIGTERM ask for an orderly stop instead of interrupting."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)

    def start(self) -> HubConfig:
        self._check_port()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.redis_url is None:
            try:
                self.redis = RedisServer(
                    self.settings.data_dir / "redis", free_port(), stop_with_parent=True
                ).start()
            except RuntimeError as exc:
                raise StartFailed(f"the embedded Redis did not start: {exc}") from None
            self.env["REDIS_URL"] = self.redis.url
        self.env["HUB_DATA_DIR"] = str(self.settings.data_dir)
        if sys.stderr.isatty() and "HUB_LOG_FORMAT" not in self.env:
            self.env["HUB_LOG_FORMAT"] = "text"
        self.metrics_dir = metrics_dir.configure(self.settings.data_dir, clean=True)
        self.env[metrics_dir.ENV] = str(self.metrics_dir)
        self._migrate()
        config, report = check_offline(self.settings)
        if config is None or not report.ok:
            raise SystemExit("hub.yaml has problems:\n  " + "\n  ".join(report.problems))
        self._start_fakes(config)
        self._spawn_web()
        for _ in range(self.options.workers):
            self.workers.append(self._spawn([sys.executable, "-m", "hub.cli", "worker"]))
        run_info.publish(
            self.settings.data_dir,
            f"http://{_client_host(self.options.host)}:{self.options.port}",
            self.settings.environment,
        )
        return config

    def _check_port(self) -> None:
        # gunicorn would retry for seconds and then exit with a line among others: say it first.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.options.host, self.options.port))
            except OSError as exc:
                raise StartFailed(
                    f"cannot serve on {self.options.host}:{self.options.port}: {exc.strerror or exc} "
                    "(another program uses that port? choose one with --port)"
                ) from None

    def _migrate(self) -> None:
        # In a child process: Alembic, Mako and Pygments (~10 MB) would otherwise stay loaded in
        # this one, which lives as long as the hub. Its errors reach the terminal (stderr).
        done = subprocess.run(
            [sys.executable, "-m", "hub.cli", "migrate"], env=self.env, stdout=subprocess.DEVNULL, check=False
        )
        if done.returncode != 0:
            raise StartFailed(
                f"the database migration failed (exit code {done.returncode}; its reason is above)"
            )

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        # The child stops when this process ends, even killed outright (hub/lifeline.py).
        env = {**self.env, lifeline.SUPERVISOR_PID_ENV: str(os.getpid())}
        return subprocess.Popen(command, env=env, start_new_session=True)

    def _start_fakes(self, config: HubConfig) -> None:
        self.fakes, urls = start_sandboxes(config.destinations.values(), self.settings.data_dir)
        write_sandbox_urls(self.settings.data_dir, urls)

    def _spawn_web(self) -> None:
        access_log = "-" if self.env.get("HUB_ACCESS_LOG") else None
        command = web_command(
            self.options.host, self.options.port, self.options.web_workers, "wsgi:create()", access_log
        )
        self.web.append(self._spawn(command))

    def wait(self) -> int:
        """Run until asked to stop (exit code 0) or until a child dies (1, with the reason)."""
        self.catch_signals()
        code = 0
        while not self.stopping:
            for name, child in [("web server", c) for c in self.web] + [("worker", c) for c in self.workers]:
                if child.poll() is not None:
                    print(
                        f"hub: the {name} exited with code {child.returncode}; stopping everything "
                        "(its reason is printed above)",
                        file=sys.stderr,
                    )
                    self.stopping = True
                    code = 1
                    break
            else:
                time.sleep(0.2)
        self.stop()
        return code

    def stop(self) -> None:
        _stop_group(self.web)
        _stop_group(self.workers)
        run_info.withdraw(self.settings.data_dir)
        for fake in self.fakes:
            fake.stop()
        self.fakes = []
        if self.redis is not None:
            self.redis.stop()
        if self.metrics_dir is not None:
            # Per-run samples of processes that no longer exist.
            metrics_dir.remove_dead(self.metrics_dir)


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _stop_group(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (gunicorn: graceful; RQ: finish the current job), then wait, then kill."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
