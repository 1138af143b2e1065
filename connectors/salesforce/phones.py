"""Phone numbers as Salesforce stores them (any format) against the hub's E.164, and safe SOSL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import phonenumbers

from hub.core import phones

#: Characters SOSL reserves; a search term keeps none of them, so input can never change a statement.
_SOSL_RESERVED: Final = re.compile(r"[?&|!{}\[\]()^~*:\\\"'+\-]")


class NumberMatcher:
    """Which of the wanted E.164 numbers a stored value is, read in the caller's own region.

    `020 7123 4567` is +442071234567 for a UK caller even when the org's default region is US:
    a stored value is tried in the default region first, then in the region of any wanted
    number whose national digits it ends with.
    """

    def __init__(self, numbers: Sequence[str], default_region: str) -> None:
        self.default_region = default_region
        self.wanted = set(numbers)
        self.by_national = {search_digits(number): number for number in numbers}

    def match(self, stored: object) -> str | None:
        direct = phones.e164(stored, self.default_region)
        if direct in self.wanted:
            return direct
        digits = re.sub(r"\D", "", stored) if isinstance(stored, str) else ""
        for length in range(len(digits), 5, -1):
            number = self.by_national.get(digits[-length:])
            if number and phones.e164(stored, _region(number)) == number:
                return number
        return None


def _region(e164: str) -> str:
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or "ZZ"


def search_digits(e164: str) -> str:
    """The digits to search for: the national number, which SOSL phone search matches in any format."""
    parsed = phonenumbers.parse(e164, None)
    return str(parsed.national_number)


def sosl_term(text: str) -> str:
    return _SOSL_RESERVED.sub("", text).strip()


def phone_search(numbers: Sequence[str], returning: Sequence[str]) -> str:
    """`FIND {a OR b} IN PHONE FIELDS RETURNING ...` for E.164 numbers (digits only, reserved chars stripped)."""
    terms = sorted({sosl_term(search_digits(number)) for number in numbers} - {""})
    return f"FIND {{{' OR '.join(terms)}}} IN PHONE FIELDS RETURNING {', '.join(returning)}"
