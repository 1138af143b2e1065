"""Helpers for console tests: users, logging in through the form, CSRF tokens from pages."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from hub.console.users import save_user
from tests.hubkit import Hub

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(hub: Hub, name: str = "ada", role: str = "admin") -> None:
    save_user(hub.runtime.db, name, role, PASSWORD, actor="test")


def csrf(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path)
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: FlaskClient, name: str = "ada", password: str = PASSWORD) -> Any:
    token = csrf(client)
    return client.post("/console/login", data={"name": name, "password": password, "csrf_token": token})


def post(
    client: FlaskClient, path: str, data: dict[str, str] | None = None, page: str = "/console/overview"
) -> Any:
    """A form POST the way the browser sends it: with the session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf(client, page)})
