"""Custom properties an admin declares for the sandbox portal (hub.yaml `sandbox: properties:`),
so a new mapping field can be tried end to end before the property exists in a real portal.

HubSpot's property types: https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from connectors.hubspot.fake.catalogue import PropertyDef

#: HubSpot property `type` -> the `fieldType` the fake gives it.
FIELD_TYPES: Final = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}
OBJECTS: Final = ("contacts", "calls")
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS: Final = {"name", "label", "type", "options", "unique"}


def declared_problems(declared: Any) -> list[str]:
    """What is wrong with a `properties:` declaration (empty when it can be used)."""
    if not isinstance(declared, Mapping):
        return ["properties must map contacts / calls to lists of properties"]
    problems: list[str] = []
    for object_type, entries in declared.items():
        if object_type not in OBJECTS:
            problems.append(f"properties.{object_type}: the sandbox has {' and '.join(OBJECTS)}")
            continue
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            problems.append(f"properties.{object_type} must be a list")
            continue
        for index, entry in enumerate(entries):
            problems += [f"properties.{object_type}[{index}]: {p}" for p in _entry_problems(entry)]
    return problems


def _entry_problems(entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return ["must be a mapping with at least `name`"]
    problems = [
        f"unknown key {key!r}; known: {', '.join(sorted(_KEYS))}" for key in entry if key not in _KEYS
    ]
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append("name must be lower case letters, digits and underscores, a letter first")
    kind = entry.get("type", "string")
    if kind not in FIELD_TYPES:
        problems.append(f"type must be one of {', '.join(FIELD_TYPES)}")
    options = entry.get("options", [])
    if kind == "enumeration" and (not isinstance(options, list) or not options):
        problems.append("an enumeration needs `options` (a list of values)")
    if not isinstance(entry.get("unique", False), bool):
        problems.append("unique must be true or false")
    return problems


def declared_properties(declared: Mapping[str, Any] | None) -> dict[str, list[PropertyDef]]:
    """Object type -> the declared properties; raises ValueError listing every problem."""
    if not declared:
        return {}
    problems = declared_problems(declared)
    if problems:
        raise ValueError("; ".join(problems))
    return {
        object_type: [
            PropertyDef(
                str(entry["name"]),
                str(entry.get("label") or entry["name"]),
                type=str(entry.get("type", "string")),
                field_type=FIELD_TYPES[str(entry.get("type", "string"))],
                options=tuple(str(option) for option in entry.get("options", [])),
                unique=bool(entry.get("unique", False)),
                hubspot_defined=False,
            )
            for entry in entries
        ]
        for object_type, entries in declared.items()
    }
