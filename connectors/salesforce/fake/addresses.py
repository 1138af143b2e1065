"""State and Country/Territory picklists in a fake org that has them enabled.

Modelled on Salesforce Help (xcloud.admin_state_country_picklists_overview and
xcloud.admin_state_country_picklists_field_syncing):
- each address gets code fields (`StateCode`, `CountryCode`; `MailingStateCode`...) holding ISO
  codes, the text fields (`State`, `Country`) hold the *integration value*, by default the full
  ISO name ("Georgia", "United States");
- writing a valid code fills the text field; writing a valid integration value fills the code;
- anything else is refused: the org stays clean "even for records updated through the API".
Error texts are those integrations report from real orgs (FIELD_INTEGRITY_EXCEPTION), e.g.
https://support.storeconnect.com/article/resolve-state-country-picklist-sync-errors for the code
fields, and the "There's a problem with this state, even though it may appear correct" message for
a text value that is no integration value.
"""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import phonenumbers

from connectors.salesforce.fake.errors import FakeError

#: States shipped enabled for the United States and Canada (the fake's subset of the default list).
STATES: Final[dict[str, dict[str, str]]] = {
    "US": {
        "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
        "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
        "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
        "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
        "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
        "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
        "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
        "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
        "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
        "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
        "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    },
    "CA": {
        "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
        "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
        "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
        "SK": "Saskatchewan", "YT": "Yukon Territories",
    },
}  # fmt: skip
#: Address prefixes per object: "" is Lead's State/Country, "Mailing" Contact's mailing address.
ADDRESSES: Final = {"Lead": ("",), "Contact": ("Mailing",)}


def _locale_data() -> Mapping[str, Mapping[str, str]]:
    """phonenumbers' country names per language, loaded from its one module: importing it as
    `phonenumbers.geodata.locale` runs the `geodata` package, which loads the area-code geocoding
    tables of every country (about 100 MB resident) the fake has no use for."""
    path = Path(phonenumbers.__file__).parent / "geodata" / "locale.py"
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load phonenumbers' country names from {path}")
    module = importlib.util.module_from_spec(spec)
    # Its `from ..util import u` resolves against this package; `phonenumbers.util` is light.
    module.__package__ = "phonenumbers.geodata"
    spec.loader.exec_module(module)
    data: Mapping[str, Mapping[str, str]] = module.LOCALE_DATA
    return data


@cache
def countries() -> dict[str, str]:
    """ISO code -> English name, in code order (the order `validFor` bitmaps index)."""
    names: dict[str, str] = {}
    locale_data = _locale_data()
    for code in sorted(locale_data):
        if len(code) != 2 or not code.isalpha():
            continue
        entry = locale_data[code]
        name = entry.get("en") or entry.get("aa") or ""
        while name.startswith("*"):
            name = entry.get(name[1:]) or ""
        if name:
            names[code] = name
    return names


def valid_for(country: str) -> str:
    """The describe's `validFor` bitmap for a state of `country` (bit = the country's index)."""
    index = list(countries()).index(country)
    bitmap = bytearray(index // 8 + 1)
    bitmap[index // 8] |= 0x80 >> (index % 8)
    return base64.b64encode(bytes(bitmap)).decode()


def sync(sobject: str, fields: Mapping[str, Any], record: Mapping[str, Any], data: dict[str, Any]) -> None:
    """Check and complete the address values of one save in a picklist-enabled org (in place)."""
    for prefix in ADDRESSES.get(sobject, ()):
        if f"{prefix}CountryCode" in fields:
            _sync_one(prefix, record, data)


def _sync_one(prefix: str, record: Mapping[str, Any], data: dict[str, Any]) -> None:
    state, country = f"{prefix}State", f"{prefix}Country"
    names = countries()
    by_name = {name.casefold(): code for code, name in names.items()}
    if data.get(country) not in (None, "") and f"{country}Code" not in data:
        code = by_name.get(str(data[country]).casefold())
        if code is None:
            raise FakeError(
                "FIELD_INTEGRITY_EXCEPTION",
                "There's a problem with this country, even though it may appear correct. "
                "Please select a country/territory from the list of valid countries.",
                [country],
            )
        data[f"{country}Code"] = code
    country_code = data.get(f"{country}Code", record.get(f"{country}Code"))
    if data.get(f"{country}Code") not in (None, ""):
        if data[f"{country}Code"] not in names:
            raise FakeError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"The {country}Code field contains {data[f'{country}Code']}, which isn't an available "
                "country/territory. Your administrator can add it for you.",
                [f"{country}Code"],
            )
        data[country] = names[data[f"{country}Code"]]
    states = STATES.get(str(country_code), {})
    if data.get(state) not in (None, "") and f"{state}Code" not in data:
        code = next((c for c, name in states.items() if name.casefold() == str(data[state]).casefold()), None)
        if code is None:
            raise FakeError(
                "FIELD_INTEGRITY_EXCEPTION",
                "There's a problem with this state, even though it may appear correct. "
                "Please select a state from the list of valid states.",
                [state],
            )
        data[f"{state}Code"] = code
    if data.get(f"{state}Code") not in (None, ""):
        if country_code in (None, ""):
            raise FakeError(
                "FIELD_INTEGRITY_EXCEPTION",
                "A country/territory must be specified before specifying a state value for field: "
                "State/Province",
                [f"{state}Code"],
            )
        if data[f"{state}Code"] not in states:
            raise FakeError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"The {state}Code field contains {data[f'{state}Code']}, which isn't an available state. "
                "Your administrator can add it for you.",
                [f"{state}Code"],
            )
        data[state] = states[data[f"{state}Code"]]
