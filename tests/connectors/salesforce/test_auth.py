"""Every login flow, through simple-salesforce's own login code, against a fake that checks secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import Delivered, PermanentError
from connectors.salesforce import SalesforceConnector
from connectors.salesforce.fake import create_app
from hub.local_server import LocalServer
from tests.connectors.salesforce.calls import call, item, settings, shared_context

USER = "integration@peachtree.example"
PASSWORD = "correct horse"
TOKEN = "X7secTOKEN"
KEY = "3MVG9consumer"
SECRET = "consumer-secret"


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE_KEY, PUBLIC_KEY = _key_pair()
OTHER_PRIVATE_KEY, _ = _key_pair()


@pytest.fixture(scope="module")
def strict_url() -> Iterator[str]:
    app = create_app(username=USER, password=PASSWORD, security_token=TOKEN, consumer_key=KEY,
                     consumer_secret=SECRET, jwt_public_key=PUBLIC_KEY)  # fmt: skip
    with LocalServer(app) as server:
        yield server.url


FLOWS = {
    "password_token": {"username": USER, "password": PASSWORD, "security_token": TOKEN},
    "oauth_password": {
        "username": USER,
        "password": PASSWORD,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
    },
    "jwt_bearer": {"username": USER, "consumer_key": KEY, "private_key": PRIVATE_KEY},
    "client_credentials": {"consumer_key": KEY, "consumer_secret": SECRET},
}
WRONG = {
    "password_token": {"security_token": "stale"},
    "oauth_password": {"password": "wrong"},
    "jwt_bearer": {"private_key": OTHER_PRIVATE_KEY},
    "client_credentials": {"consumer_secret": "wrong"},
}


def _connector(url: str, redis_url: str, credentials: dict[str, str]) -> SalesforceConnector:
    domain = "peachtree.my"
    return SalesforceConnector(settings(url, credentials, domain=domain), shared_context(redis_url))


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_each_login_flow_proves_its_credentials(strict_url: str, redis_url: str, flow: str) -> None:
    check = _connector(strict_url, redis_url, FLOWS[flow]).check()

    assert check.ok, check.detail
    assert flow in check.detail
    assert "remaining" in check.detail


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_wrong_credentials_fail_the_check_and_reject_deliveries(
    strict_url: str, redis_url: str, flow: str
) -> None:
    credentials = {**FLOWS[flow], **WRONG[flow]}
    sf = _connector(strict_url, redis_url, credentials)

    check = sf.check()
    outcome = sf.send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert not check.ok
    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "unauthorized"
    for secret in credentials.values():
        assert secret not in check.detail
        assert secret not in outcome.message


def test_a_flow_delivers_end_to_end(strict_url: str, redis_url: str) -> None:
    result = _connector(strict_url, redis_url, FLOWS["jwt_bearer"]).send([item(call("CAL1"))])

    assert isinstance(result.outcomes["evt_CAL1_call.completed"], Delivered)
    assert all(PRIVATE_KEY not in exchange.request_body for exchange in result.exchanges)


def test_no_credentials_outside_sandbox_mode_fail_the_check(redis_url: str) -> None:
    real = settings("http://127.0.0.1:9")
    real = type(real)(id=real.id, type=real.type, credentials={}, options={}, sandbox_url=None)

    check = SalesforceConnector(real, shared_context(redis_url)).check()

    assert not check.ok
    assert "credentials" in check.detail


def test_client_credentials_need_a_my_domain(strict_url: str, redis_url: str) -> None:
    sf = SalesforceConnector(settings(strict_url, FLOWS["client_credentials"]), shared_context(redis_url))

    check = sf.check()

    assert not check.ok
    assert "My Domain" in check.detail
