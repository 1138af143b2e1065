"""The Salesforce connector as the shared contract suite drives it."""

from __future__ import annotations

from tests.connectors.contract import ContractAdapter, FakeControl

#: The OAuth username-password flow: new orgs turn SOAP login off, so the token-based one is not used.
CREDENTIALS = {
    "username": "integration@peachtreeplumbing.example",
    "password": "contract-password-1",
    "consumer_key": "3MVG9contract.consumer.key",
    "consumer_secret": "contract-consumer-secret-1",
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
    secret_names=("password", "consumer_secret"),
    written=written,
    requests_seen=requests_seen,
    fail_writes=fail_writes,
)
