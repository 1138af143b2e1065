"""Login and save errors that mean "not now" are retried; only wrong credentials are a permanent failure."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connectors.base import LOCAL_RETRY_REASONS, PermanentError, RetryableError
from connectors.salesforce.errors import classify, error_entries, from_entries
from hub.coordination import MemoryStateStore
from tests.connectors.salesforce.calls import call, connector, item
from tests.connectors.salesforce.conftest import FakeOrg

# --- Only wrong credentials are a permanent login failure ------------------------------------


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("INVALID_LOGIN", False),
        ("sf:INVALID_LOGIN", False),
        ("invalid_grant", False),
        ("invalid_client_id", False),
        ("invalid_client", False),
        ("unknown_error", True),
        ("SERVER_UNAVAILABLE", True),
        (503, True),
        (500, True),
        (None, True),
    ],
)
def test_login_failures_are_permanent_only_for_bad_credentials(code: Any, retryable: bool) -> None:
    error = classify(SalesforceAuthenticationFailed(code, "refused"))

    assert error.retryable is retryable
    if not retryable:
        assert isinstance(error, PermanentError)
        assert error.reason == "unauthorized"


def test_a_login_endpoint_in_maintenance_is_retried(fake: FakeOrg, redis_url: str) -> None:
    sf = connector(fake.url, redis_url, MemoryStateStore())
    real = sf.api.session.request

    def maintenance(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        if url.endswith("/services/oauth2/token") or "/services/Soap/" in url:
            response = requests.Response()
            response.status_code = 503
            response._content = b"<html>Service Unavailable: maintenance</html>"
            response.url = url
            return response
        return real(method, url, *args, **kwargs)

    sf.api.session.request = maintenance  # type: ignore[method-assign,assignment]
    outcome = sf.send([item(call("CAL9"))]).outcomes["evt_CAL9_call.completed"]

    assert isinstance(outcome, RetryableError), outcome


# --- Save-level and request-level codes that mean "not now" --------------------------


def test_request_limit_exceeded_waits_without_spending_the_budget() -> None:
    error = from_entries(
        error_entries({"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "limit"}), status=403
    )

    assert isinstance(error, RetryableError)
    assert error.reason in LOCAL_RETRY_REASONS
    assert (error.retry_after or 0) >= 900


@pytest.mark.parametrize("code", ["CANNOT_UPDATE_CONVERTED_LEAD", "ENTITY_IS_DELETED"])
def test_a_record_converted_or_deleted_since_lookup_is_retried(code: str) -> None:
    error = from_entries(error_entries([{"statusCode": code, "message": "gone", "fields": []}]))

    assert isinstance(error, RetryableError)
