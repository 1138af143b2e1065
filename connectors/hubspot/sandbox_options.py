"""The destination's `sandbox:` settings in hub.yaml: how `hub run` shapes the local HubSpot.

```yaml
sandbox:
  properties:                 # custom properties the sandbox portal has, to try a new mapping field
    contacts:
      - {name: callhub_lead_score, type: number}
      - {name: callhub_outcome, type: enumeration, options: [won, lost]}
    calls:
      - {name: callhub_team}
  unique_calls: false         # a portal without unique values on calls (default true)
  batch_errors: per_record    # 207 per record instead of HubSpot's whole-batch 400/409
  search_lag_s: 0             # HubSpot's search index lag (default 5, as HubSpot: a few seconds)
```

Checked here (the connector never imports its fake, which checks the same again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

PROPERTY_TYPES: Final = ("string", "number", "date", "datetime", "enumeration", "bool")
BATCH_ERROR_MODES: Final = ("whole_batch", "per_record")
SANDBOX_KEYS: Final = {
    "properties": "custom properties: {contacts: [{name, type, options, unique}], calls: [...]}",
    "unique_calls": "true (default) or false: whether the portal gives unique values on calls",
    "batch_errors": "whole_batch (default, as HubSpot) or per_record (207 per input)",
    "search_lag_s": "seconds before a new record shows in search (default 5, HubSpot's few seconds)",
}
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_ENTRY_KEYS: Final = {"name", "label", "type", "options", "unique"}


def sandbox_problems(options: Mapping[str, Any]) -> list[str]:
    problems = [
        f"sandbox.{key}: unknown; known: {', '.join(sorted(SANDBOX_KEYS))}"
        for key in options
        if key not in SANDBOX_KEYS
    ]
    if not isinstance(options.get("unique_calls", True), bool):
        problems.append("sandbox.unique_calls must be true or false")
    if options.get("batch_errors", "whole_batch") not in BATCH_ERROR_MODES:
        problems.append(f"sandbox.batch_errors must be one of {', '.join(BATCH_ERROR_MODES)}")
    lag = options.get("search_lag_s", 5.0)
    if not isinstance(lag, (int, float)) or isinstance(lag, bool) or not 0 <= lag <= 600:
        problems.append("sandbox.search_lag_s must be a number of seconds from 0 to 600")
    if "properties" in options:
        problems += _properties_problems(options["properties"])
    return problems


def _properties_problems(declared: Any) -> list[str]:
    if not isinstance(declared, Mapping):
        return ["sandbox.properties must map contacts / calls to lists of properties"]
    problems: list[str] = []
    for object_type, entries in declared.items():
        where = f"sandbox.properties.{object_type}"
        if object_type not in ("contacts", "calls"):
            problems.append(f"{where}: the sandbox portal has contacts and calls")
        elif not isinstance(entries, Sequence) or isinstance(entries, str):
            problems.append(f"{where} must be a list")
        else:
            for index, entry in enumerate(entries):
                problems += [f"{where}[{index}]: {problem}" for problem in _entry_problems(entry)]
    return problems


def _entry_problems(entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return ["must be a mapping with at least `name`"]
    problems = [
        f"unknown key {key!r}; known: {', '.join(sorted(_ENTRY_KEYS))}"
        for key in entry
        if key not in _ENTRY_KEYS
    ]
    if not isinstance(entry.get("name"), str) or not _NAME.match(entry["name"]):
        problems.append("name must be lower case letters, digits and underscores, a letter first")
    kind = entry.get("type", "string")
    if kind not in PROPERTY_TYPES:
        problems.append(f"type must be one of {', '.join(PROPERTY_TYPES)}")
    options = entry.get("options", [])
    if kind == "enumeration" and (not isinstance(options, list) or not options):
        problems.append("an enumeration needs `options` (a list of values)")
    if not isinstance(entry.get("unique", False), bool):
        problems.append("unique must be true or false")
    return problems
