"""Security under a real hub: forged, replayed and query-mutated signatures; every admin route
without and with a wrong token; SOQL-injection values; no secret or phone number in clear in the
logs, no secret in stored attempts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from connectors.webhook.connector import SANDBOX_SECRET
from hub.store.db import Database
from hub.store.models import Attempt, Batch
from tests.chaos.harness import ADMIN_TOKEN, SECRET, finish, plan_calls, running, signed_headers

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

INJECTIONS = (
    "x' OR Email LIKE '%",
    "o'brien\\' OR Name != '",
    "a%' AND Id != null) OR (Name = '",
)


def _with_injection(body: bytes, value: str) -> bytes:
    data = json.loads(body)
    data["agent_email"] = value
    data["customer_name"] = value
    data["callername"] = value
    data["formatted_customer_name"] = value
    data["source"] = value
    return json.dumps(data).encode()


def test_security(tmp_path: Path) -> None:
    plans = plan_calls(len(INJECTIONS), updated_every=100, prefix="CALSEC")
    bodies = [_with_injection(plan.bodies[0], value) for plan, value in zip(plans, INJECTIONS, strict=True)]
    with running(tmp_path) as hub:
        # Forged: a signature made with another key; then one that signs nothing.
        forged = requests.post(
            f"{hub.base}/webhooks/callrail",
            data=bodies[0],
            headers={
                **signed_headers(bodies[0]),
                "Signature": "AAAA" + signed_headers(bodies[0])["Signature"][4:],
            },
            timeout=10,
        )
        assert forged.status_code == 401
        assert requests.post(f"{hub.base}/webhooks/callrail", data=bodies[0], timeout=10).status_code == 401
        for body in bodies:
            assert hub.post(body) == 202
        # Replayed as captured, and with unsigned query additions: duplicates, nothing new.
        for query in ("", "?a=1", "?event=pre_call"):
            again = requests.post(
                f"{hub.base}/webhooks/callrail{query}",
                data=bodies[0],
                headers=signed_headers(bodies[0]),
                timeout=10,
            )
            assert again.status_code == 200, query
            assert again.json()["status"] == "duplicate"
        unauthorized = _admin_routes_refuse_without_the_token(hub.base)
        recovery = hub.wait_settled(300)
        ledger = hub.ledger("security", plans, recovery)
        ledger.deliveries_sent = len(bodies)
        ledger.notes.append(f"admin routes checked without and with a wrong token: {unauthorized}")
        leaks = _clear_text_in_logs(hub.logs, plans)
        stored = _secrets_in_attempts(hub.database_url)
        ledger.notes.append(f"log leaks: {leaks}; secrets in stored attempts: {stored}")
        leads = requests.get(f"{hub.fake('salesforce')}/__fake__/records/Lead", timeout=5).json()["records"]
        finish(ledger)
    assert ledger.lost == 0, ledger
    assert ledger.duplicates == 0, ledger
    assert ledger.deliveries_not_final == 0, "an injected value must not break a query"
    names = {str(lead.get("LastName", "")) + str(lead.get("FirstName", "")) for lead in leads}
    assert any("'" in name for name in names), names
    assert leaks == [], leaks
    assert stored == [], stored


def _admin_routes_refuse_without_the_token(base: str) -> int:
    document = requests.get(f"{base}/api/openapi.json", timeout=5).json()
    checked = 0
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in operations.items():
            if operation.get("security") == []:
                continue
            for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": ADMIN_TOKEN}):
                answer = requests.request(
                    method.upper(), f"{base}{concrete}", headers=headers, json={}, timeout=10
                )
                assert answer.status_code == 401, (method, path, headers, answer.status_code)
            checked += 1
    assert checked >= 10
    return checked


def _clear_text_in_logs(logs: Path, plans: Any) -> list[str]:
    secrets = (SECRET, ADMIN_TOKEN, SANDBOX_SECRET)
    phones = {plan.phone for plan in plans} | {plan.phone[2:] for plan in plans}
    found = []
    for log in logs.iterdir():
        text = log.read_text(errors="replace")
        found += [f"{log.name}: secret" for secret in secrets if secret in text]
        found += [f"{log.name}: phone {phone[-4:]}" for phone in phones if phone in text]
    return sorted(set(found))


_BEARER = re.compile(r"Bearer (?!\*)[A-Za-z0-9!._\-]{8,}")


def _secrets_in_attempts(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        with db.read_session() as session:
            stored = [json.dumps(row) for row in session.scalars(select(Attempt.exchanges))]
            stored += [json.dumps(row) for row in session.scalars(select(Batch.exchanges))]
    finally:
        db.dispose()
    text = "\n".join(stored)
    found = [
        name
        for name, secret in (("source", SECRET), ("admin", ADMIN_TOKEN), ("webhook", SANDBOX_SECRET))
        if secret in text
    ]
    found += [f"bearer token {match[:12]}..." for match in _BEARER.findall(text)]
    return found
