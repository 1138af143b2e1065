"""Logging in with whichever flow the credentials describe, through simple-salesforce's own login.

Flows, chosen by which credentials are set (names as in hub.yaml `credentials:`):
- `username` + `password` + `security_token`: SOAP login (password + token);
- `username` + `consumer_key` + `private_key`: OAuth 2.0 JWT bearer;
- `username` + `password` + `consumer_key` + `consumer_secret`: OAuth 2.0 username-password;
- `consumer_key` + `consumer_secret`: OAuth 2.0 client credentials (needs a My Domain `domain`).
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from simple_salesforce.login import SalesforceLogin

from connectors.base import DestinationSettings, PermanentError

CREDENTIAL_NAMES = (
    "username",
    "password",
    "security_token",
    "consumer_key",
    "consumer_secret",
    "private_key",
)
#: The credentials that are secrets (the others name the user and the connected app).
SECRET_CREDENTIALS = ("password", "security_token", "consumer_secret", "private_key")
#: The fake's My Domain in sandbox mode: any host works, the session's adapter reroutes it.
SANDBOX_DOMAIN = "callhub-fake.my"


@dataclass(frozen=True)
class Session:
    session_id: str
    instance: str


def flow(settings: DestinationSettings) -> str:
    """The login flow these credentials select; "" when they select none."""
    has = {name for name in CREDENTIAL_NAMES if settings.secret(name)}
    if {"username", "password", "security_token"} <= has:
        return "password_token"
    if {"username", "consumer_key", "private_key"} <= has:
        return "jwt_bearer"
    if {"username", "password", "consumer_key", "consumer_secret"} <= has:
        return "oauth_password"
    if {"consumer_key", "consumer_secret"} <= has:
        return "client_credentials"
    return "sandbox" if settings.sandbox else ""


def login(settings: DestinationSettings, session: requests.Session, domain: str, version: str) -> Session:
    """A fresh session; raises SalesforceAuthenticationFailed when Salesforce refuses."""
    secret = settings.secret
    chosen = flow(settings)
    if chosen == "password_token":
        session_id, instance = SalesforceLogin(
            username=secret("username"), password=secret("password"), security_token=secret("security_token"),
            domain=domain, sf_version=version, session=session,
        )  # fmt: skip
    elif chosen == "jwt_bearer":
        session_id, instance = SalesforceLogin(
            username=secret("username"), consumer_key=secret("consumer_key"), privatekey=secret("private_key"),
            domain=domain, session=session,
        )  # fmt: skip
    elif chosen == "oauth_password":
        session_id, instance = SalesforceLogin(
            username=secret("username"), password=secret("password"), consumer_key=secret("consumer_key"),
            consumer_secret=secret("consumer_secret"), domain=domain, session=session,
        )  # fmt: skip
    elif chosen == "client_credentials" and domain in ("login", "test"):
        raise PermanentError(
            "the client credentials flow logs in at your My Domain: set the option domain (e.g. acme.my)",
            reason="unauthorized",
        )
    elif chosen in ("client_credentials", "sandbox"):
        # The fake accepts any client in sandbox mode; the real API needs a My Domain here.
        key = secret("consumer_key") or "sandbox"
        client_secret = secret("consumer_secret") or "sandbox"
        login_domain = SANDBOX_DOMAIN if chosen == "sandbox" else domain
        session_id, instance = SalesforceLogin(
            consumer_key=key, consumer_secret=client_secret, domain=login_domain, session=session
        )
    else:
        raise PermanentError(
            "no Salesforce login flow matches the configured credentials", reason="unauthorized"
        )
    return Session(str(session_id), str(instance))
