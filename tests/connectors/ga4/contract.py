"""The GA4 connector as the shared contract suite drives it."""

from __future__ import annotations

from tests.connectors.contract import ContractAdapter, FakeControl

PROPERTY_ID = "123456789"
CREDENTIALS = {
    "measurement_id": "G-8ZQ2P4R1XY",
    "api_secret": "contract-api-secret-1",
    "property_id": PROPERTY_ID,
}
#: GA4 answers a broken HTTP request (never a bad payload) with a non-2xx status.
STATUSES = {"unavailable": 503, "rate_limited": 429, "refused": 400}


def written(fake: FakeControl) -> int:
    return len(fake.get("events")["events"])


def requests_seen(fake: FakeControl) -> int:
    return len(fake.get("requests")["requests"])


def fail_writes(fake: FakeControl, kind: str) -> None:
    fake.post("faults", {"endpoint": "collect", "status": STATUSES[kind], "times": 1000})


ADAPTER = ContractAdapter(
    type="ga4",
    fake_options={"property_id": PROPERTY_ID},
    good_credentials=CREDENTIALS,
    # The MP cannot prove an api_secret; a property the service account cannot read is refused.
    bad_credentials={**CREDENTIALS, "property_id": "987654321"},
    secret_names=("api_secret",),
    written=written,
    requests_seen=requests_seen,
    fail_writes=fail_writes,
)
