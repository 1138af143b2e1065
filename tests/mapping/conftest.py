"""Helpers for the mapping engine tests: mapping files written to a temporary folder, and events."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from hub.core.errors import ConfigError
from hub.core.events import Attribution, Call, Caller, CallEvent, Outcome
from hub.mapping import Mapping, load_mapping

WriteMapping = Callable[[str], Path]


@pytest.fixture
def write_mapping(tmp_path: Path) -> WriteMapping:
    """Write YAML (dedented) to mappings/salesforce/<n>.yaml under a temporary folder."""
    folder = tmp_path / "mappings" / "salesforce"
    folder.mkdir(parents=True)
    counter = iter(range(1000))

    def write(text: str) -> Path:
        path = folder / f"m{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def mapping_from(write_mapping: WriteMapping) -> Callable[[str], Mapping]:
    def load(text: str) -> Mapping:
        return load_mapping(write_mapping(text), display_path="lead.yaml")

    return load


@pytest.fixture
def problems_of(write_mapping: WriteMapping) -> Callable[[str], list[str]]:
    """Every problem of a mapping that must fail to load."""

    def problems(text: str) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            load_mapping(write_mapping(text), display_path="lead.yaml")
        return caught.value.problems

    return problems


def answered_call(**changes: object) -> CallEvent:
    """An answered, attributed web-session call; keyword arguments replace whole sections."""
    values: dict[str, object] = {
        "provider": "callrail",
        "provider_call_id": "CAL123",
        "kind": "call.completed",
        "occurred_at": datetime(2024, 5, 1, 14, 10, tzinfo=UTC),
        "id": "evt_1",
        "source": "callrail-main",
        "call": Call(
            started_at=datetime(2024, 5, 1, 14, 4, 5, tzinfo=UTC),
            duration_s=125,
            direction="inbound",
            status="answered",
            first_call=True,
            spam=False,
        ),
        "caller": Caller(number="+14155550100", name="Ada Lovelace", email=" Ada@Example.com "),
        "attribution": Attribution(
            source="google", medium="cpc", campaign="Spring Sale", keyword="plumber near me", gclid="Cj0KCQ"
        ),
        "outcome": Outcome(
            qualified=True,
            lead_status="good_lead",
            value=Decimal("250.50"),
            currency="USD",
            tags=("Booked", "vip"),
        ),
        "custom": {"crm": {"owner": "team-a"}, "score": 7},
    }
    values.update(changes)
    return CallEvent(**values)  # type: ignore[arg-type]
