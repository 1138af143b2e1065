"""The webhook connector as the shared contract suite drives it."""

from __future__ import annotations

from tests.connectors.contract import ContractAdapter, FakeControl

SECRET = "contract-signing-secret-1"
STATUSES = {"unavailable": 503, "rate_limited": 429, "refused": 422}


def written(fake: FakeControl) -> int:
    # A receiver keeps one record per X-Callhub-Delivery (docs/destinations/webhook.md).
    return len({item["delivery_id"] for item in fake.get("requests")["items"]})


def requests_seen(fake: FakeControl) -> int:
    return len(fake.get("requests")["items"])


def fail_writes(fake: FakeControl, kind: str) -> None:
    fake.post("faults", {"status": STATUSES[kind], "count": 1000})


ADAPTER = ContractAdapter(
    type="webhook",
    fake_options={"secret": SECRET},
    good_credentials={"url": "{fake_url}/receive", "secret": SECRET},
    # The URL is the webhook's credential: one nothing answers at.
    bad_credentials={"url": "http://127.0.0.1:9/receive", "secret": SECRET},
    secret_names=("secret",),
    written=written,
    requests_seen=requests_seen,
    fail_writes=fail_writes,
    use_sandbox_url=False,
)
