"""HubSpot's failures -> the hub's two delivery errors, with messages a person can act on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import (
    DeliveryError,
    PermanentError,
    RetryableError,
    classify_common,
    retry_after_seconds,
)
from connectors.exchanges import scrub_numbers

CREDENTIAL_HINT = (
    "check the private app token in the destination's credentials.access_token "
    "(e.g. ${HUBSPOT_ACCESS_TOKEN}) and its scopes (docs/destinations/hubspot.md)"
)
#: Record-level categories in 207 answers that retrying cannot fix.
PERMANENT_CATEGORIES = frozenset(
    {"VALIDATION_ERROR", "CONFLICT", "INVALID_AUTHENTICATION", "MISSING_SCOPES", "PROPERTY_DOESNT_EXIST"}
)
#: Back-off when HubSpot sends no Retry-After, per policy (its documented windows).
POLICY_WAIT_S = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 10.0}


def is_api_exception(exc: BaseException) -> bool:
    """Every generated HubSpot package has its own ApiException class; they share this shape."""
    return type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status") and hasattr(exc, "body")


def error_body(exc: BaseException) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": str(raw)[:500]}
    return body if isinstance(body, dict) else {}


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def rate_limit_wait(headers: Mapping[str, str], body: Mapping[str, Any]) -> float:
    """Retry-After when given; else the policy's window (HubSpot does not promise Retry-After)."""
    explicit = retry_after_seconds(headers.get("Retry-After"))
    if explicit is not None:
        return explicit
    policy = str(body.get("policyName") or "")
    if policy == "DAILY":
        return _seconds_to_utc_midnight()
    interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if policy != "SECONDLY" and interval and interval.isdigit():
        return int(interval) / 1000
    return POLICY_WAIT_S.get(policy, 10.0)


def classify_api_exception(exc: BaseException) -> DeliveryError:
    status = int(getattr(exc, "status", 0) or 0)
    body = error_body(exc)
    headers: Mapping[str, str] = getattr(exc, "headers", None) or {}
    category = str(body.get("category") or body.get("errorType") or "")
    message = scrub_numbers(str(body.get("message") or getattr(exc, "reason", "") or "no message"))
    label = f"HubSpot {status}{' ' + category if category else ''}"
    if status == 401:
        return PermanentError(
            f"{label}: HubSpot refused the access token; {CREDENTIAL_HINT}", reason="unauthorized"
        )
    if status == 403:
        return PermanentError(f"{label}: {message}; {CREDENTIAL_HINT}", reason="unauthorized")
    if status == 429:
        return RetryableError(
            f"{label}: {message}", reason="rate_limited", retry_after=rate_limit_wait(headers, body)
        )
    if status >= 500 or status in (0, 408, 425):
        return RetryableError(
            f"{label}: {message}",
            reason="unavailable",
            retry_after=retry_after_seconds(headers.get("Retry-After")),
        )
    return PermanentError(f"{label}: {message}", reason="rejected", details={"category": category})


def classify(exc: BaseException) -> DeliveryError:
    """Any exception a HubSpot call raised."""
    if isinstance(exc, DeliveryError):
        return exc
    if is_api_exception(exc):
        return classify_api_exception(exc)
    if isinstance(exc, ValueError) and type(exc).__module__ == "builtins":
        # The client's response models refuse a 2xx body that lacks what a record must have.
        return RetryableError(f"HubSpot answered without a usable record: {exc}", reason="bad_response")
    return classify_common(exc if isinstance(exc, Exception) else Exception(str(exc)))


#: Categories HubSpot refuses a whole batch with because of one input: worth isolating.
WHOLE_BATCH_CATEGORIES = frozenset({"VALIDATION_ERROR", "CONFLICT"})


def whole_batch_refusal(exc: BaseException) -> DeliveryError | None:
    """A 400 VALIDATION_ERROR or 409 CONFLICT answering a whole batch, as one input's rejection
    (HubSpot's own message); None for any other failure."""
    if not is_api_exception(exc) or int(getattr(exc, "status", 0) or 0) not in (400, 409):
        return None
    body = error_body(exc)
    category = str(body.get("category") or "")
    if category not in WHOLE_BATCH_CATEGORIES or is_non_unique_key(exc):
        return None
    return record_error(category, str(body.get("message") or getattr(exc, "reason", "") or "no message"))


def is_non_unique_key(exc: BaseException) -> bool:
    """HubSpot refusing an update/upsert keyed by a property without unique values: a fact about the
    portal, not about one input ("Unable to perform update/upsert by non-unique ... property",
    https://github.com/HubSpot/hubspot-api-nodejs/issues/548)."""
    if not is_api_exception(exc) or int(getattr(exc, "status", 0) or 0) != 400:
        return False
    return "by non-unique" in str(error_body(exc).get("message") or "")


def record_error(category: str, message: str) -> DeliveryError:
    """One failed input of a batch (a 207 `errors[]` entry, or a 2xx that left the input out)."""
    message = scrub_numbers(message)
    if category in PERMANENT_CATEGORIES:
        return PermanentError(
            f"HubSpot rejected the record ({category}): {message}",
            reason="rejected",
            details={"category": category},
        )
    if category == "OBJECT_NOT_FOUND":
        return RetryableError(f"HubSpot no longer has the record: {message}", reason="stale_id")
    if category == "RATE_LIMITS":
        return RetryableError(f"HubSpot rate limit: {message}", reason="rate_limited", retry_after=10.0)
    return RetryableError(
        f"HubSpot failed the record ({category or 'no category'}): {message}", reason="unavailable"
    )
