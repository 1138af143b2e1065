"""Phone numbers: the one reading of every spelling providers, CRMs and mappings hold.

Providers, connectors and mapping transforms all normalize through `parse` / `e164`, so a
number a provider sent, a number a CRM stored and a number a mapping rendered compare equal
whenever they are the same line.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any, Final

import phonenumbers

#: National numbers (no + or 00 prefix) are read as North American unless a caller says otherwise:
#: the providers the hub supports send US numbers without a country code.
DEFAULT_REGION: Final = "US"
# Caller ids that name a softphone or SIP endpoint rather than a number (Twilio `client:alice`).
_NOT_A_NUMBER: Final = ("client:", "sip:")


def parse(value: Any, region: str = DEFAULT_REGION) -> phonenumbers.PhoneNumber | None:
    """The number `value` spells, None for withheld, blank, placeholder or impossible numbers.

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
    if parsed is None or _placeholder(parsed):
        return None
    return parsed


def e164(value: Any, region: str = DEFAULT_REGION) -> str | None:
    """E.164 from any format a provider or CRM stores; None for withheld or unparseable numbers."""
    if isinstance(value, str):
        return _e164_text(value, region)
    return _e164(value, region)


def _e164(value: Any, region: str) -> str | None:
    parsed = parse(value, region)
    return None if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Providers, mappings and connectors read the same few numbers (tracking lines, a caller's
# number in every destination) many times per call; parsing one costs ~150 us.
_e164_text = functools.lru_cache(maxsize=4096)(_e164)


def caller_key(number: str) -> str:
    """How the hub names a caller where the number must not show (lock names, connector state
    keys): the first 24 hex digits of the SHA-256 of the E.164 number. Stored state is keyed by
    it and `hub forget` finds that state by it, so it must never change."""
    return hashlib.sha256(number.encode()).hexdigest()[:24]


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


# What carriers and providers put in place of a withheld number (Twilio documents +266696687
# "anonymous", +7378742833 "restricted", +2562533 "blocked", +8656696 "unavailable").
_WITHHELD_NUMBERS: Final = frozenset({"266696687", "7378742833", "2562533", "8656696"})


def _placeholder(parsed: phonenumbers.PhoneNumber) -> bool:
    """A filler, not a number: one digit repeated (+11111111111), a withheld marker, or a NANP
    number whose area code or exchange starts with 0 or 1 (no such number can be dialed)."""
    national = str(parsed.national_number)
    if len(set(national)) == 1 or f"{parsed.country_code}{national}" in _WITHHELD_NUMBERS:
        return True
    return parsed.country_code == 1 and len(national) == 10 and (national[0] in "01" or national[3] in "01")


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
