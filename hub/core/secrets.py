"""A secret value that cannot end up in a log, a repr or a traceback by accident."""

from __future__ import annotations

import hashlib
from typing import Final

MASK: Final = "********"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The clear value: call only where it is handed to a signing function or an API client."""
        return self._value

    def fingerprint(self) -> str:
        """Short, non-reversible tag so people can tell which of several secrets matched."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
