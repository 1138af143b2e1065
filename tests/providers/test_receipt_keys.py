"""What makes two deliveries the same delivery, for every provider."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.samples import payload_files, request_from_bytes
from webhooks.base import SourceSettings
from webhooks.registry import available, create

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"
MAPPINGS = Path(__file__).resolve().parent.parent.parent / "mappings"


@pytest.mark.parametrize("slug", available(MAPPINGS))
def test_signed_parts_and_configured_query_tell_deliveries_apart_credentials_do_not(slug: str) -> None:
    provider = create(slug, SourceSettings(slug), MAPPINGS)
    definition = getattr(provider, "definition", None)
    if definition is not None and definition.delivery_id:
        pytest.skip("identified by the provider's own delivery id (a redelivery keeps it)")
    payload = payload_files(FIXTURES / slug)[0]
    body = payload.read_bytes()
    now = datetime.now(UTC)

    def key(query: str) -> str:
        return provider.receipt_key(
            request_from_bytes(payload.name, body, f"https://hub.example/webhooks/{slug}?{query}", now)
        )

    if provider.query_is_unsigned:
        # Anyone can add to a URL the signature does not cover: a captured delivery re-posted
        # with another query string is the same delivery (a duplicate), never a new one.
        assert key("event=completed") == key("event=pre_call") == key("a=1") == key("")
    else:
        assert key("event=completed") != key("event=converted"), (
            "the trigger named in the URL is part of the delivery"
        )
    assert key("event=completed&token=old") == key("event=completed&token=new"), (
        "a rotated token is the same delivery"
    )
