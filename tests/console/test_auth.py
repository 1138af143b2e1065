"""Console access: login, sessions, CSRF, throttling, roles; nothing open to anonymous visitors."""

from __future__ import annotations

from hub.console.passwords import hash_password, verify_password
from hub.store.models import AuditEntry
from tests.console.consolekit import PASSWORD, add_user, csrf, login, post
from tests.hubkit import Hub


def _console_rules(hub: Hub) -> list[tuple[str, str]]:
    routes = []
    for rule in hub.client.application.url_map.iter_rules():
        path = str(rule.rule)
        if not path.startswith("/console") or rule.endpoint in ("console.login", "console.static"):
            continue
        concrete = path.replace("<call_id>", "call_x").replace("<delivery_id>", "dlv_x")
        concrete = concrete.replace("<job_id>", "rpl_x").replace("<destination_id>", "webhook")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, concrete))
    return routes


def test_every_console_route_refuses_an_anonymous_visitor(hub: Hub) -> None:
    routes = _console_rules(hub)
    assert len(routes) > 15
    for method, path in routes:
        if method == "GET":
            response = hub.client.get(path)
            if path.startswith("/console/data/"):
                assert response.status_code == 401, path
            else:
                assert response.status_code == 302, path
                assert response.headers["Location"].startswith("/console/login"), path
        else:
            # With a valid CSRF token from the login page, a POST still needs a session.
            response = post(hub.client, path, page="/console/login")
            assert response.status_code == 302, path
            assert "/console/login" in response.headers["Location"], path


def test_static_assets_are_public_and_hold_no_data(hub: Hub) -> None:
    with hub.client.get("/console/static/vendor/chart.umd.min.js") as chart:
        assert chart.status_code == 200
        assert b"Chart.js v4.6.1" in chart.data
    with hub.client.get("/console/static/console.css") as css:
        assert css.status_code == 200


def test_login_sets_a_session_and_a_wrong_password_does_not(hub: Hub) -> None:
    add_user(hub)
    refused = login(hub.client, password="wrong password!")
    assert refused.status_code == 401
    assert b"Wrong user name or password" in refused.data
    assert hub.client.get("/console/calls").status_code == 302
    ok = login(hub.client)
    assert ok.status_code == 302
    assert hub.client.get("/console/calls").status_code == 200
    with hub.runtime.db.read_session() as session:
        actions = [e.action for e in session.query(AuditEntry).all()]
    assert "login" in actions
    assert "user_added" in actions


def test_a_post_without_the_csrf_token_is_refused(hub: Hub) -> None:
    add_user(hub)
    login(hub.client)
    response = hub.client.post("/console/destinations/webhook/pause", data={})
    assert response.status_code == 400
    forged = hub.client.post("/console/destinations/webhook/pause", data={"csrf_token": "guess"})
    assert forged.status_code == 400
    # A login form posted from elsewhere (no token) is refused too.
    other = hub.client.application.test_client()
    assert other.post("/console/login", data={"name": "ada", "password": PASSWORD}).status_code == 400


def test_logins_are_throttled_per_user_and_address(hub: Hub) -> None:
    add_user(hub)
    for _ in range(5):
        assert login(hub.client, password="wrong password!").status_code == 401
    throttled = login(hub.client)
    assert throttled.status_code == 429, "the right password is not even checked while throttled"
    # Another user from the same address is not locked out by someone guessing "ada".
    add_user(hub, "grace")
    assert login(hub.client, "grace").status_code == 302


def test_a_viewer_can_read_every_page_but_change_nothing(hub: Hub) -> None:
    add_user(hub, "val", role="viewer")
    login(hub.client, "val")
    for method, path in _console_rules(hub):
        if method == "GET":
            response = hub.client.get(path)
            assert response.status_code in (200, 404) or (
                path == "/console/" and response.status_code == 302
            ), path
        elif path != "/console/logout":
            response = post(hub.client, path)
            assert response.status_code == 403, path
    page = hub.client.get("/console/destinations").get_data(as_text=True)
    assert "Pause" not in page


def test_changing_a_password_ends_older_sessions(hub: Hub) -> None:
    add_user(hub)
    login(hub.client)
    assert hub.client.get("/console/calls").status_code == 200
    add_user(hub)  # the same user gets a new password hash
    assert hub.client.get("/console/calls").status_code == 302


def test_passwords_are_stored_as_scrypt_hashes() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("scrypt$32768$8$1$")
    assert PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD) != stored, "each hash has its own salt"


def test_logout_ends_the_session(hub: Hub) -> None:
    add_user(hub)
    login(hub.client)
    token = csrf(hub.client, "/console/calls")
    assert hub.client.post("/console/logout", data={"csrf_token": token}).status_code == 302
    assert hub.client.get("/console/calls").status_code == 302
