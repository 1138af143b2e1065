"""`hub users add`, `hub calls`, `hub show`, `hub deliveries`."""

from __future__ import annotations

import pytest

from hub.cli import main
from hub.console.passwords import verify_password
from hub.console.users import get_user
from tests.hubkit import Hub


@pytest.fixture
def cli_env(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    monkeypatch.setenv("DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    return hub


def test_users_add_reads_the_password_from_the_environment(
    cli_env: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_USER_PASSWORD", "a long enough secret")
    assert main(["users", "add", "val", "--role", "viewer"]) == 0
    assert capsys.readouterr().out.strip() == "created viewer val"
    user = get_user(cli_env.runtime.db, "val")
    assert user is not None
    assert user.role == "viewer"
    assert verify_password("a long enough secret", user.password_hash)
    monkeypatch.setenv("HUB_USER_PASSWORD", "short")
    assert main(["users", "add", "val"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    assert "val   viewer" in capsys.readouterr().out


def test_users_add_without_a_terminal_or_variable_refuses(
    cli_env: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUB_USER_PASSWORD", raising=False)
    assert main(["users", "add", "ada"]) == 2
    assert "HUB_USER_PASSWORD" in capsys.readouterr().err


def test_calls_show_and_deliveries_print_tables(cli_env: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    hub = cli_env
    hub.post_fixture("callrail", "callrail/post_call_answered_web_session.json", recent=True)
    hub.drain()
    assert main(["calls", "--phone", "(470) 555-0183", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["call", "started", "caller", "source", "status", "webhook"]
    assert "+14705550183" in lines[2]
    assert lines[2].split()[-1] == "delivered"
    assert lines[-1] == "1 of 1 calls"
    assert main(["calls", "--since", "1h-ish"]) == 2
    assert "--since '1h-ish' is not" in capsys.readouterr().err

    assert main(["show", "470-555-0183"]) == 0
    shown = capsys.readouterr().out
    assert "caller +14705550183" in shown
    assert "webhook attempt 1: delivered" in shown
    call_id = lines[2].split()[0]
    assert main(["show", call_id]) == 0
    assert f"call {call_id}" in capsys.readouterr().out
    assert main(["show", "call_missing"]) == 2

    assert main(["deliveries", "--destination", "webhook", "--status", "delivered"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["delivery", "created", "destination", "status", "reason", "attempts", "call"]
    assert table[-1] == "1 of 1 deliveries"
