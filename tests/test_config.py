"""hub.yaml validation: every problem listed at once, each with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import registry as connector_registry
from hub.config import load_config
from hub.core.errors import ConfigError
from hub.settings import Settings
from webhooks import registry as provider_registry


def settings_for(tmp_path: Path, text: str, environment: str = "development") -> Settings:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    return Settings.from_env(
        {"HUB_CONFIG": str(path), "HUB_DATA_DIR": str(tmp_path / "var"), "HUB_ENV": environment}
    )


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(
            settings_for(tmp_path, text),
            env or {},
            known_providers=["callrail"],
            known_destination_types=["webhook"],
        )
    return caught.value.problems


def test_every_problem_is_listed_with_file_and_line(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """version: 1
sources:
  - id: callrail
    provider: callrial
    secrets: ["${X}"]
    colour: blue
destinations:
  - id: out
    type: webhok
    credentials: {url: "https://example.invalid/hook"}
routes:
  - from: [callrail, nowhere]
    to: [out, elsewhere]
""",
    )
    text = "\n".join(problems)
    assert f"{tmp_path}/hub.yaml:4: source 'callrail': unknown provider 'callrial'" in text
    assert "hub.yaml:6: source 'callrail': unknown key 'colour'" in text
    assert "hub.yaml:9: destination 'out': unknown type 'webhok'" in text
    assert "hub.yaml:10: destination 'out': credential 'url' must be an ${ENV_VAR} reference" in text
    assert "hub.yaml:12: route: unknown source 'nowhere'" in text
    assert "hub.yaml:13: route: unknown destination 'elsewhere'" in text
    assert len(problems) == 6


def test_yaml_boolean_trap_is_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "version: 1\non: true\nsources: []\n")
    assert any("hub.yaml:2: key 'on' is not a string" in p and "quote it" in p for p in problems)


def test_inline_secret_is_refused(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path, "sources:\n  - id: callrail\n    provider: callrail\n    secrets: [hunter2]\n"
    )
    assert any("write secrets as ${ENV_VAR} references" in p for p in problems)


def test_env_references_rotation_generated_secret_and_sandbox(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        """sources:
  - id: callrail
    provider: callrail
    secrets: ["${NEW}", "${OLD}", "${UNSET}"]
  - id: other
    provider: callrail
destinations:
  - id: live
    type: webhook
    credentials: {url: "${HOOK_URL}"}
  - id: sandboxed
    type: webhook
    credentials: {url: "${NOT_SET}"}
routes:
  - {from: "*", to: [live, sandboxed]}
""",
    )
    env = {"NEW": "n3w", "OLD": "0ld", "HOOK_URL": "https://example.invalid/hook"}
    config = load_config(settings, env)
    assert [s.reveal() for s in config.sources["callrail"].secrets] == ["n3w", "0ld"]
    generated = config.sources["other"]
    assert generated.secret_generated
    assert generated.secrets[0].reveal()
    assert "n3w" not in repr(config), "secrets are masked in reprs"
    again = load_config(settings, env)
    assert again.sources["other"].secrets == generated.secrets, "a generated secret is kept across restarts"
    assert not config.destinations["live"].sandbox
    assert config.destinations["sandboxed"].sandbox
    assert config.destinations_for("other") == ["live", "sandboxed"]


def test_shipped_config_is_valid(tmp_path: Path) -> None:
    from hub.check import check_offline

    project = Path(__file__).resolve().parent.parent
    settings = Settings.from_env(
        {
            "HUB_CONFIG": str(project / "hub.yaml"),
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_MAPPINGS_DIR": str(project / "mappings"),
            "HUB_ENV": "development",
        }
    )
    config, report = check_offline(settings)
    assert report.problems == []
    assert config is not None
    # Every provider and destination type the registries know is shipped ready to enable.
    assert {source.provider for source in config.sources.values()} == set(
        provider_registry.available(project / "mappings")
    )
    assert {destination.type for destination in config.destinations.values()} == set(
        connector_registry.types()
    )


def test_unusable_settings_are_reported_with_their_rule(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """sources:
  - {id: callrail, provider: callrail, secrets: ["${S}"], settle_s: -1, insecure: maybe}
destinations:
  - {id: out, type: webhook, credentials: {url: "${U}"}, max_attempts: 0, timeout_s: 0, enabled: 1, options: []}
""",
    )
    text = "\n".join(problems)
    for expected in (
        "source 'callrail': settle_s must be seconds between 0 and 3600",
        "source 'callrail': insecure must be true or false",
        "destination 'out': max_attempts must be 1..50",
        "destination 'out': timeout_s must be in (0, 300]",
        "destination 'out': enabled must be true or false",
        "destination 'out': options must be a mapping",
    ):
        assert expected in text, text
