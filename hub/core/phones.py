"""Phone numbers: the one reading of every spelling providers, CRMs and mappings hold.

Providers, connectors and mapping transforms all normalize through `parse` / `e164`, so a
number a provider sent, a number a CRM stored and a number a mapping rendered compare equal
whenever they are the same line.
"""

from __future__ import annotations

import re
from typing import Any, Final

import phonenumbers

#: National numbers (no + or 00 prefix) are read as North American unless a caller says otherwise:
#: the providers the hub supports send US numbers without a country code.
DEFAULT_REGION: Final = "US"
# Caller ids that name a softphone or SIP endpoint rather than a number (Twilio `client:alice`).
_NOT_A_NUMBER: Final = ("client:", "sip:")


def parse(value: Any, region: str = DEFAULT_REGION) -> phonenumbers.PhoneNumber | None:
    """The number `value` spells, None for withheld, blank or impossible numbers.

    `region` applies to national formats only ("(470) 555-0183", "4705550183"); a number with a
    leading + or 00 keeps its own country. Digits of an 11-digit NANP number without + are read
    as +1, and international digits without their + (Ringba's Number-NoPlus for a UK caller) as
    international when they are no possible national number.
    """
    raw = _text(value)
    if raw is None or raw.lower().startswith(_NOT_A_NUMBER):
        return None
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None
    candidate = raw
    if not raw.startswith("+"):
        if raw.startswith("00"):
            candidate = "+" + digits[2:]
        elif region == "US" and len(digits) == 11 and digits.startswith("1"):
            candidate = "+" + digits
    parsed = _possible(candidate, region)
    if parsed is None and not candidate.startswith("+") and len(digits) >= 11:
        parsed = _possible("+" + digits, region)
    return parsed


def e164(value: Any, region: str = DEFAULT_REGION) -> str | None:
    """E.164 from any format a provider or CRM stores; None for withheld or unparseable numbers."""
    parsed = parse(value, region)
    return None if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national(value: Any, region: str = DEFAULT_REGION) -> str | None:
    """The number as its own country writes it nationally ("(415) 555-0100"), None when unparseable."""
    parsed = parse(value, region)
    if parsed is None:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def country(number: str | None) -> str | None:
    """ISO alpha-2 country of an E.164 number (`+44...` -> GB); None when unknown or shared."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    return region if region and region != "001" else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    result = str(value).strip()
    return result or None


def _possible(candidate: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None
