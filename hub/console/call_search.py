"""The calls page's search box: one `q` that may be a phone number in any format, a call id, a
provider call id or a source, plus explicit filters (source, status, account, time). The search
itself is `hub.queries.search_calls`, the same as the API's and `hub calls`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.queries import CallSearch, search_calls

PAGE_SIZE = 50


@dataclass(frozen=True)
class CallQuery:
    """The calls page's form, as given (the page number included)."""

    q: str = ""
    source: str | None = None
    #: a delivery status at any destination (delivered, failed, pending ...)
    status: str | None = None
    destination: str | None = None
    #: the call's own outcome (answered, missed, voicemail ...)
    call_status: str | None = None
    account: str | None = None
    first_time: bool = False
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1

    def to_search(self) -> CallSearch:
        """The shared call search for this form's page."""
        return CallSearch(
            text=self.q or None,
            source=self.source,
            status=self.status,
            destination=self.destination,
            call_status=self.call_status,
            account=self.account,
            first_time=self.first_time,
            since=self.since,
            until=self.until,
            limit=PAGE_SIZE,
            offset=(max(self.page, 1) - 1) * PAGE_SIZE,
        )


def search(session: Session, query: CallQuery) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of call summaries with each destination's newest status)."""
    found = search_calls(session, query.to_search())
    return int(found["total"]), list(found["items"])
