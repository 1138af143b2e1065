"""Login endpoints: OAuth 2.0 token (password, client credentials, JWT bearer) and SOAP login."""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509

from connectors.salesforce.fake.org import ORG_ID, Org

Response = tuple[int, Any, str]

_JSON = "application/json"
_XML = "text/xml; charset=utf-8"


#: Hosts that serve every org's login, where the client credentials flow is refused.
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


def token(org: Org, form: Mapping[str, str], authorization: str | None, host: str = "") -> Response:
    """POST /services/oauth2/token: 200 with a session, or Salesforce's OAuth error body."""
    grant = form.get("grant_type", "")
    creds = org.credentials
    if grant == "password":
        if not _same(creds.consumer_key, form.get("client_id")):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not _same(creds.consumer_secret, form.get("client_secret")):
            return _oauth_error("invalid_client", "invalid client credentials")
        if not (_same(creds.username, form.get("username")) and _password_ok(org, form.get("password", ""))):
            return _oauth_error("invalid_grant", "authentication failure")
        return _session(org)
    if grant == "client_credentials":
        # "The client credentials flow ... requires your My Domain URL" (help:
        # xcloud.remoteaccess_oauth_client_credentials_flow.htm); the shared login hosts refuse it.
        if host in LOGIN_HOSTS:
            return _oauth_error("invalid_grant", "request not supported on this domain")
        key, secret = _basic(authorization) or (form.get("client_id"), form.get("client_secret"))
        if not (_same(creds.consumer_key, key) and _same(creds.consumer_secret, secret)):
            return _oauth_error("invalid_client", "invalid client credentials")
        return _session(org)
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _jwt_bearer(org, form.get("assertion", ""))
    return _oauth_error("unsupported_grant_type", "grant type not supported")


#: The JWT's `aud`: Salesforce's login server (production or sandbox), never a My Domain.
#: https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
#: "exp ... within 3 minutes" of now (same article); a few seconds of clock skew allowed.
MAX_LIFETIME_S = 180 + 5


def _jwt_bearer(org: Org, assertion: str) -> Response:
    """Verify the assertion as Salesforce does: signature against the connected app's certificate,
    issuer = consumer key, subject = a user approved for the app, audience, expiry."""
    creds = org.credentials
    try:
        # Audience and expiry are checked below, each with Salesforce's own error.
        options: Any = {"verify_aud": False, "verify_exp": False}
        if creds.jwt_public_key:
            claims = jwt.decode(
                assertion, _public_key(creds.jwt_public_key), algorithms=["RS256"], options=options
            )
        else:
            claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    if not _same(creds.consumer_key, claims.get("iss")):
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if claims.get("aud") not in AUDIENCES:
        return _oauth_error("invalid_grant", "audience is invalid")
    if not _same(creds.username, claims.get("sub")):
        return _oauth_error("invalid_grant", "user hasn't approved this consumer")
    try:
        expires = float(claims.get("exp", 0))
    except (TypeError, ValueError):
        return _oauth_error("invalid_grant", "invalid assertion")
    now = time.time()
    if expires < now:
        return _oauth_error("invalid_grant", "expired authorization code")
    if expires > now + MAX_LIFETIME_S:
        return _oauth_error("invalid_grant", "invalid assertion")
    return _session(org)


def _public_key(pem: str) -> Any:
    """A connected app holds an X.509 certificate; tests may give the bare public key."""
    if "BEGIN CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem.encode()).public_key()
    return pem


def soap_login(org: Org, body: str, version: str) -> Response:
    """POST /services/Soap/u/<version>: the partner API login that username + password + token uses.

    Article 005132110: login() is not available from API 65.0, and is disabled by default in new
    orgs until an admin enables it. The exact fault for a disabled login() is not published; the
    fake answers a LoginFault INVALID_OPERATION saying so (the stricter reading: not retryable).
    """
    if _major(version) >= 65:
        return _soap_fault(
            "UNSUPPORTED_API_VERSION", f"SOAP API login() is not available in API version {version}"
        )
    if not org.soap_login:
        return _soap_fault(
            "INVALID_OPERATION",
            "SOAP API login() is disabled in this org. Use OAuth 2.0 through a connected or external client app.",
        )
    username = _element(body, "username")
    password = _element(body, "password")
    creds = org.credentials
    if username is None or password is None:
        return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
    if not (_same(creds.username, username) and _password_ok(org, password, token_required=True)):
        return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
    session = org.new_session()
    server = f"https://{org.instance_host}/services/Soap/u/{org.version}/{ORG_ID[:15]}"
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>https://{org.instance_host}/services/Soap/m/{org.version}/{ORG_ID[:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{session}</sessionId>"
        f"<userId>{org.store.api_user_id}</userId>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return 200, xml, _XML


def _session(org: Org) -> Response:
    session = org.new_session()
    issued = str(int(time.time() * 1000))
    return (
        200,
        {
            "access_token": session,
            "instance_url": f"https://{org.instance_host}",
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{org.store.api_user_id}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": base64.b64encode(issued.encode()).decode(),
        },
        _JSON,
    )


def _password_ok(org: Org, given: str, *, token_required: bool = False) -> bool:
    creds = org.credentials
    if creds.password is None:
        return True
    accepted = {creds.password + (creds.security_token or "")}
    if not token_required:
        accepted.add(creds.password)
    return given in accepted


def _major(version: str) -> int:
    try:
        return int(float(version))
    except ValueError:
        return 0


def _same(expected: str | None, given: Any) -> bool:
    return expected is None or expected == given


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return key, secret


def _element(xml: str, name: str) -> str | None:
    # The request is the client's own fixed envelope; a regex avoids parsing untrusted XML.
    match = re.search(rf"<(?:\w+:)?{name}>(.*?)</(?:\w+:)?{name}>", xml, re.DOTALL)
    return html.unescape(match.group(1)) if match else None


def _oauth_error(code: str, description: str) -> Response:
    return 400, {"error": code, "error_description": description}, _JSON


def _soap_fault(code: str, message: str) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring>"
        f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return 500, xml, _XML
