"""The HubSpot connector as the shared contract suite drives it."""

from __future__ import annotations

from tests.connectors.contract import ContractAdapter, FakeControl

TOKEN = "pat-na1-contract-token-0001"
#: HubSpot's answers for each error kind of the suite (status, category).
FAULTS = {
    "unavailable": {"status": 503, "category": "INTERNAL_ERROR"},
    "rate_limited": {"status": 429, "category": "RATE_LIMITS", "retry_after": "1"},
    "refused": {
        "status": 403,
        "category": "MISSING_SCOPES",
        "message": "This app hasn't been granted all required scopes",
    },
}


def written(fake: FakeControl) -> int:
    return sum(len(fake.get(f"records/{object_type}")["results"]) for object_type in ("contacts", "calls"))


def requests_seen(fake: FakeControl) -> int:
    return int(fake.get("stats")["requests"])


def fail_writes(fake: FakeControl, kind: str) -> None:
    fake.post("faults", {"kind": "status", "times": -1, **FAULTS[kind]})


ADAPTER = ContractAdapter(
    type="hubspot",
    fake_options={"access_token": TOKEN},
    good_credentials={"access_token": TOKEN},
    bad_credentials={"access_token": "pat-na1-not-the-token"},
    secret_names=("access_token",),
    written=written,
    requests_seen=requests_seen,
    fail_writes=fail_writes,
)
