"""Finding the contacts that already hold a caller's number, many numbers per search request.

A search request holds at most 5 filter groups (OR-ed) of one `IN` filter each, with at most
`max_in_values` values: numbers are packed into as few requests as those limits allow (one per
100 callers with the default properties: `phone` and `mobilephone` by E.164, their calculated
twins by national digits), and every contact returned is matched back to the numbers it holds by
normalized E.164, never by raw text.

HubSpot's limits (https://developers.hubspot.com/docs/guides/api/crm/search, "Filter search
results" and "Limitations"): 5 filter groups, 6 filters in a group, 18 filters in all, 100 values
in an `IN` filter, 200 results a page and 10,000 results a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.phones import (
    CALCULATED_PROPERTIES,
    PHONE_PROPERTIES,
    national_digits,
    region_of,
    stored_variants,
)
from hub.core import phones

MAX_GROUPS = 5
SEARCH_PAGE = 200
#: Results one search can page through; a search matching more is split (`split`).
MAX_RESULTS = 10_000


@dataclass
class SearchPlan:
    """One search request: property -> value lists, one filter group per list."""

    groups: list[tuple[str, list[str]]] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)

    def filter_groups(self) -> list[dict[str, Any]]:
        return [
            {"filters": [{"propertyName": name, "operator": "IN", "values": values}]}
            for name, values in self.groups
        ]


def _values_for(e164: str, prop: str) -> list[str]:
    """The spellings searched on one property. `phone` and `mobilephone` by E.164 only: a number
    typed in any other format is found by its calculated twin, which holds the national digits
    whatever the format (searching the digits there too would take a second request per 50
    callers for nothing). A mapping's own match property has no twin: both spellings."""
    if prop in CALCULATED_PROPERTIES:
        return [national_digits(e164)]
    if prop in PHONE_PROPERTIES:
        return [e164]
    return stored_variants(e164)


def search_properties(match_properties: Iterable[str]) -> list[str]:
    extra = [p for p in match_properties if p not in PHONE_PROPERTIES]
    return list(dict.fromkeys([*PHONE_PROPERTIES, *CALCULATED_PROPERTIES, *extra]))


def plan_searches(numbers: Sequence[str], properties: Sequence[str], max_in_values: int) -> list[SearchPlan]:
    """Pack numbers greedily into requests that respect HubSpot's filter limits."""
    plans: list[SearchPlan] = []
    current = SearchPlan()
    for e164 in numbers:
        trial = _with_number(current, e164, properties, max_in_values)
        if trial is None:
            plans.append(current)
            current = _with_number(SearchPlan(), e164, properties, max_in_values) or SearchPlan()
        else:
            current = trial
    if current.numbers:
        plans.append(current)
    return plans


def split(plan: SearchPlan, properties: Sequence[str], max_in_values: int) -> list[SearchPlan]:
    """A search that matched more contacts than HubSpot pages through, as two over half its numbers each."""
    middle = len(plan.numbers) // 2
    halves = (plan.numbers[:middle], plan.numbers[middle:])
    return [part for half in halves for part in plan_searches(half, properties, max_in_values)]


def _with_number(plan: SearchPlan, e164: str, properties: Sequence[str], max_in: int) -> SearchPlan | None:
    groups = [(name, list(values)) for name, values in plan.groups]
    for prop in properties:
        for value in _values_for(e164, prop):
            target = next(
                (vals for name, vals in reversed(groups) if name == prop and len(vals) < max_in), None
            )
            if target is None:
                target = []
                groups.append((prop, target))
            if value not in target:
                target.append(value)
    if len(groups) > MAX_GROUPS:
        return None
    return SearchPlan(groups, [*plan.numbers, e164])


def numbers_held(
    contact: Mapping[str, Any], properties: Sequence[str], wanted: Iterable[str], region: str
) -> set[str]:
    """Which of the wanted E.164 numbers this contact holds, in any property searched.

    A hit on a calculated property (national digits only) is a candidate: +1 202-555-0100 and
    +44 20 2555 0100 share their digits. It counts only when the contact's own `phone` or
    `mobilephone` is that number, read in the caller's region when typed without a country code.
    """
    values: Mapping[str, Any] = contact.get("properties") or {}
    wanted_set = set(wanted)
    held: set[str] = set()
    for prop in properties:
        raw = values.get(prop)
        if not raw:
            continue
        if prop in CALCULATED_PROPERTIES:
            candidates = {n for n in wanted_set if national_digits(n) == str(raw)}
            held.update(n for n in candidates if any(same_number(values.get(p), n) for p in PHONE_PROPERTIES))
        else:
            e164 = phones.e164(str(raw), region)
            if e164 in wanted_set:
                held.add(e164)
            digits = "".join(ch for ch in str(raw) if ch.isdigit())
            held.update(n for n in wanted_set if digits.endswith(national_digits(n)) and same_number(raw, n))
    return held & wanted_set


def same_number(raw: object, e164: str) -> bool:
    """Whether a stored value is this number: parsed in the number's own region, so a value with a
    country code must carry the same one, and one without is read as the caller's national number."""
    region = region_of(e164)
    return region is not None and phones.e164(raw, region) == e164


def most_recent(contacts: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The most recently modified contact (ties: the newest id)."""
    return max(contacts, key=lambda c: (str(c.get("updatedAt") or ""), int(str(c.get("id") or 0))))
