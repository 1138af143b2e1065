"""Error bodies in HubSpot's shape, raised by the fake's store and turned into responses by its routes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any


def correlation_id() -> str:
    return str(uuid.uuid4())


class FakeApiError(Exception):
    """A request-level failure: becomes one HTTP answer with HubSpot's error body."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class RecordError(Exception):
    """One input of a batch failed: reported in a 207 `errors[]` entry, the others proceed."""

    def __init__(
        self,
        category: str,
        message: str,
        *,
        context: Mapping[str, list[str]] | None = None,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.context = dict(context or {})
        self.details = [dict(detail) for detail in details]

    def standard_error(self) -> dict[str, Any]:
        """The `StandardError` entry of a batch answer."""
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "errors": self.details,
            "links": {},
        }

    def as_request_error(self, status: int = 400) -> FakeApiError:
        return FakeApiError(status, self.category, self.message, errors=self.standard_error()["errors"])


def not_found(object_type: str, object_id: str) -> RecordError:
    return RecordError(
        "OBJECT_NOT_FOUND",
        f"Could not get some {object_type} objects, they may be deleted or not exist.",
        context={"ids": [object_id]},
    )
