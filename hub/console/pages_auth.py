"""Log in and out."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from hub.console.users import LoginThrottled, authenticate
from hub.console.web import blueprint, current_user, safe_next, start_session
from hub.http.context import runtime


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url)
        return render_template("console/login.html", next=next_url, error=None)
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    # The peer address, never X-Forwarded-For: a client could otherwise pick its own throttle key.
    address = request.remote_addr or "unknown"
    try:
        user = authenticate(runtime().db, name, password, address)
    except LoginThrottled:
        error = "Too many failed logins for this user from your address: wait 15 minutes."
        return render_template("console/login.html", next=next_url, error=error), 429
    if user is None:
        return render_template("console/login.html", next=next_url, error="Wrong user name or password."), 401
    start_session(user)
    return redirect(next_url)


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("console.login"))
