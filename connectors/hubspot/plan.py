"""One batch's bookkeeping: what each delivery asks for, and each delivery's outcome so far."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from connectors.base import ConnectorContext, DeliveryError, DeliveryItem, ItemOutcome
from connectors.hubspot.api import HubSpotApi
from connectors.hubspot.options import HubSpotOptions
from hub.core.records import RenderedRecord

T = TypeVar("T")


@dataclass
class CallPlan:
    """What one delivery asks of HubSpot."""

    item: DeliveryItem
    contact: RenderedRecord | None
    call: RenderedRecord | None
    #: The caller's number in E.164 (from the contact record's match fields), None when unknown.
    caller: str | None
    contact_id: str | None = None
    contact_note: str = ""
    call_id: str | None = None
    call_note: str = ""

    @property
    def delivery_id(self) -> str:
        return self.item.delivery_id

    @property
    def call_key(self) -> str:
        return f"{self.item.call.source}:{self.item.call.provider_call_id}"

    @property
    def order(self) -> tuple[object, ...]:
        return (self.item.trigger.occurred_at, self.item.attempt)


@dataclass
class Ledger:
    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)

    def settle(self, plans: Iterable[CallPlan], outcome: ItemOutcome) -> None:
        """First outcome wins: a delivery that failed earlier in the batch stays failed."""
        for plan in plans:
            self.outcomes.setdefault(plan.delivery_id, outcome)

    def open(self, plans: Iterable[CallPlan]) -> list[CallPlan]:
        return [plan for plan in plans if plan.delivery_id not in self.outcomes]

    def guarded(
        self,
        plans: Sequence[CallPlan],
        action: Callable[[], T],
        classify: Callable[[Exception], DeliveryError],
        passing: tuple[type[Exception], ...] = (),
    ) -> T | None:
        """Run one HubSpot request for these deliveries; its failure becomes theirs, not the batch's.
        Exceptions of the `passing` kinds are the caller's to handle (they are raised on)."""
        try:
            return action()
        except passing:
            raise
        except Exception as exc:  # noqa: BLE001
            # Classified and stored per delivery (retried or rejected), never swallowed.
            self.settle(plans, classify(exc))
            return None


def group_by(plans: Iterable[CallPlan], key: Callable[[CallPlan], str | None]) -> dict[str, list[CallPlan]]:
    groups: dict[str, list[CallPlan]] = {}
    for plan in plans:
        value = key(plan)
        if value is not None:
            groups.setdefault(value, []).append(plan)
    return groups


def chunks(keys: Sequence[str], size: int = 100) -> list[Sequence[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


Classifier = Callable[[Exception], DeliveryError]
OwnerResolver = Callable[[dict[str, str]], dict[str, str]]


class Sync:
    """What the contact and call writers share: the API, the hub's services and the options."""

    def __init__(
        self,
        api: HubSpotApi,
        context: ConnectorContext,
        options: HubSpotOptions,
        classify: Classifier,
        resolve_owner: OwnerResolver,
    ) -> None:
        self.api = api
        self.context = context
        self.options = options
        self.classify = classify
        self.resolve_owner = resolve_owner
