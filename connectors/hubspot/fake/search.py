"""CRM search as the fake evaluates it: filterGroups OR-ed, filters AND-ed, HubSpot's limits enforced.

The limits are those of HubSpot's search guide (https://developers.hubspot.com/docs/guides/api/crm/search,
"Filter search results" and "Limitations"): at most 5 filterGroups, 6 filters in a group and 18
in all, 100 values in an `IN` / `NOT_IN` filter, 200 results a page, and no paging past the
10,000th result (a 400). HubSpot's changelog of August 2024 announced 10 filters a group and 25 in
all; the guide still states 6 and 18, and the fake holds clients to the stricter figures so a
connector that passes here passes on every portal.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.hubspot.fake.errors import FakeApiError

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_PAGE = 200
MAX_TOTAL = 10_000

_TOKEN_SPLIT = re.compile(r"[^0-9a-z@.+_]+")
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


def _bad(message: str) -> FakeApiError:
    return FakeApiError(400, "VALIDATION_ERROR", message)


def validate_request(body: Mapping[str, Any], known: Mapping[str, object], max_in_values: int) -> None:
    """Refuse what HubSpot refuses: too many groups or filters, unknown operators or properties."""
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise _bad("filterGroups must be a list")
    if len(groups) > MAX_GROUPS:
        raise _bad(f"Too many filter groups ({len(groups)}); the maximum is {MAX_GROUPS}.")
    total = 0
    for group in groups:
        filters = group.get("filters") or [] if isinstance(group, dict) else []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise _bad(
                f"Too many filters in a group ({len(filters)}); the maximum is {MAX_FILTERS_PER_GROUP}."
            )
        total += len(filters)
        for item in filters:
            operator = item.get("operator", "EQ")
            if operator not in OPERATORS:
                raise _bad(f"Unknown operator {operator!r}.")
            name = item.get("propertyName")
            if name not in known:
                raise _bad(f"There was a problem with the request: property {name!r} does not exist.")
            values = item.get("values") or []
            if operator in ("IN", "NOT_IN") and len(values) > max_in_values:
                raise _bad(f"Too many values for {operator} ({len(values)}); the maximum is {max_in_values}.")
    if total > MAX_FILTERS:
        raise _bad(f"Too many filters ({total}); the maximum is {MAX_FILTERS}.")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 0 < limit <= MAX_PAGE:
        raise _bad(f"limit must be between 1 and {MAX_PAGE}.")
    after = str(body.get("after") or "0")
    if not after.isdigit():
        raise _bad(f"after must be a paging cursor a previous page gave, not {after!r}.")
    if int(after) >= MAX_TOTAL:
        raise _bad(f"The search returns at most {MAX_TOTAL} results; narrow the filters to page further.")


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(stored: str, operand: Any, operator: str) -> bool:
    left, right = _number(stored), _number(operand)
    if left is not None and right is not None:
        pair: tuple[Any, Any] = (left, right)
    else:
        pair = (stored.lower(), str(operand).lower())
    if operator == "LT":
        return bool(pair[0] < pair[1])
    if operator == "LTE":
        return bool(pair[0] <= pair[1])
    if operator == "GT":
        return bool(pair[0] > pair[1])
    return bool(pair[0] >= pair[1])


def _contains_token(stored: str, pattern: str) -> bool:
    wanted = pattern.lower()
    tokens = [token for token in _TOKEN_SPLIT.split(stored.lower()) if token]
    return any(fnmatch.fnmatchcase(token, wanted) for token in tokens)


def matches_filter(properties: Mapping[str, str], item: Mapping[str, Any]) -> bool:
    operator = item.get("operator", "EQ")
    stored = properties.get(str(item.get("propertyName")))
    present = stored not in (None, "")
    if operator == "HAS_PROPERTY":
        return present
    if operator == "NOT_HAS_PROPERTY":
        return not present
    values: Sequence[Any] = item.get("values") or []
    if operator == "NOT_IN":
        return not present or str(stored).lower() not in {str(v).lower() for v in values}
    if operator == "NEQ":
        return not present or str(stored).lower() != str(item.get("value", "")).lower()
    if operator == "NOT_CONTAINS_TOKEN":
        return not present or not _contains_token(str(stored), str(item.get("value", "")))
    if not present:
        return False
    text = str(stored)
    if operator == "EQ":
        return text.lower() == str(item.get("value", "")).lower()
    if operator == "IN":
        return text.lower() in {str(v).lower() for v in values}
    if operator == "CONTAINS_TOKEN":
        return _contains_token(text, str(item.get("value", "")))
    if operator == "BETWEEN":
        return _compare(text, item.get("value"), "GTE") and _compare(text, item.get("highValue"), "LTE")
    return _compare(text, item.get("value"), operator)


def matches(properties: Mapping[str, str], groups: Sequence[Mapping[str, Any]]) -> bool:
    if not groups:
        return True
    return any(
        all(matches_filter(properties, item) for item in group.get("filters") or []) for group in groups
    )
