"""Salesforce errors -> the hub's two delivery errors, with Salesforce's code, message and fields kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from connectors.base import DeliveryError, PermanentError, RetryableError, classify_common

if TYPE_CHECKING:
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed

#: Codes that mean "not now": lock contention, the org's request limit, maintenance, a rolled-back peer,
#: a record converted or deleted since it was looked up (the next attempt looks the caller up again).
RETRYABLE: Final = {
    "UNABLE_TO_LOCK_ROW": "locked",
    # The org's own daily allocation is spent: every integration of the org is refused until the
    # rolling 24 h window frees some. Waiting does not spend the delivery's retry budget.
    "REQUEST_LIMIT_EXCEEDED": "quota_reserve",
    "SERVER_UNAVAILABLE": "unavailable",
    "QUERY_TIMEOUT": "timeout",
    "INVALID_SESSION_ID": "session_expired",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK": "unavailable",
    "PROCESSING_HALTED": "unavailable",
    "CANNOT_UPDATE_CONVERTED_LEAD": "stale_match",
    "ENTITY_IS_DELETED": "stale_match",
}
#: Login refusals that mean the configured credentials (or connected app) are wrong: permanent.
#: Anything else a login answers (maintenance, 5xx, OAuth `unknown_error`) is retried.
_BAD_CREDENTIALS: Final = (
    "INVALID_LOGIN",
    "INVALID_GRANT",
    "INVALID_CLIENT",  # invalid_client, invalid_client_id, invalid_client_credentials
    "INVALID AUTH",
    "INVALID_AUTH",
    "UNAUTHORIZED_CLIENT",
    "UNSUPPORTED_GRANT_TYPE",
    "INVALID_SCOPE",
    "INVALID_REQUEST",
    "INVALID_APP_ACCESS",
    "LOGIN_MUST_USE_SECURITY_TOKEN",
    "PASSWORD_LOCKOUT",
    "INVALID_OPERATION",  # also _WITH_EXPIRED_PASSWORD; and SOAP login() disabled in the org
    "UNSUPPORTED_API_VERSION",  # SOAP login() asked at API 65.0 or later
    "API_DISABLED_FOR_ORG",
    "API_CURRENTLY_DISABLED",
    "INVALID_SSO_GATEWAY_URL",
    "ORG_LOCKED",
    "NO_ACCESS",
)
_PERMISSION_PREFIXES: Final = (
    "INSUFFICIENT_ACCESS",
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    "INVALID_ACCESS",
)
#: Seconds to wait after REQUEST_LIMIT_EXCEEDED when the hub knows nothing better.
LIMIT_RETRY_S: Final = 900.0


def error_entries(content: Any) -> list[dict[str, Any]]:
    """Salesforce's error list from a response body (REST uses errorCode, Collections statusCode)."""
    entries = content if isinstance(content, list) else [content] if isinstance(content, dict) else []
    found = []
    for entry in entries:
        if isinstance(entry, Mapping):
            found.append(
                {
                    "code": str(entry.get("errorCode") or entry.get("statusCode") or "UNKNOWN"),
                    "message": str(entry.get("message", "")),
                    "fields": list(entry.get("fields") or []),
                    # Real orgs have answered with the key misspelled; integrations read both.
                    "duplicateResult": entry.get("duplicateResult") or entry.get("duplicateResut"),
                }
            )
    return found


def from_entries(entries: Sequence[Mapping[str, Any]], *, status: int | None = None) -> DeliveryError:
    """One error for a failed save or request, retryable when Salesforce says "not now"."""
    if not entries:
        message = f"Salesforce answered HTTP {status}" if status else "Salesforce reported an unknown error"
        retryable = status is not None and (status >= 500 or status == 429)
        return (RetryableError if retryable else PermanentError)(message)
    first = entries[0]
    code = str(first["code"])
    message = "; ".join(_describe(entry) for entry in entries)
    details = {"errors": [{k: e[k] for k in ("code", "message", "fields")} for e in entries]}
    if code in RETRYABLE:
        retry_after = LIMIT_RETRY_S if code == "REQUEST_LIMIT_EXCEEDED" else None
        return RetryableError(message, reason=RETRYABLE[code], retry_after=retry_after, details=details)
    if status is not None and status >= 500:
        return RetryableError(message, reason="unavailable", details=details)
    if code.startswith(_PERMISSION_PREFIXES):
        return PermanentError(message, reason="permission", details=details)
    return PermanentError(message, reason="rejected", details=details)


def _describe(entry: Mapping[str, Any]) -> str:
    fields = entry.get("fields") or []
    suffix = f" (fields: {', '.join(fields)})" if fields else ""
    return f"{entry['code']}: {entry['message']}{suffix}"


def classify(exc: Exception) -> DeliveryError:
    """A simple-salesforce exception (or a network failure) as a hub delivery error."""
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return classify_login(exc)
    if isinstance(exc, SalesforceError):
        # Never str(exc): it embeds the URL, whose query may carry a caller's number.
        return from_entries(error_entries(exc.content), status=exc.status)
    return classify_common(exc)


def classify_login(exc: SalesforceAuthenticationFailed) -> DeliveryError:
    """Wrong credentials are permanent; a login endpoint in maintenance or failing is retried."""
    # Its str() holds only Salesforce's code and message: no secrets.
    message = f"Salesforce refused the login: {exc}"
    code = exc.code
    status = (
        code if isinstance(code, int) else int(code) if isinstance(code, str) and code.isdigit() else None
    )
    if status is not None:
        if status >= 500 or status in (408, 429):
            return RetryableError(message, reason="unavailable")
        if status in (401, 403):
            return PermanentError(message, reason="unauthorized")
        return RetryableError(message, reason="unavailable")
    name = str(code or "").upper()
    name = name.split(":", 1)[1] if ":" in name else name  # SOAP faults: "sf:INVALID_LOGIN"
    if name.startswith(_BAD_CREDENTIALS):
        return PermanentError(message, reason="unauthorized")
    if name == "REQUEST_LIMIT_EXCEEDED":
        return RetryableError(message, reason="quota_reserve", retry_after=LIMIT_RETRY_S)
    return RetryableError(message, reason="unavailable")


def duplicate_of(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(object, id) of the existing record a DUPLICATES_DETECTED error points at, when it says."""
    result = entry.get("duplicateResult")
    if not isinstance(result, Mapping):
        return None
    for match in result.get("matchResults") or []:
        for record in (match or {}).get("matchRecords") or []:
            found = (record or {}).get("record") or {}
            record_id = found.get("Id")
            sobject = (found.get("attributes") or {}).get("type") or match.get("entityType")
            if record_id and sobject in ("Lead", "Contact"):
                return str(sobject), str(record_id)
    return None
