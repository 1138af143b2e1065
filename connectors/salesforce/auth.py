"""Logging in through simple-salesforce's own login code, with the flow hub.yaml chooses.

Flows (option `auth`; left out, it follows from the credentials set, never SOAP):
- `jwt` (recommended): OAuth 2.0 JWT bearer, `username` + `consumer_key` + `private_key` (PEM) or
  `private_key_file`; the assertion's audience is login.salesforce.com (test.salesforce.com for
  `domain: test` or a sandbox My Domain such as `acme--uat.sandbox.my`), the token request goes to
  the My Domain when `domain` names one;
- `client_credentials`: `consumer_key` + `consumer_secret`, at the org's My Domain (`domain`);
- `oauth_password`: OAuth 2.0 username-password (`username`, `password`, `consumer_key`, `consumer_secret`);
- `soap`: SOAP API login() with `username` + `password` + `security_token`. Only when chosen:
  Salesforce disables it by default in new orgs, removed it from API 65.0 and retires it in
  Summer '27 (help article 005132110), so it always logs in at API 64.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import requests

from connectors.base import DestinationSettings, PermanentError
from connectors.salesforce.options import AUTH_FLOWS, SOAP_NOTE

CREDENTIAL_NAMES = (
    "username",
    "password",
    "security_token",
    "consumer_key",
    "consumer_secret",
    "private_key",
    "private_key_file",
)
FLOWS: Final = AUTH_FLOWS
#: The last API version whose SOAP login() exists (article 005132110).
SOAP_LOGIN_VERSION: Final = "64.0"
SOAP_WARNING: Final = SOAP_NOTE
#: The credentials that are secrets (the others name the user and the connected app).
SECRET_CREDENTIALS = ("password", "security_token", "consumer_secret", "private_key")
#: The fake's My Domain in sandbox mode: any host works, the session's adapter reroutes it.
SANDBOX_DOMAIN = "callhub-fake.my"


@dataclass(frozen=True)
class Session:
    session_id: str
    instance: str


#: The credentials each login flow needs (JWT takes the key inline or as a file).
_LOGIN_NEEDS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"username", "consumer_key", "private_key"}),
    frozenset({"username", "consumer_key", "private_key_file"}),
    frozenset({"consumer_key", "consumer_secret"}),
    frozenset({"username", "password", "consumer_key", "consumer_secret"}),
    frozenset({"username", "password", "security_token"}),
)


def missing_for_nearest_flow(present: frozenset[str]) -> list[str]:
    """Nothing when some flow is complete, else what the flow sharing most names with `present` lacks."""
    if any(needed <= present for needed in _LOGIN_NEEDS):
        return []
    nearest = max(_LOGIN_NEEDS, key=lambda needed: (len(needed & present), -len(needed)))
    return sorted(nearest - present)


def flow(settings: DestinationSettings) -> str:
    """The login flow in use: the `auth` option, else what the credentials allow; "" when none."""
    has = {name for name in CREDENTIAL_NAMES if settings.secret(name)}
    if settings.sandbox and not has:
        # No credentials at all: the local fake, whatever flow the org will use once configured.
        return "sandbox"
    chosen = settings.options.get("auth")
    if isinstance(chosen, str) and chosen in FLOWS:
        return chosen
    if {"username", "consumer_key"} <= has and has & {"private_key", "private_key_file"}:
        return "jwt"
    if {"username", "password", "consumer_key", "consumer_secret"} <= has:
        return "oauth_password"
    if {"consumer_key", "consumer_secret"} <= has:
        return "client_credentials"
    return ""


def missing(settings: DestinationSettings) -> str | None:
    """Why the chosen flow cannot log in with the credentials set (None: it can try)."""
    chosen = flow(settings)
    needs = {
        "jwt": ("username", "consumer_key"),
        "client_credentials": ("consumer_key", "consumer_secret"),
        "oauth_password": ("username", "password", "consumer_key", "consumer_secret"),
        "soap": ("username", "password", "security_token"),
    }.get(chosen, ())
    absent = [name for name in needs if not settings.secret(name)]
    if chosen == "jwt" and not (settings.secret("private_key") or settings.secret("private_key_file")):
        absent.append("private_key or private_key_file")
    if absent:
        return f"the {chosen} login needs the credentials {', '.join(absent)}"
    if not chosen:
        has = {name for name in CREDENTIAL_NAMES if settings.secret(name)}
        if {"username", "password", "security_token"} <= has:
            return (
                "username + password + security_token select SOAP login(), which the hub uses only "
                f"when chosen with the option auth: soap. {SOAP_WARNING}"
            )
        return "no Salesforce login flow matches the configured credentials (see docs/destinations/salesforce.md)"
    return None


def _audience(domain: str) -> str:
    """The JWT's audience host: test.salesforce.com for sandbox orgs (`test`, `acme--uat.sandbox.my`)."""
    return "test" if domain == "test" or domain.endswith(".sandbox.my") else "login"


def login(settings: DestinationSettings, session: requests.Session, domain: str, version: str) -> Session:
    """A fresh session; raises SalesforceAuthenticationFailed when Salesforce refuses."""
    from simple_salesforce.login import SalesforceLogin

    secret = settings.secret
    chosen = flow(settings)
    problem = missing(settings)
    if problem:
        raise PermanentError(problem, reason="unauthorized")
    my_domain = None if domain in ("login", "test") else domain
    if chosen == "soap":
        session_id, instance = SalesforceLogin(
            username=secret("username"), password=secret("password"), security_token=secret("security_token"),
            domain=domain, sf_version=SOAP_LOGIN_VERSION, session=session,
        )  # fmt: skip
    elif chosen == "jwt":
        # simple-salesforce puts `domain` into the assertion's audience and posts to `instance_url`:
        # the audience must be Salesforce's login server, the token endpoint may be the My Domain.
        session_id, instance = SalesforceLogin(
            username=secret("username"), consumer_key=secret("consumer_key"),
            privatekey=secret("private_key") or None, privatekey_file=secret("private_key_file") or None,
            domain=_audience(domain), instance_url=my_domain, session=session,
        )  # fmt: skip
    elif chosen == "oauth_password":
        session_id, instance = SalesforceLogin(
            username=secret("username"), password=secret("password"), consumer_key=secret("consumer_key"),
            consumer_secret=secret("consumer_secret"), domain=domain, session=session,
        )  # fmt: skip
    elif chosen == "client_credentials" and my_domain is None:
        raise PermanentError(
            "the client credentials flow logs in at your My Domain: set the option domain (e.g. acme.my)",
            reason="unauthorized",
        )
    else:
        # Client credentials; in sandbox mode without credentials the fake accepts any client.
        session_id, instance = SalesforceLogin(
            consumer_key=secret("consumer_key") or "sandbox",
            consumer_secret=secret("consumer_secret") or "sandbox",
            domain=my_domain or SANDBOX_DOMAIN,
            session=session,
        )
    return Session(str(session_id), str(instance))
