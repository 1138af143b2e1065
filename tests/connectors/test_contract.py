"""The contract every connector keeps, run over every registered connector against its own fake.

A connector gets this suite by adding `tests/connectors/<type>/contract.py` (see contract.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from connectors import registry
from connectors.base import (
    Connector,
    Delivered,
    DeliveryError,
    MemoryContext,
    PermanentError,
    RetryableError,
)
from hub.local_server import LocalServer
from tests.connectors.contract import (
    ERROR_KINDS,
    ContractAdapter,
    FakeControl,
    adapters,
    again,
    in_clear,
    items,
)

ADAPTERS = adapters()
TYPES = sorted(ADAPTERS)


@pytest.fixture(scope="module", params=TYPES)
def adapter(request: pytest.FixtureRequest) -> ContractAdapter:
    return ADAPTERS[request.param]


@pytest.fixture(scope="module")
def fake_server(adapter: ContractAdapter) -> Iterator[LocalServer]:
    fake_package = importlib.import_module(f"connectors.{adapter.type}.fake")
    with LocalServer(fake_package.create_app(**adapter.fake_options)) as server:
        yield server


@pytest.fixture
def fake(fake_server: LocalServer) -> Iterator[FakeControl]:
    control = FakeControl(fake_server.url)
    control.reset()
    yield control
    control.reset()
    control.http.close()


def connector(adapter: ContractAdapter, fake: FakeControl, context: MemoryContext | None = None) -> Connector:
    settings = adapter.settings(fake.url, adapter.good_credentials)
    return registry.connector_class(adapter.type)(settings, context or MemoryContext())


def test_every_registered_connector_has_an_adapter_and_a_fake() -> None:
    assert set(ADAPTERS) == set(registry.types()), "add tests/connectors/<type>/contract.py"
    for type_name in registry.types():
        app = registry.sandbox_app(type_name)
        assert app is not None, f"connectors/{type_name}/fake/ has no create_app"
        answer = app.test_client().post("/__fake__/reset")
        assert answer.status_code < 300, f"{type_name}: the fake's control API is not under /__fake__/"


def test_check_passes_with_good_credentials(adapter: ContractAdapter, fake: FakeControl) -> None:
    result = connector(adapter, fake).check()

    assert result.ok, result


def test_check_fails_with_bad_credentials(adapter: ContractAdapter, fake: FakeControl) -> None:
    settings = adapter.settings(fake.url, adapter.bad_credentials)
    result = registry.connector_class(adapter.type)(settings, MemoryContext()).check()

    assert not result.ok, result
    assert result.detail


def test_a_batch_is_written_with_an_outcome_per_item(adapter: ContractAdapter, fake: FakeControl) -> None:
    batch = items(adapter.type)

    result = connector(adapter, fake).deliver(batch)

    assert set(result.outcomes) == {item.delivery_id for item in batch}
    assert all(isinstance(outcome, Delivered) for outcome in result.outcomes.values()), result.outcomes
    assert adapter.written(fake) > 0


@pytest.mark.parametrize("kind", sorted(ERROR_KINDS))
def test_error_answers_are_classified(adapter: ContractAdapter, fake: FakeControl, kind: str) -> None:
    batch = items(adapter.type)
    adapter.fail_writes(fake, kind)

    result = connector(adapter, fake).deliver(batch)

    assert set(result.outcomes) == {item.delivery_id for item in batch}
    expected = RetryableError if ERROR_KINDS[kind] else PermanentError
    for outcome in result.outcomes.values():
        assert isinstance(outcome, expected), (kind, outcome)
    assert adapter.written(fake) == 0


def test_every_item_gets_an_outcome_when_the_destination_is_unreachable(adapter: ContractAdapter) -> None:
    unreachable = FakeControl("http://127.0.0.1:9")
    batch = items(adapter.type)

    result = connector(adapter, unreachable).deliver(batch)

    assert set(result.outcomes) == {item.delivery_id for item in batch}
    for outcome in result.outcomes.values():
        assert isinstance(outcome, RetryableError), outcome


class _BrokenContext(MemoryContext):
    """Services that fail in a way no connector expects."""

    def throttle(self, bucket: str = "default", cost: int = 1) -> None:
        raise RuntimeError("the rate limiter is broken")


def test_every_item_gets_an_outcome_when_sending_raises(adapter: ContractAdapter, fake: FakeControl) -> None:
    batch = items(adapter.type)

    result = connector(adapter, fake, _BrokenContext()).deliver(batch)

    assert set(result.outcomes) == {item.delivery_id for item in batch}
    for outcome in result.outcomes.values():
        assert isinstance(outcome, DeliveryError), outcome
    assert adapter.written(fake) == 0


def test_preview_sends_nothing(adapter: ContractAdapter, fake: FakeControl) -> None:
    batch = items(adapter.type)
    previewer = connector(adapter, fake)

    planned = [previewer.preview(item) for item in batch]

    assert all(planned), "every sample call should plan at least one request"
    assert adapter.requests_seen(fake) == 0
    assert adapter.written(fake) == 0


def test_a_replay_writes_no_duplicate(adapter: ContractAdapter, fake: FakeControl) -> None:
    context = MemoryContext()
    batch = items(adapter.type)
    first = connector(adapter, fake, context).deliver(batch)
    written = adapter.written(fake)

    replayed = connector(adapter, fake, context).deliver(again(batch))

    assert all(isinstance(o, Delivered) for o in first.outcomes.values()), first.outcomes
    assert set(replayed.outcomes) == {item.delivery_id for item in batch}
    assert not any(isinstance(o, DeliveryError) for o in replayed.outcomes.values()), replayed.outcomes
    assert adapter.written(fake) == written


def test_recorded_exchanges_show_no_secret_number_or_name(
    adapter: ContractAdapter, fake: FakeControl
) -> None:
    batch = items(adapter.type)
    results = [connector(adapter, fake).deliver(batch)]
    adapter.fail_writes(fake, "refused")
    results.append(connector(adapter, fake).deliver(again(batch)))

    exchanges = [exchange for result in results for exchange in result.exchanges]
    assert exchanges, "a send records what it asked"
    for exchange in exchanges:
        text = " ".join((exchange.url, exchange.request_body, exchange.response_body))
        assert in_clear(text, adapter.secrets(fake.url)) == [], exchange
