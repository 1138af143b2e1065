"""Salesforce's error shapes, raised inside the fake and rendered as Salesforce renders them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class FakeError(Exception):
    """One or more Salesforce errors with the HTTP status a single-record request would get."""

    def __init__(
        self,
        code: str,
        message: str,
        fields: Sequence[str] = (),
        *,
        status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.status = status
        self.extra = dict(extra or {})

    def rest_body(self) -> list[dict[str, Any]]:
        """The REST error array: `errorCode` (sObject Collections use `statusCode` instead)."""
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields or self.code not in ("INVALID_SESSION_ID", "REQUEST_LIMIT_EXCEEDED", "NOT_FOUND"):
            body["fields"] = self.fields
        body.update(self.extra)
        return [body]

    def item_error(self) -> dict[str, Any]:
        """One entry of a SaveResult's `errors` list."""
        item: dict[str, Any] = {"statusCode": self.code, "message": self.message, "fields": self.fields}
        item.update(self.extra)
        return item


def not_found(message: str = "The requested resource does not exist") -> FakeError:
    return FakeError("NOT_FOUND", message, status=404)
