"""Every login flow, through simple-salesforce's own login code, against a fake that checks secrets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

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
                     consumer_secret=SECRET, jwt_public_key=PUBLIC_KEY, soap_login=True)  # fmt: skip
    with LocalServer(app) as server:
        yield server.url


FLOWS = {
    "soap": {"username": USER, "password": PASSWORD, "security_token": TOKEN},
    "oauth_password": {
        "username": USER,
        "password": PASSWORD,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
    },
    "jwt": {"username": USER, "consumer_key": KEY, "private_key": PRIVATE_KEY},
    "client_credentials": {"consumer_key": KEY, "consumer_secret": SECRET},
}
WRONG = {
    "soap": {"security_token": "stale"},
    "oauth_password": {"password": "wrong"},
    "jwt": {"private_key": OTHER_PRIVATE_KEY},
    "client_credentials": {"consumer_secret": "wrong"},
}


def _connector(url: str, redis_url: str, credentials: dict[str, str]) -> SalesforceConnector:
    # SOAP login() only when chosen explicitly.
    chosen = {"auth": "soap"} if "security_token" in credentials else {}
    return SalesforceConnector(
        settings(url, credentials, domain="peachtree.my", **chosen), shared_context(redis_url)
    )


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
    result = _connector(strict_url, redis_url, FLOWS["jwt"]).send([item(call("CAL1"))])

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


# --- OAuth by default; SOAP only when chosen -----------------------------------------------------


def _token(url: str, claims: dict[str, object], key: str = PRIVATE_KEY) -> requests.Response:
    assertion = jwt.encode(claims, key, algorithm="RS256")
    return requests.post(
        f"{url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=5,
    )


def _claims(**changes: object) -> dict[str, object]:
    claims: dict[str, object] = {"iss": KEY, "sub": USER, "aud": "https://login.salesforce.com",
                                 "exp": int(time.time()) + 120}  # fmt: skip
    claims.update(changes)
    return claims


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"aud": "https://peachtree.my.salesforce.com"}, "audience is invalid"),
        ({"exp": int(time.time()) - 5}, "expired authorization code"),
        ({"exp": int(time.time()) + 3600}, "invalid assertion"),
        ({"sub": "someone@else.example"}, "user hasn't approved this consumer"),
    ],
)
def test_the_token_endpoint_checks_a_jwt_as_salesforce_does(
    strict_url: str, changes: dict[str, object], description: str
) -> None:
    assert _token(strict_url, _claims()).status_code == 200

    answer = _token(strict_url, _claims(**changes))

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": description}


def test_the_fake_verifies_against_the_connected_apps_certificate(redis_url: str) -> None:
    key = serialization.load_pem_private_key(PRIVATE_KEY.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callhub")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    ).public_bytes(serialization.Encoding.PEM).decode()  # fmt: skip
    with LocalServer(create_app(username=USER, consumer_key=KEY, jwt_public_key=certificate)) as server:
        check = _connector(server.url, redis_url, FLOWS["jwt"]).check()
    assert check.ok, check.detail


def test_soap_credentials_are_not_used_unless_chosen(strict_url: str, redis_url: str) -> None:
    sf = SalesforceConnector(settings(strict_url, FLOWS["soap"]), shared_context(redis_url))

    check = sf.check()
    outcome = sf.send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert not check.ok
    assert "auth: soap" in check.detail
    assert "Summer '27" in check.detail
    assert isinstance(outcome, PermanentError)
    assert outcome.reason == "unauthorized"


def test_soap_chosen_works_with_a_warning_where_the_org_allows_it(strict_url: str, redis_url: str) -> None:
    check = _connector(strict_url, redis_url, FLOWS["soap"]).check()

    assert check.ok, check.detail
    assert "warning" in check.detail
    assert "disabled by default in new Salesforce orgs" in check.detail
    assert SalesforceConnector.option_notes({"auth": "soap"})
    assert not SalesforceConnector.option_notes({"auth": "jwt"})


def test_soap_chosen_in_a_new_org_is_refused_permanently(redis_url: str) -> None:
    with LocalServer(create_app(username=USER, password=PASSWORD, security_token=TOKEN)) as server:
        sf = _connector(server.url, redis_url, FLOWS["soap"])
        outcome = sf.send([item(call("CAL1"))]).outcomes["evt_CAL1_call.completed"]

    assert isinstance(outcome, PermanentError), outcome
    assert outcome.reason == "unauthorized"
    assert "INVALID_OPERATION" in outcome.message
    assert "disabled" in outcome.message


def test_check_reports_the_orgs_capabilities(redis_url: str) -> None:
    app = create_app(username=USER, consumer_key=KEY, jwt_public_key=PUBLIC_KEY, picklists=True)
    with LocalServer(app) as server:
        requests.post(f"{server.url}/__fake__/duplicate_rules", json={"Lead": True}, timeout=5)
        check = _connector(server.url, redis_url, FLOWS["jwt"]).check()

    assert check.ok, check.detail
    for expected in (
        "logged in (jwt)",
        "API version 64.0",
        "State and Country/Territory picklists: on",
        "Lead unique External ID fields (for key_field): Callhub_Caller_E164__c",
        "Task External ID fields (for call_id_field): Call_Tracking_Id__c",
        "active duplicate rules: Standard_Lead_Duplicate_Rule (Lead)",
    ):
        assert expected in check.detail


@pytest.mark.parametrize(
    ("domain", "audience"),
    [("peachtree.my", "https://login.salesforce.com"), ("login", "https://login.salesforce.com"),
     ("test", "https://test.salesforce.com"), ("peachtree--uat.sandbox.my", "https://test.salesforce.com")],
)  # fmt: skip
def test_the_jwt_names_salesforces_login_server_as_audience(
    strict_url: str, redis_url: str, domain: str, audience: str
) -> None:
    sf = SalesforceConnector(settings(strict_url, FLOWS["jwt"], domain=domain), shared_context(redis_url))
    sent: list[str] = []
    real = sf.api.session.request

    def keep_assertion(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        if url.endswith("/services/oauth2/token"):
            sent.append(str(kwargs.get("data", args[0] if args else {})["assertion"]))
        return real(method, url, *args, **kwargs)

    sf.api.session.request = keep_assertion  # type: ignore[method-assign,assignment]
    check = sf.check()

    assert check.ok, check.detail
    assert jwt.decode(sent[0], options={"verify_signature": False})["aud"] == audience
