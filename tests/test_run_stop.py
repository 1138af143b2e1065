"""`hub run` stops in order on Ctrl-C without a traceback, and says why when it cannot start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hub.redis_server import free_port

PROJECT = Path(__file__).resolve().parent.parent


def hub_processes(data_dir: Path) -> list[int]:
    """Processes started for the hub run whose data lives in `data_dir` (its children inherit
    HUB_DATA_DIR), wherever their process group is."""
    marker = f"HUB_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0") and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUB_", "REDIS_URL", "DATABASE_URL", "PROMETHEUS"))
    }
    env.update({"HUB_DATA_DIR": str(data_dir), "HUB_LOG_FORMAT": "text"})
    return env


def _start(data_dir: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "run",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--web-workers",
            "1",
        ],
        cwd=PROJECT,
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _ready(base: str, hub: subprocess.Popen[bytes]) -> None:
    for _ in range(300):  # bounded: about 60 s
        if hub.poll() is not None:
            raise AssertionError(f"hub run exited early: {hub.communicate()[0].decode(errors='replace')}")
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("hub run did not become ready")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc to find child processes")
def test_ctrl_c_stops_everything_in_order_without_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    hub = _start(data_dir, port, workers=2)
    base = f"http://127.0.0.1:{port}"
    try:
        _ready(base, hub)
        sent = subprocess.run(
            [sys.executable, "-m", "hub.cli", "send-samples", "--url", base, "--source", "callrail"],
            cwd=PROJECT,
            env=_env(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        children = hub_processes(data_dir)
        assert len(children) >= 5, "supervisor, redis, gunicorn master and worker, two hub workers"
    finally:
        # What a terminal's Ctrl-C does: SIGINT to the foreground process group.
        os.killpg(hub.pid, signal.SIGINT)
        output = hub.communicate(timeout=120)[0].decode(errors="replace")
    assert hub.returncode == 0, output
    assert "Traceback" not in output, output
    assert "Error" not in output.split("Try it:")[-1], output
    assert hub_processes(data_dir) == [], "every process of hub run is gone"


def test_a_port_in_use_makes_hub_run_fail_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = _start(tmp_path / "var", port)
        output = hub.communicate(timeout=120)[0].decode(errors="replace")
    assert hub.returncode != 0
    assert f"cannot serve on 127.0.0.1:{port}" in output, output
    assert "Traceback" not in output, output
    assert hub_processes(tmp_path / "var") == []


def test_a_child_that_dies_makes_hub_run_exit_non_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    hub = _start(data_dir, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _ready(base, hub)
        workers = [
            pid
            for pid in hub_processes(data_dir)
            if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
        assert workers
        os.kill(workers[0], signal.SIGKILL)
        output = hub.communicate(timeout=120)[0].decode(errors="replace")
    finally:
        if hub.poll() is None:
            os.killpg(hub.pid, signal.SIGINT)
            hub.communicate(timeout=120)
    assert hub.returncode == 1, output
    assert "the worker exited with code -9" in output, output
    assert "Traceback" not in output, output
    assert hub_processes(data_dir) == []


def embedded_redis(data_dir: Path) -> list[int]:
    """The redis-server `hub run` started: it rewrites its environment (its process title), but
    it runs in its data directory."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").resolve() == (data_dir / "redis").resolve():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return ") Z " not in stat


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_hub_run_killed_outright_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGKILL (or the OOM killer) gives `hub run` no chance to stop its children in order; they
    must still go, or a second `hub run` finds two sets of workers on one queue."""
    data_dir = tmp_path / "var"
    port = free_port()
    hub = _start(data_dir, port)
    started: list[int] = []
    try:
        _ready(f"http://127.0.0.1:{port}", hub)
        started = [pid for pid in hub_processes(data_dir) if pid != hub.pid]
        started += embedded_redis(data_dir)
        assert len(started) >= 4, "redis, gunicorn master and worker, a hub worker"
        hub.kill()
        hub.wait(timeout=30)  # not communicate(): survivors would hold its output pipe open
        for _ in range(300):  # bounded: about 60 s (a worker ends its current job first)
            left = [pid for pid in started if _alive(pid)]
            if not left:
                break
            time.sleep(0.2)
        commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in left}
        assert not left, f"still running after hub run was killed: {commands}"
    finally:
        for pid in started:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if hub.stdout is not None:
            hub.stdout.close()
