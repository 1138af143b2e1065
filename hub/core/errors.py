"""Errors the hub raises across modules, each with a stable reason slug.

The slug is what logs, metrics, the admin API and the dashboard show; the message is for people.
"""

from __future__ import annotations

from typing import ClassVar


class HubError(Exception):
    reason: ClassVar[str] = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason  # type: ignore[misc]


class ConfigError(HubError):
    """hub.yaml or a mapping file is wrong; carries every problem found, not just the first."""

    reason = "config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SignatureError(HubError):
    """The delivery is not provably from the provider: refused with 401 and this reason."""

    reason = "bad_signature"


class ParseError(HubError):
    """The provider's payload cannot be turned into call events; the raw delivery is kept."""

    reason = "bad_payload"


class NotACall(HubError):
    """The payload is valid but is not a call (a form, a chat, an SMS): recorded as ignored, with why."""

    reason = "not_a_call"


class StorageUnavailable(HubError):
    reason = "storage_unavailable"


class Interrupted(BaseException):
    """A job's time is up (its RQ timeout): the job stops where it is.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` in a connector or a
    vendor library can turn it into a delivery outcome and let the job carry on after its claim
    may have been handed to another worker.
    """
