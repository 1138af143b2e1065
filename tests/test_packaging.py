"""The container image, compose file and systemd units: valid, and they start what they say."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.cli import build_parser
from hub.redis_server import free_port

PROJECT = Path(__file__).resolve().parent.parent
UNITS = sorted((PROJECT / "deploy" / "systemd").glob("*.service"))
HUB_SERVICES = ("migrate", "web", "worker")


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (PROJECT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _hub_arguments_parse(arguments: list[str]) -> None:
    """The arguments are a `hub` command line the entry point accepts."""
    build_parser().parse_args(arguments)


def test_dockerfile_is_multi_stage_non_root_with_the_hub_entry_point() -> None:
    instructions = _dockerfile()
    stages = [args for name, args in instructions if name == "FROM"]
    assert len(stages) >= 2, "build and run stages"
    last_stage = instructions[max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :]
    users = [args for name, args in last_stage if name == "USER"]
    assert users, "the run stage sets a user"
    assert users[-1] not in ("root", "0")
    entrypoint = json.loads(next(args for name, args in last_stage if name == "ENTRYPOINT"))
    assert entrypoint == ["hub"]
    _hub_arguments_parse(json.loads(next(args for name, args in last_stage if name == "CMD")))
    for name, args in instructions:
        if name == "COPY" and "--from=" not in args:
            for source in shlex.split(args)[:-1]:
                assert (PROJECT / source).exists(), f"COPY {source}: not in the project"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_web_workers_postgres_and_redis() -> None:
    services = _compose()["services"]
    assert {"web", "worker", "migrate", "postgres", "redis"} <= set(services)
    for name in HUB_SERVICES:
        service = services[name]
        _hub_arguments_parse(service["command"])
        environment = service["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["REDIS_URL"].startswith("redis://")
        assert environment["HUB_REQUIRE_LIVE"] == "1"
        # Secrets only by reference, never written in the file.
        assert environment["HUB_ADMIN_TOKEN"].startswith("${")
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "--appendonly" in services["redis"]["command"]


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_systemd_units_run_the_hub_as_an_unprivileged_user(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    service = parser["Service"]
    assert service["User"] not in ("root", "0")
    command = shlex.split(service["ExecStart"])
    assert command[0] == "/opt/callhub/venv/bin/hub"
    _hub_arguments_parse(command[1:])
    assert service["EnvironmentFile"] == "/etc/callhub/callhub.env"


def test_units_cover_every_role() -> None:
    assert {unit.name for unit in UNITS} == {
        "callhub-migrate.service",
        "callhub-web.service",
        "callhub-worker@.service",
    }


def test_the_image_entry_point_serves_the_hub(tmp_path: Path, redis_url: str) -> None:
    """`hub web` (the image's CMD) starts gunicorn serving the hub from the image's layout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {"HUB_DATA_DIR": str(tmp_path / "var"), "REDIS_URL": redis_url, "HUB_LOG_FORMAT": "json"}
    env["HUB_ENV"] = "development"  # the shipped hub.yaml without any credential set
    hub = Path(sys.executable).with_name("hub")
    subprocess.run([hub, "migrate"], cwd=PROJECT, env=env, check=True, capture_output=True, timeout=60)
    port = free_port()
    web = subprocess.Popen(
        [hub, "web", "--host", "127.0.0.1", "--port", str(port), "--web-workers", "1"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        answer = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    answer = response.status
                    break
            except OSError:
                if web.poll() is not None:
                    break
                time.sleep(0.1)
        assert answer == 200, web.stdout.read().decode() if web.poll() is not None and web.stdout else ""
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)
        if web.stdout:
            web.stdout.close()
