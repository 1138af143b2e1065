"""The Salesforce connector as the shared contract suite drives it."""

from __future__ import annotations

from tests.connectors.contract import ContractAdapter, FakeControl

CREDENTIALS = {
    "username": "integration@peachtreeplumbing.example",
    "password": "contract-password-1",
    "security_token": "contract-security-token-1",
}
#: The fake's fault codes for each error kind of the suite (see docs/destinations/salesforce.md).
FAULTS = {
    "unavailable": "SERVER_UNAVAILABLE",
    "rate_limited": "REQUEST_LIMIT_EXCEEDED",
    "refused": "INSUFFICIENT_ACCESS",
}
WRITTEN_OBJECTS = ("Lead", "Contact", "Task", "CampaignMember")


def written(fake: FakeControl) -> int:
    return sum(len(fake.get(f"records/{sobject}")["records"]) for sobject in WRITTEN_OBJECTS)


def requests_seen(fake: FakeControl) -> int:
    asked = fake.get("requests")
    return int(asked["api_requests"]) + int(asked["logins"])


def fail_writes(fake: FakeControl, kind: str) -> None:
    fake.post("faults", {"error": FAULTS[kind], "times": 1000})


ADAPTER = ContractAdapter(
    type="salesforce",
    fake_options={**CREDENTIALS, "campaigns": ["emergency-atl"]},
    good_credentials=CREDENTIALS,
    bad_credentials={**CREDENTIALS, "password": "not-the-password"},
    secret_names=("password", "security_token"),
    written=written,
    requests_seen=requests_seen,
    fail_writes=fail_writes,
)
