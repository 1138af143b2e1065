"""Sandbox mode only where it is said; a missing credential stops every process at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.core.errors import ConfigError
from hub.runtime import load_hub_config
from hub.settings import Settings
from tests.hubkit import PROJECT

CONFIG = """version: 1
sources:
  - {id: callrail, provider: callrail, secrets: ["${TEST_SOURCE_SECRET}"]}
destinations:
  - id: crm
    type: hubspot
    credentials: {access_token: "${HUBSPOT_ACCES_TOKEN}"}
  - id: sf
    type: salesforce
    credentials:
      username: ${TEST_SF_USER}
      password: ${TEST_SF_PASSWORD}
      security_token: ${TEST_SF_TOKEN}
  - id: hook
    type: webhook
    credentials: {url: "${TEST_HOOK_URL}"}
    sandbox: true
routes:
  - {from: "*", to: [crm, sf, hook]}
"""


def settings(tmp_path: Path, **env: str) -> Settings:
    path = tmp_path / "hub.yaml"
    path.write_text(CONFIG)
    values = {"HUB_CONFIG": str(path), "HUB_DATA_DIR": str(tmp_path / "var")} | env
    return Settings.from_env(values)


def problems(tmp_path: Path, env: dict[str, str], **settings_env: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_hub_config_with(settings(tmp_path, **settings_env), env)
    return caught.value.problems


def load_hub_config_with(value: Settings, env: dict[str, str]) -> object:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return load_hub_config(value)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_production_names_the_destination_and_the_unset_variables(tmp_path: Path) -> None:
    found = problems(tmp_path, {"TEST_SOURCE_SECRET": "s"})
    text = "\n".join(found)
    assert "destination 'crm': no credentials are set (HUBSPOT_ACCES_TOKEN)" in text
    assert "destination 'sf': no credentials are set (TEST_SF_USER, TEST_SF_PASSWORD, TEST_SF_TOKEN)" in text
    assert "'hook'" not in text, "sandbox: true is said explicitly"
    assert len(found) == 2


def test_half_a_set_of_credentials_is_an_error_even_in_development(tmp_path: Path) -> None:
    env = {"TEST_SOURCE_SECRET": "s", "TEST_SF_USER": "u", "TEST_SF_PASSWORD": "p"}
    found = problems(tmp_path, env, HUB_ENV="development")
    assert found == [
        f"{tmp_path}/hub.yaml:10: destination 'sf': some credentials are set but not all; "
        "missing: security_token (TEST_SF_TOKEN)"
    ]


def test_development_sandboxes_what_has_no_credentials_and_generates_source_secrets(tmp_path: Path) -> None:
    config = load_hub_config_with(settings(tmp_path, HUB_ENV="development"), {})
    assert {d.id: d.sandbox for d in config.destinations.values()} == {"crm": True, "sf": True, "hook": True}  # type: ignore[attr-defined]
    assert config.sources["callrail"].secret_generated  # type: ignore[attr-defined]


def test_live_credentials_are_live_and_missing_source_secret_is_refused(tmp_path: Path) -> None:
    env = {"HUBSPOT_ACCES_TOKEN": "t", "TEST_SF_USER": "u", "TEST_SF_PASSWORD": "p", "TEST_SF_TOKEN": "k"}
    found = problems(tmp_path, env)
    assert len(found) == 1
    assert "source 'callrail': no signing secret is set (TEST_SOURCE_SECRET)" in found[0]
    config = load_hub_config_with(settings(tmp_path), env | {"TEST_SOURCE_SECRET": "s"})
    assert {d.id: d.sandbox for d in config.destinations.values()} == {
        "crm": False,
        "sf": False,
        "hook": True,
    }  # type: ignore[attr-defined]


def test_require_live_refuses_even_an_explicit_sandbox(tmp_path: Path) -> None:
    env = {"TEST_SOURCE_SECRET": "s", "HUBSPOT_ACCES_TOKEN": "t", "TEST_SF_USER": "u"}
    env |= {"TEST_SF_PASSWORD": "p", "TEST_SF_TOKEN": "k"}
    found = problems(tmp_path, env, HUB_ENV="development", HUB_REQUIRE_LIVE="1")
    assert len(found) == 1
    assert "destination 'hook' would run in sandbox mode, which HUB_REQUIRE_LIVE forbids" in found[0]


def _hub_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    path = tmp_path / "hub.yaml"
    path.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "TEST_"))}
    return env | {
        "HUB_CONFIG": str(path),
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "REDIS_URL": redis_url,
        "TEST_SOURCE_SECRET": "s",
        "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
    }


@pytest.mark.parametrize(
    "command",
    [["worker", "--burst"], ["web", "--port", "1"], ["check"]],
    ids=["worker", "web", "check"],
)
def test_every_process_refuses_to_start(tmp_path: Path, redis_url: str, command: list[str]) -> None:
    env = _hub_env(tmp_path, redis_url)
    subprocess.run([sys.executable, "-m", "hub.cli", "migrate"], env=env, cwd=PROJECT, check=True, timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", *command],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "destination 'crm': no credentials are set (HUBSPOT_ACCES_TOKEN)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_wsgi_app_refuses_to_start(tmp_path: Path, redis_url: str) -> None:
    env = _hub_env(tmp_path, redis_url)
    subprocess.run([sys.executable, "-m", "hub.cli", "migrate"], env=env, cwd=PROJECT, check=True, timeout=60)
    script = "import wsgi; wsgi.create()"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "hub web: refusing to start:" in result.stderr
    assert "destination 'crm': no credentials are set (HUBSPOT_ACCES_TOKEN)" in result.stderr


def test_hub_run_in_production_refuses_before_serving(tmp_path: Path, redis_url: str) -> None:
    env = _hub_env(tmp_path, redis_url) | {"HUB_ENV": "production"}
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "run", "--port", "1", "--workers", "1", "--web-workers", "1"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "destination 'crm': no credentials are set (HUBSPOT_ACCES_TOKEN)" in result.stderr


def test_a_worker_outside_hub_run_serves_an_explicit_sandbox_itself(tmp_path: Path, redis_url: str) -> None:
    from hub.dispatch import dispatch_once
    from tests.hubkit import SECRET, make_hub

    with make_hub(tmp_path, redis_url, f"sqlite:///{tmp_path / 'hub.db'}") as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "TEST_"))}
        env |= {
            "HUB_CONFIG": str(hub.settings.config_path),
            "HUB_DATA_DIR": str(hub.settings.data_dir),
            "DATABASE_URL": hub.settings.database_url,
            "REDIS_URL": redis_url,
            "HUB_MAPPINGS_DIR": str(PROJECT / "mappings"),
            "TEST_SECRET": SECRET,
        }
        hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json")
        for dispatched in ("receipts", "deliveries"):
            assert getattr(dispatch_once(hub.runtime), dispatched) == 1
            subprocess.run(
                [sys.executable, "-m", "hub.cli", "worker", "--burst"],
                env=env,
                cwd=PROJECT,
                check=True,
                timeout=120,
            )
        [delivery] = hub.api("/deliveries").json["items"]
        assert hub.received() == [], "the worker's own fake took it, not the test's receiver"
    assert delivery["status"] == "delivered", delivery
