"""The subset of SOQL the hub sends, parsed for real so a broken escape fails like Salesforce fails.

Supported: `SELECT f, ... FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]] [LIMIT n]`, conditions of
`=, !=, <, >, <=, >=, IN (...), NOT IN (...), LIKE` joined by AND / OR / NOT with parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from connectors.salesforce.fake.errors import FakeError

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
#: Alternatives (OR) of equality constraints (AND) a condition implies, each a field and the
#: values it may equal: a record the condition matches satisfies every constraint of one of them,
#: so the store reads only the records its lookup keys name. None: the condition implies none.
Hint = list[list[tuple[str, list[Any]]]] | None
#: Past this many alternatives, AND keeps one side's instead of combining both (still a superset).
_MAX_ALTERNATIVES = 16


@dataclass
class Condition:
    """A WHERE clause: the test of one record, and what it implies (`Hint`)."""

    test: Predicate
    hint: Hint = None


_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?![\w-]))
      | (?P<date>\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2}))?)
      | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
      | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)
_UNESCAPE: Final = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


@dataclass
class Token:
    kind: str
    text: str
    value: Any = None


def tokenize(text: str, error_code: str = "MALFORMED_QUERY") -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FakeError(error_code, f"unexpected token: '{text[position : position + 20].strip()}'")
        position = match.end()
        kind = match.lastgroup or ""
        raw = match.group(kind)
        tokens.append(Token(kind, raw, _literal(kind, raw, error_code)))
    return tokens


def _literal(kind: str, raw: str, error_code: str) -> Any:
    if kind == "string":
        body, out, index = raw[1:-1], [], 0
        while index < len(body):
            char = body[index]
            if char == "\\":
                escaped = body[index + 1] if index + 1 < len(body) else ""
                if escaped not in _UNESCAPE:
                    raise FakeError(error_code, f"Invalid string literal: bad escape \\{escaped}")
                out.append(_UNESCAPE[escaped])
                index += 2
                continue
            out.append(char)
            index += 1
        return "".join(out)
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "date":
        return raw
    return None


class Parser:
    """Recursive descent over tokens; `where()` builds a predicate over a record dict."""

    def __init__(self, tokens: list[Token], error_code: str = "MALFORMED_QUERY") -> None:
        self.tokens = tokens
        self.position = 0
        self.error_code = error_code

    def peek(self, *words: str) -> bool:
        if self.position >= len(self.tokens):
            return False
        token = self.tokens[self.position]
        return token.text.upper() in words if token.kind in ("word", "op") else False

    def take(self, *words: str) -> Token:
        if self.position >= len(self.tokens):
            raise FakeError(
                self.error_code, f"unexpected end of query, expecting {' or '.join(words) or 'more'}"
            )
        token = self.tokens[self.position]
        if words and token.text.upper() not in words:
            raise FakeError(
                self.error_code, f"unexpected token: '{token.text}', expecting {' or '.join(words)}"
            )
        self.position += 1
        return token

    def done(self) -> bool:
        return self.position >= len(self.tokens)

    def name(self) -> str:
        token = self.take()
        if token.kind != "word":
            raise FakeError(self.error_code, f"unexpected token: '{token.text}'")
        return token.text

    def names(self) -> list[str]:
        names = [self.name()]
        while self.peek(","):
            self.take(",")
            names.append(self.name())
        return names

    def where(self) -> Condition:
        left = self._conjunction()
        while self.peek("OR"):
            self.take("OR")
            right = self._conjunction()
            left = _or(left, right)
        return left

    def _conjunction(self) -> Condition:
        left = self._factor()
        while self.peek("AND"):
            self.take("AND")
            right = self._factor()
            left = _and(left, right)
        return left

    def _factor(self) -> Condition:
        if self.peek("NOT"):
            self.take("NOT")
            inner = self._factor()
            return Condition(lambda record: not inner.test(record))
        if self.peek("("):
            self.take("(")
            inner = self.where()
            self.take(")")
            return inner
        field = self.name()
        negate = False
        if self.peek("NOT"):
            self.take("NOT")
            negate = True
        if self.peek("IN"):
            self.take("IN")
            values = self._value_list()
            return Condition(
                lambda record: (_get(record, field) in values) != negate,
                None if negate else [[(field, values)]],
            )
        operator = self.take("=", "!=", "<>", "<", ">", "<=", ">=", "LIKE").text.upper()
        value = self._value()
        return Condition(_compare(field, operator, value), [[(field, [value])]] if operator == "=" else None)

    def _value_list(self) -> list[Any]:
        self.take("(")
        values = [self._value()]
        while self.peek(","):
            self.take(",")
            values.append(self._value())
        self.take(")")
        return values

    def _value(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number", "date"):
            return token.value
        word = token.text.lower()
        if token.kind == "word" and word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        raise FakeError(self.error_code, f"unexpected token: '{token.text}'")


def _get(record: Record, field: str) -> Any:
    for key, value in record.items():
        if key.lower() == field.lower():
            return value
    return None


def _and(left: Condition, right: Condition) -> Condition:
    if left.hint is None or right.hint is None:
        hint = left.hint if right.hint is None else right.hint
    elif len(left.hint) * len(right.hint) <= _MAX_ALTERNATIVES:
        hint = [a + b for a in left.hint for b in right.hint]
    else:
        hint = min(left.hint, right.hint, key=len)
    return Condition(lambda record: left.test(record) and right.test(record), hint)


def _or(left: Condition, right: Condition) -> Condition:
    hint = None if left.hint is None or right.hint is None else left.hint + right.hint
    return Condition(lambda record: left.test(record) or right.test(record), hint)


def _compare(field: str, operator: str, value: Any) -> Predicate:
    def test(record: Record) -> bool:
        actual = _get(record, field)
        if operator == "=":
            return bool(actual == value)
        if operator in ("!=", "<>"):
            return bool(actual != value)
        if operator == "LIKE":
            pattern = re.escape(str(value)).replace("%", ".*").replace("_", ".")
            return actual is not None and re.fullmatch(pattern, str(actual), re.IGNORECASE) is not None
        if actual is None or value is None:
            return False
        comparisons = {"<": actual < value, ">": actual > value, "<=": actual <= value, ">=": actual >= value}
        return bool(comparisons[operator])

    return test


@dataclass
class Select:
    fields: list[str]
    sobject: str
    condition: Condition | None
    order_by: tuple[str, bool] | None
    limit: int | None

    @property
    def hint(self) -> Hint:
        return None if self.condition is None else self.condition.hint

    def apply(self, records: list[Record]) -> list[Record]:
        chosen = [r for r in records if self.condition is None or self.condition.test(r)]
        if self.order_by:
            field, descending = self.order_by
            chosen.sort(key=lambda r: (_get(r, field) is None, str(_get(r, field) or "")), reverse=descending)
        return chosen[: self.limit] if self.limit is not None else chosen


def parse_tail(parser: Parser, fields: list[str], sobject: str, stop: tuple[str, ...] = ()) -> Select:
    """WHERE / ORDER BY / LIMIT after the object name, shared by SOQL and SOSL's RETURNING clause."""
    condition = None
    order_by = None
    limit = None
    if parser.peek("WHERE"):
        parser.take("WHERE")
        condition = parser.where()
    if parser.peek("ORDER"):
        parser.take("ORDER")
        parser.take("BY")
        field = parser.name()
        descending = False
        if parser.peek("ASC", "DESC"):
            descending = parser.take().text.upper() == "DESC"
        order_by = (field, descending)
    if parser.peek("LIMIT"):
        parser.take("LIMIT")
        token = parser.take()
        if token.kind != "number":
            raise FakeError(parser.error_code, f"unexpected token: '{token.text}'")
        limit = int(token.value)
    if not parser.done() and not parser.peek(*stop):
        raise FakeError(parser.error_code, f"unexpected token: '{parser.tokens[parser.position].text}'")
    return Select(fields, sobject, condition, order_by, limit)


def parse_query(text: str) -> Select:
    parser = Parser(tokenize(text))
    parser.take("SELECT")
    fields = parser.names()
    parser.take("FROM")
    sobject = parser.name()
    return parse_tail(parser, fields, sobject)
