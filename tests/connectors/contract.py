"""What the shared connector contract suite (`test_contract.py`) needs to know about one connector.

Each connector's test folder holds `contract.py` with `ADAPTER = ContractAdapter(...)`: how to make
its fake demand credentials, which credentials are good and bad, how to count what the fake
holds and how to make it answer errors. The suite finds every adapter by the registry's types,
so a new connector is tested by adding its adapter; a connector without one fails the suite.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from connectors import registry
from connectors.base import FAKE_CONTROL_PREFIX, DeliveryItem, DestinationSettings
from hub.core.events import Attribution, Call, Caller, CallEvent, Outcome
from hub.core.records import RenderedRecord
from hub.core.secrets import Secret
from hub.mapping import load_mapping

PROJECT = Path(__file__).resolve().parents[2]
#: The error answers every fake can give on demand, and the class each must be translated to.
ERROR_KINDS = {"unavailable": True, "rate_limited": True, "refused": False}
#: What the sample calls carry that history must never show in clear.
CALLERS = (("+14705550183", "Marisol Vega"), ("+14705550184", "Dana Whitfield"))
TRACKING_NUMBER = "+14045550199"


class FakeControl:
    """A running fake's control API (`/__fake__/...`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False

    def get(self, path: str) -> Any:
        response = self.http.get(f"{self.url}{FAKE_CONTROL_PREFIX}/{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> None:
        response = self.http.post(
            f"{self.url}{FAKE_CONTROL_PREFIX}/{path}", json=dict(body or {}), timeout=10
        )
        response.raise_for_status()

    def reset(self) -> None:
        self.post("reset")


@dataclass(frozen=True)
class ContractAdapter:
    """One connector as the contract suite drives it."""

    type: str
    #: `create_app` options of a fake that accepts only `good_credentials`.
    fake_options: Mapping[str, Any]
    good_credentials: Mapping[str, str]
    bad_credentials: Mapping[str, str]
    #: Names of the good credentials that are secrets: never in history.
    secret_names: Sequence[str]
    #: What the fake holds (records, events, distinct deliveries): a replay must not add to it.
    written: Callable[[FakeControl], int]
    #: Every request the fake served (preview must leave it at zero).
    requests_seen: Callable[[FakeControl], int]
    #: Make the fake answer every later write with one of ERROR_KINDS, until reset.
    fail_writes: Callable[[FakeControl, str], None]
    options: Mapping[str, Any] = field(default_factory=dict)
    #: False when the credentials themselves point at the fake (a `{fake_url}` placeholder in a
    #: value) instead of the settings' sandbox_url.
    use_sandbox_url: bool = True

    def settings(self, fake_url: str, credentials: Mapping[str, str]) -> DestinationSettings:
        return DestinationSettings(
            id=f"contract-{self.type}",
            type=self.type,
            credentials={
                name: Secret(value.format(fake_url=fake_url)) for name, value in credentials.items()
            },
            options=dict(self.options),
            sandbox_url=fake_url if self.use_sandbox_url else None,
            timeout_s=10.0,
        )

    def secrets(self, fake_url: str) -> list[str]:
        return [self.good_credentials[name].format(fake_url=fake_url) for name in self.secret_names]


def adapters() -> dict[str, ContractAdapter]:
    """Every registered connector's adapter (missing ones are left out: the suite reports them)."""
    found: dict[str, ContractAdapter] = {}
    for type_name in registry.types():
        try:
            module = importlib.import_module(f"tests.connectors.{type_name}.contract")
        except ModuleNotFoundError:
            continue
        found[type_name] = module.ADAPTER
    return found


def sample_call(index: int, *, now: datetime | None = None) -> CallEvent:
    """An answered, attributed web call; the caller alternates between the two CALLERS."""
    number, name = CALLERS[index % len(CALLERS)]
    started = (now or datetime.now(UTC)) - timedelta(minutes=30 - index)
    call_id = f"CALcontract{index:04d}"
    return CallEvent(
        provider="callrail",
        provider_call_id=call_id,
        kind="call.completed",
        occurred_at=started + timedelta(minutes=7),
        id=f"evt_{call_id}",
        source="callrail",
        call=Call(
            started_at=started,
            duration_s=412,
            direction="inbound",
            status="answered",
            first_call=index == 0,
            spam=False,
            recording_url=f"https://app.callrail.example/calls/{call_id}/recording",
        ),
        caller=Caller(number=number, name=name, city="Decatur", region="GA", country="US"),
        tracking_number=TRACKING_NUMBER,
        attribution=Attribution(
            source="Google Ads",
            medium="cpc",
            campaign="emergency-atl",
            keyword="emergency plumber decatur",
            landing_page="https://www.peachtreeplumbing.example/emergency-plumber",
            gclid="Cj0KCQjw5cOwBhCiARIsAJ5njuYq2Vd8X0pLk3mZsT9aQw1Rb7HcYfE4nUo2GgKjPzXvA6sWqRtYeLaAm0hEALw_wcB",
            ga_client_id=f"11874167{index:02d}.1710263921",
            ga_session_id="1710263921",
        ),
        outcome=Outcome(qualified=True, value=None),
    )


def items(type_name: str, count: int = 3) -> list[DeliveryItem]:
    """Delivery items for `count` sample calls, rendered by the connector's shipped mappings."""
    connector = registry.connector_class(type_name)
    mappings = [
        load_mapping(path, connector=connector)
        for path in sorted((PROJECT / "mappings" / type_name).glob("*.yaml"))
    ]
    made = []
    for index in range(count):
        event = sample_call(index)
        records = [r for r in (m.render(event) for m in mappings) if isinstance(r, RenderedRecord)]
        made.append(DeliveryItem(f"dlv-contract-{index}", event, event, records))
    return made


def again(batch: Sequence[DeliveryItem]) -> list[DeliveryItem]:
    """The same deliveries tried once more (a retry or a replay)."""
    return [dataclasses.replace(item, attempt=item.attempt + 1) for item in batch]


def in_clear(text: str, secrets: Sequence[str]) -> list[str]:
    """The secrets, caller numbers (any common spelling) and caller names `text` shows in clear."""
    shown = [secret for secret in secrets if secret in text]
    for number, name in CALLERS:
        national = number[2:]
        spellings = (
            national,
            f"({national[:3]}) {national[3:6]}-{national[6:]}",
            f"{national[3:6]}-{national[6:]}",
        )
        shown += [spelling for spelling in spellings if spelling in text]
        shown += [part for part in name.split() if part in text]
    tracking = TRACKING_NUMBER[2:]
    return shown + ([tracking] if tracking in text else [])
