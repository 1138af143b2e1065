"""Caller numbers as HubSpot may hold them: normalized to E.164 to compare, spelled several ways to search.

HubSpot stores `phone` / `mobilephone` as typed, and derives `hs_searchable_calculated_*` properties
holding the national digits; searching both finds a contact whatever format it was saved in.
"""

from __future__ import annotations

import functools

import phonenumbers

#: Contact properties every lookup searches besides the mapping's own match properties.
PHONE_PROPERTIES = ("phone", "mobilephone")
#: Read-only properties HubSpot computes from `phone` / `mobilephone`: national digits only.
CALCULATED_PROPERTIES = ("hs_searchable_calculated_phone_number", "hs_searchable_calculated_mobile_number")
#: Every property of a contact or call that holds a phone number (masked in exchange history,
#: also where a search or batch names it in `propertyName` / `idProperty`).
PHONE_KEYS = frozenset(
    {
        *PHONE_PROPERTIES,
        *CALCULATED_PROPERTIES,
        "hs_calculated_phone_number",
        "hs_searchable_calculated_international_phone_number",
        "hs_call_from_number",
        "hs_call_to_number",
        "callhub_caller_e164",
        "callhub_tracking_number",
    }
)


@functools.lru_cache(maxsize=4096)
def region_of(e164: str) -> str | None:
    """The region a number belongs to (None when phonenumbers cannot tell)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if not region or region == "ZZ":
        # Not a valid number of any one region (say a fictional 555 one): the country's main region.
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return region if region and region != "ZZ" else None


@functools.lru_cache(maxsize=4096)
def national_digits(e164: str) -> str:
    return str(phonenumbers.national_significant_number(phonenumbers.parse(e164)))


def stored_variants(e164: str) -> list[str]:
    """Exact spellings searched on `phone`-like properties (formatted ones are caught by the
    calculated properties, which hold digits whatever the format)."""
    return list(dict.fromkeys((e164, national_digits(e164))))
