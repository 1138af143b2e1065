"""The `hub` command's offline subcommands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.redate import redate

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT / "tests" / "fixtures" / "providers"


def hub(
    *args: str, tmp_path: Path, config: Path | None = None, environment: str = "development"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(tmp_path / "var")
    env["HUB_ENV"] = environment
    if config:
        env["HUB_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_normalize_prints_the_event_and_exits_2_on_bad_payload(tmp_path: Path) -> None:
    result = hub(
        "normalize",
        "callrail",
        str(FIXTURES / "callrail" / "post_call_answered_web_session.json"),
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout)
    assert event["provider"] == "callrail"
    assert event["caller"]["number"].startswith("+")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = hub("normalize", "callrail", str(bad), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr


def test_check_lists_problems_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("version: 1\nsources:\n  - id: a\n    provider: nope\n")
    result = hub("check", tmp_path=tmp_path, config=config)
    assert result.returncode == 2
    assert f"{config}:4: source 'a': unknown provider 'nope'" in result.stderr
    ok = hub("check", tmp_path=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_preview_prints_requests_without_sending(tmp_path: Path) -> None:
    normalized = hub(
        "normalize",
        "callrail",
        str(FIXTURES / "callrail" / "post_call_answered_web_session.json"),
        "--source",
        "callrail",
        tmp_path=tmp_path,
    )
    event_file = tmp_path / "event.json"
    event_file.write_text(normalized.stdout)
    result = hub("preview", "webhook", str(event_file), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    request = output[0]["destinations"][0]["requests"][0]
    assert request["method"] == "POST"
    assert request["body"]["call"]["provider_call_id"] == json.loads(normalized.stdout)["provider_call_id"]


def test_redate_moves_every_format_by_whole_days() -> None:
    from datetime import date

    body = b'{"a":"2024-05-01T10:00:00-04:00","b":"2024-05-01 11:48 PM -04:00","c":1714572000,"d":1714572000000,"e":"5/1/2024 1:31:38 PM"}'
    moved = json.loads(redate(body, False, today=date(2024, 5, 11)))
    assert moved["a"] == "2024-05-10T10:00:00-04:00"
    assert moved["b"] == "2024-05-10 11:48 PM -04:00"
    assert moved["c"] == 1714572000 + 9 * 86400
    assert moved["d"] == 1714572000000 + 9 * 86400000
    assert moved["e"] == "5/10/2024 1:31:38 PM"
    form = redate(
        b"Timestamp=Wed%2C+01+May+2024+09%3A53%3A19+%2B0000&CallSid=CA1", True, today=date(2024, 5, 11)
    )
    assert b"Fri%2C+10+May+2024" in form


@pytest.mark.parametrize("provider", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()))
def test_normalize_works_for_every_provider(provider: str, capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli import main
    from hub.samples import payload_files

    payload = payload_files(FIXTURES / provider)[0]
    expected = json.loads(payload.with_name(payload.stem + ".expected.json").read_text())
    assert main(["normalize", provider, str(payload)]) == 0
    printed = json.loads(capsys.readouterr().out)
    printed = printed if isinstance(printed, list) else [printed]
    # The contract suite checks every field; here the command's own output must agree with it.
    assert [e["provider_call_id"] for e in printed] == [e["provider_call_id"] for e in expected]
    assert [e["kind"] for e in printed] == [e["kind"] for e in expected]


def test_replay_reads_relative_times_and_refuses_unknown_names(tmp_path: Path) -> None:
    assert hub("migrate", tmp_path=tmp_path).returncode == 0
    result = hub("replay", "--since", "12h", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    result = hub("replay", "--since", "7d", "--until", "yesterday", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    result = hub("replay", "--since", "7x", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "--since '7x' is not" in result.stderr
    assert "Traceback" not in result.stderr
    result = hub("replay", "--destination", "salesfroce", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no destination 'salesfroce'" in result.stderr
    result = hub("replay", "--id", "no-such-delivery", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no delivery no-such-delivery" in result.stderr


def test_migrate_says_what_it_applied_and_status_shows_pending(tmp_path: Path) -> None:
    status = hub("migrate", "--status", tmp_path=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "current revision: none" in status.stdout
    assert "pending: 0001" in status.stdout
    first = hub("migrate", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied ")
    assert "0001" in first.stdout
    again = hub("migrate", tmp_path=tmp_path)
    assert "nothing to apply" in again.stdout
    assert "pending: none" in hub("migrate", "--status", tmp_path=tmp_path).stdout


@pytest.mark.parametrize(
    ("env", "command", "expected"),
    [
        ({}, ("worker",), "REDIS_URL is not set"),
        ({"DATABASE_URL": "mysql://db.example/hub"}, ("migrate",), "scheme 'mysql' is not supported"),
        ({"DATABASE_URL": "postgres://hub@127.0.0.1:1/hub"}, ("migrate",), "cannot use the database"),
    ],
)
def test_operator_mistakes_get_one_line_and_exit_2(
    tmp_path: Path,
    env: dict[str, str],
    command: tuple[str, ...],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = hub(*command, tmp_path=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_send_samples_without_a_running_hub_says_what_to_pass(tmp_path: Path) -> None:
    result = hub("send-samples", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no `hub run` is serving from" in result.stderr
    assert "pass --url http://HOST:PORT" in result.stderr


def test_migrate_downgrades_to_a_revision_and_back(tmp_path: Path) -> None:
    assert hub("migrate", tmp_path=tmp_path).returncode == 0
    down = hub("migrate", "--downgrade-to", "0003", tmp_path=tmp_path)
    assert down.returncode == 0, down.stderr
    assert "to 0003" in down.stdout
    status = hub("migrate", "--status", tmp_path=tmp_path)
    assert "current revision: 0003" in status.stdout
    again = hub("migrate", tmp_path=tmp_path)
    assert "0007_ops" in again.stdout


def test_normalize_says_why_a_payload_is_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli import main

    form = FIXTURES / "callrail" / "published" / "capture_form_submission.json"
    assert main(["normalize", "callrail", str(form)]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["ignored"] is True
    assert printed["reason"] == "not_a_call"
    assert "form submission" in printed["message"]
    assert "ignored (not_a_call)" in captured.err


def test_normalize_prints_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli import main

    payload = json.loads((FIXTURES / "callrail" / "post_call_missed.json").read_text())
    payload["start_time"] = "not a time"
    path = tmp_path / "unreadable_start.json"
    path.write_text(json.dumps(payload))
    assert main(["normalize", "callrail", str(path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["warnings"][0].startswith("start_time:")
    assert "warning: start_time:" in captured.err


def test_a_connector_command_without_its_destination_names_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("version: 1\nsources: []\ndestinations: []\n")
    result = hub("ga4", "report", "--days", "1", tmp_path=tmp_path, config=config)
    assert result.returncode == 2
    assert "hub ga4: name one GA4 destination with --destination (configured: none)" in result.stderr
