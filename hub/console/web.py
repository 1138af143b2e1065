"""The console blueprint and what every page shares: who is logged in, roles, CSRF, audit."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from werkzeug.wrappers import Response as BaseResponse

from hub.audit import record as record_audit
from hub.config import GeneratedSecrets
from hub.console.passwords import fingerprint
from hub.console.users import User, get_user
from hub.http.context import runtime

#: Every console path starts with this; no other path has a session.
CONSOLE_PREFIX = "/console"

blueprint = Blueprint(
    "console",
    __name__,
    url_prefix=CONSOLE_PREFIX,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

#: Reachable without a session: the login form and the static assets (CSS, JS, the chart
#: library), which hold no data. Every page and every JSON endpoint needs a session.
PUBLIC_ENDPOINTS = {"console.login", "console.static"}
#: POSTs a viewer may make: ending their own session.
VIEWER_POSTS = {"console.logout"}
SESSION_HOURS = 12


def secret_key(data_dir: Any, env_value: str | None) -> str:
    """HUB_SECRET_KEY, else one generated once and kept with the data directory's secrets."""
    if env_value:
        return env_value
    value, _ = GeneratedSecrets(data_dir).get_or_create("console_secret_key")
    return value


class ConsoleSessions(SecureCookieSessionInterface):
    """The console's signed-cookie sessions, opened on console paths only.

    Only the console has sessions: a webhook or API request gets Flask's empty null session, so
    it neither builds the cookie signer nor considers setting a cookie (a cost on every webhook).
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(CONSOLE_PREFIX):
            return None
        return super().open_session(app, request)


def configure(app: Flask) -> None:
    """Session settings for the console on the hub's app."""
    import os

    hub = app.config["HUB_RUNTIME"]
    app.session_interface = ConsoleSessions()
    app.secret_key = secret_key(hub.settings.data_dir, os.environ.get("HUB_SECRET_KEY"))
    app.config.update(
        SESSION_COOKIE_NAME="hub_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(hub.config.public_url and hub.config.public_url.startswith("https:")),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )


def current_user() -> User | None:
    user: User | None = g.get("console_user")
    return user


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def start_session(user: User) -> None:
    session.clear()
    session.permanent = True
    session["user"] = user.name
    session["pw"] = fingerprint(user.password_hash)
    csrf_token()


def _load_user() -> User | None:
    name = session.get("user")
    if not isinstance(name, str):
        return None
    user = get_user(runtime().db, name)
    # A deleted user or a changed password ends every session made before.
    if user is None or session.get("pw") != fingerprint(user.password_hash):
        session.clear()
        return None
    return user


@blueprint.before_request
def _guard() -> BaseResponse | None:
    g.console_user = _load_user()
    if request.method == "POST":
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
            abort(400, "the form expired or did not come from this console: reload the page and try again")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user = current_user()
    if user is None:
        if request.path.startswith("/console/data/"):
            abort(401)
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    if request.method == "POST" and not user.is_admin and request.endpoint not in VIEWER_POSTS:
        abort(403, "viewers can look but not change anything")
    return None


@blueprint.after_request
def _no_store(response: Response) -> Response:
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        )
    return response


@blueprint.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"console_user": current_user(), "csrf_token": csrf_token}


def audit(session_: Any, action: str, target: str | None, **detail: Any) -> None:
    """Record an admin action by the logged-in user in the same transaction as the action."""
    user = current_user()
    record_audit(session_, user.name if user else "anonymous", action, detail, target=target)


def safe_next(target: str | None) -> str:
    """Only console paths on this host: never an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.overview")
