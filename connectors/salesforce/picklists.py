"""State and Country/Territory picklists: address values go to the ISO code fields the org validates.

With the picklists enabled (the default in many orgs), each address has code fields beside the
text ones (`StateCode`/`CountryCode` on Lead, `MailingStateCode`/`MailingCountryCode` on Contact).
The text fields then accept only the org's *integration values* ("Georgia", "United States"), so
"GA" / "US" written there fail with FIELD_INTEGRITY_EXCEPTION. The connector reads the object's
describe once, and when the code fields exist writes ISO codes to them instead: "GA", "Georgia"
or "ga" all become StateCode "GA" for the country given (states depend on the country through
the describe's `validFor` bitmap). A value the org's picklist does not hold is left out, with a
note on the delivery, rather than refusing the caller's Lead and the call's Task.
Sources: https://help.salesforce.com/s/articleView?id=xcloud.admin_state_country_picklists_overview.htm
and https://help.salesforce.com/s/articleView?id=xcloud.admin_state_country_picklists_field_syncing.htm
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

#: How long a describe is trusted: an admin may enable the picklists while the hub runs.
DESCRIBE_TTL_S: Final = 3600.0


class Describer(Protocol):
    def describe(self, sobject: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Choice:
    code: str
    label: str
    valid_for: bytes = b""


@dataclass
class AddressCodes:
    """One object's picklist-backed address fields: text field name -> its code field's choices."""

    countries: dict[str, list[Choice]] = field(default_factory=dict)
    states: dict[str, list[Choice]] = field(default_factory=dict)
    #: The controlling country field of each state code field, and that field's choices in order.
    controller: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.countries or self.states)


def read_codes(describe: Mapping[str, Any]) -> AddressCodes:
    """The address code fields of one object's describe result (empty when picklists are off)."""
    fields = {str(f.get("name")): f for f in describe.get("fields") or [] if isinstance(f, Mapping)}
    codes = AddressCodes()
    for name, spec in fields.items():
        if not name.endswith(("StateCode", "CountryCode")) or spec.get("type") != "picklist":
            continue
        choices = [
            Choice(str(v["value"]), str(v.get("label") or v["value"]), _bitmap(v.get("validFor")))
            for v in spec.get("picklistValues") or []
            if isinstance(v, Mapping) and v.get("active", True) and v.get("value")
        ]
        text = name.removesuffix("Code")
        if name.endswith("CountryCode"):
            codes.countries[text] = choices
        else:
            codes.states[text] = choices
            controller = spec.get("controllerName")
            if isinstance(controller, str):
                codes.controller[text] = controller.removesuffix("Code")
    return codes


def _bitmap(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text)) if text else b""
    except ValueError:
        return b""


def _valid_for(choice: Choice, index: int) -> bool:
    """Salesforce's dependent-picklist bitmap: bit `index` (most significant first) of validFor."""
    byte = index >> 3
    return byte < len(choice.valid_for) and bool(choice.valid_for[byte] & (0x80 >> (index & 7)))


def _find(choices: list[Choice], value: str) -> Choice | None:
    wanted = value.strip().casefold()
    return next((c for c in choices if wanted in (c.code.casefold(), c.label.casefold())), None)


class AddressPicklists:
    """Rewrites address text fields to their code fields in orgs with the picklists enabled."""

    def __init__(self, api: Describer) -> None:
        self.api = api
        self._codes: dict[str, tuple[float, AddressCodes]] = {}

    def codes(self, sobject: str) -> AddressCodes:
        cached = self._codes.get(sobject)
        if cached is None or time.monotonic() - cached[0] > DESCRIBE_TTL_S:
            cached = (time.monotonic(), read_codes(self.api.describe(sobject)))
            self._codes[sobject] = cached
        return cached[1]

    def adapt(self, sobject: str, body: dict[str, Any]) -> list[str]:
        """Move address values in `body` to the code fields when the org has them; notes for the delivery."""
        names = [n for n in body if n.endswith(("State", "Country")) and isinstance(body[n], str)]
        if not names:
            return []
        codes = self.codes(sobject)
        if not codes.enabled:
            return []
        notes: list[str] = []
        for name in [n for n in names if n in codes.countries]:
            value = str(body.pop(name))
            choice = _find(codes.countries[name], value)
            if choice is None:
                notes.append(f"{name} {value!r} is not in the org's country picklist: left out")
                continue
            body[f"{name}Code"] = choice.code
        for name in [n for n in names if n in codes.states]:
            value = str(body.pop(name))
            choice = self._state(codes, name, value, body)
            if choice is None:
                notes.append(
                    f"{name} {value!r} is not a state of the org's picklist for the country: left out"
                )
                continue
            body[f"{name}Code"] = choice.code
        return notes

    def _state(self, codes: AddressCodes, name: str, value: str, body: Mapping[str, Any]) -> Choice | None:
        country_field = codes.controller.get(name, name.removesuffix("State") + "Country")
        country_code = body.get(f"{country_field}Code")
        countries = codes.countries.get(country_field, [])
        if not isinstance(country_code, str):
            # Salesforce refuses a state without its country: no country, no state.
            return None
        index = next((i for i, c in enumerate(countries) if c.code == country_code), None)
        candidates = [
            c for c in codes.states[name] if index is not None and (not c.valid_for or _valid_for(c, index))
        ]
        return _find(candidates, value)
