"""The subset of SOSL the hub sends: `FIND {...} IN PHONE|ALL FIELDS RETURNING Obj(fields [WHERE...])`.

Phone search is format-insensitive like Salesforce's: `{4155550100}` finds `(415) 555-0100` and
`+1 415-555-0100`. Reserved characters must arrive escaped, as Salesforce requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from connectors.salesforce.fake.errors import FakeError
from connectors.salesforce.fake.soql import Parser, Select, parse_tail, tokenize
from connectors.salesforce.fake.store import Record, Store, digits

_CODE: Final = "MALFORMED_SEARCH"
_RESERVED: Final = set("?&|!{}[]()^~*:\\\"'+-")
_WORD: Final = re.compile(r"^[\w.@]+\*?$")
MAX_RESULTS: Final = 2000


@dataclass
class Search:
    terms: list[str]
    scope: str
    returning: list[Select]


def parse_search(text: str) -> Search:
    stripped = text.strip()
    if not stripped.upper().startswith("FIND"):
        raise FakeError(_CODE, "unexpected token: expecting FIND")
    rest = stripped[4:].lstrip()
    if not rest.startswith("{"):
        raise FakeError(_CODE, "unexpected token: expecting '{'")
    terms, position = _terms(rest)
    parser = Parser(tokenize(rest[position:], _CODE), _CODE)
    scope = "ALL"
    if parser.peek("IN"):
        parser.take("IN")
        scope = parser.take("ALL", "NAME", "EMAIL", "PHONE").text.upper()
        parser.take("FIELDS")
    returning: list[Select] = []
    if parser.peek("RETURNING"):
        parser.take("RETURNING")
        returning.append(_returning(parser))
        while parser.peek(","):
            parser.take(",")
            returning.append(_returning(parser))
    if not parser.done():
        raise FakeError(_CODE, f"unexpected token: '{parser.tokens[parser.position].text}'")
    return Search(terms, scope, returning)


def _returning(parser: Parser) -> Select:
    sobject = parser.name()
    fields = ["Id"]
    if parser.peek("("):
        parser.take("(")
        fields = parser.names()
        select = parse_tail(parser, fields, sobject, stop=(")",))
        parser.take(")")
        return select
    return Select(fields, sobject, None, None, None)


def _terms(text: str) -> tuple[list[str], int]:
    """Search terms inside `{...}` (OR-joined words or quoted phrases) and where the braces end."""
    position, chunk = 1, []
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            chunk.append(text[position : position + 2])
            position += 2
            continue
        if char == "}":
            break
        chunk.append(char)
        position += 1
    else:
        raise FakeError(_CODE, "line 1: mismatched character '<EOF>' expecting '}'")
    terms: list[str] = []
    for part in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', "".join(chunk)):
        if part.upper() in ("OR", "AND"):
            continue
        phrase = part[1:-1] if part.startswith('"') and part.endswith('"') and len(part) > 1 else part
        unescaped = re.sub(r"\\(.)", r"\1", phrase)
        bare = re.sub(r"\\.", "", phrase)
        if not part.startswith('"') and (set(bare) & _RESERVED - {"*"} or not _WORD.match(unescaped or "x")):
            raise FakeError(_CODE, f"line 1: no viable alternative at character '{part[:20]}'")
        if len(unescaped.strip("*")) < 2:
            raise FakeError("INVALID_SEARCH", "search term must be longer than one character")
        terms.append(unescaped)
    if not terms:
        raise FakeError("INVALID_SEARCH", "search term must be longer than one character")
    return terms, position + 1


def run_search(store: Store, search: Search) -> list[Record]:
    """Matching records of each RETURNING object, in order, capped like Salesforce (2,000)."""
    found: list[Record] = []
    with store.lock:
        for select in search.returning:
            fields = store.fields.get(select.sobject)
            if fields is None:
                raise FakeError("INVALID_TYPE", f"sObject type '{select.sobject}' is not supported.")
            rows = store.searched(select.sobject, search.terms, phone_only=search.scope == "PHONE")
            candidates = [r for r in rows if _matches(r, fields, search)]
            for record in select.apply(candidates):
                found.append({"_type": select.sobject, **{f: _field(record, f) for f in select.fields}})
    return found[:MAX_RESULTS]


def _field(record: Record, name: str) -> Any:
    return next((value for key, value in record.items() if key.lower() == name.lower()), None)


def _matches(record: Record, fields: dict[str, Any], search: Search) -> bool:
    if search.scope == "PHONE":
        fields = {name: spec for name, spec in fields.items() if spec.type == "phone"}
    for term in search.terms:
        for name, spec in fields.items():
            value = record.get(name)
            if not isinstance(value, str) or not value:
                continue
            if spec.type == "phone" and search.scope in ("PHONE", "ALL") and _phone_match(value, term):
                return True
            if search.scope == "ALL" and spec.type != "phone" and term.strip("*").lower() in value.lower():
                return True
    return False


def _phone_match(stored: str, term: str) -> bool:
    wanted, have = digits(term), digits(stored)
    if len(wanted) < 7 or len(have) < 7:
        return False
    return have.endswith(wanted) or wanted.endswith(have)
