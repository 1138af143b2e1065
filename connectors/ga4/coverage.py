"""Attribution coverage: what GA4 could join each call to, per source.

Three levels, from delivery outcomes:
- session-attributed: sent with the visitor's GA client id and a session id, within the 24 h in
  which GA4 joins a Measurement Protocol event to the web session (it takes the session's
  source, medium and campaign);
- user-only: the visitor's client id without a usable session id (none sent, or sent too late):
  GA4 counts the call for that visitor, not for the session's campaign;
- unattributed: a client id derived from the caller (`pseudonymous`: counted in GA4 as a new
  user), or not sent at all for want of a client id (`Skipped(reason="no_ga_client_id")`).
Delivered outcomes carry the level in `external_ids["attribution"]`; rows written before it
existed carry only `client_id_source`, and a `ga` one counts as user-only (a session cannot be
proven). Other outcomes (`already_sent`, `in_doubt`, `no_events`, errors) say nothing about
attribution. A call has many deliveries (one per version); each counts once, by its best level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from connectors.base import Delivered, ItemOutcome, Skipped
from connectors.ga4.plan import (
    CLIENT_ID_GA,
    CLIENT_ID_PSEUDONYMOUS,
    NO_CLIENT_ID,
    SESSION_ATTRIBUTED,
    USER_ONLY,
)
from connectors.hooks import AdminReport, StoredDelivery, StoredRecords

Attribution = Literal["session", "user", "pseudonymous", "none"]
_RANK: Final[dict[str, int]] = {"none": 0, "pseudonymous": 1, "user": 2, "session": 3}


@dataclass(frozen=True)
class CoverageRow:
    """One delivery outcome of one call, as the delivery store holds it."""

    source: str
    call_id: str
    attribution: Attribution


@dataclass(frozen=True)
class SourceCoverage:
    session: int = 0
    user_only: int = 0
    pseudonymous: int = 0
    not_sent: int = 0

    @property
    def unattributed(self) -> int:
        return self.pseudonymous + self.not_sent

    @property
    def calls(self) -> int:
        return self.session + self.user_only + self.unattributed

    @property
    def session_share(self) -> float | None:
        """Session-attributed calls / calls that were (or would have been) sent; None without calls."""
        return self.session / self.calls if self.calls else None

    @property
    def user_share(self) -> float | None:
        """Calls tied to the web visitor at least (session or user-only) / calls."""
        return (self.session + self.user_only) / self.calls if self.calls else None


def attribution_of(outcome: ItemOutcome) -> Attribution | None:
    """The attribution an outcome records, None when it records none."""
    if isinstance(outcome, Delivered):
        return stored_attribution("delivered", None, outcome.external_ids)
    if isinstance(outcome, Skipped):
        return stored_attribution("skipped", outcome.reason, {})
    return None


def stored_attribution(
    status: str, reason: str | None, external_ids: Mapping[str, str]
) -> Attribution | None:
    """The same, from a stored delivery row (status, reason slug, external ids)."""
    if status == "delivered":
        level = external_ids.get("attribution")
        if level == SESSION_ATTRIBUTED:
            return "session"
        if level == USER_ONLY:
            return "user"
        kind = external_ids.get("client_id_source")
        if kind == CLIENT_ID_PSEUDONYMOUS:
            return "pseudonymous"
        if kind == CLIENT_ID_GA:
            return "user"
        return None
    if status == "skipped" and reason == NO_CLIENT_ID:
        return "none"
    return None


def attribution_coverage(rows: Iterable[CoverageRow]) -> dict[str, SourceCoverage]:
    """Coverage per source; each call counted once, by the best attribution any delivery reached."""
    best: dict[tuple[str, str], Attribution] = {}
    for row in rows:
        key = (row.source, row.call_id)
        if key not in best or _RANK[row.attribution] > _RANK[best[key]]:
            best[key] = row.attribution
    counts: dict[str, list[int]] = {}
    slot = {"session": 0, "user": 1, "pseudonymous": 2, "none": 3}
    for (source, _), attribution in best.items():
        counts.setdefault(source, [0, 0, 0, 0])[slot[attribution]] += 1
    return {source: SourceCoverage(*tally) for source, tally in sorted(counts.items())}


def coverage_by_source(deliveries: Iterable[StoredDelivery]) -> dict[str, dict[str, Any]]:
    """Coverage per source of these stored deliveries, as the admin API and `hub ga4 report` show it."""
    rows = []
    for delivery in deliveries:
        attribution = stored_attribution(delivery.status, delivery.reason, delivery.external_ids)
        if attribution is not None:
            rows.append(CoverageRow(delivery.source, delivery.call_id, attribution))
    return {
        source: {
            "calls": tally.calls,
            "session_attributed": tally.session,
            "user_only": tally.user_only,
            "unattributed": tally.unattributed,
            "unattributed_pseudonymous": tally.pseudonymous,
            "unattributed_not_sent": tally.not_sent,
            "session_share": tally.session_share,
            "user_share": tally.user_share,
        }
        for source, tally in attribution_coverage(rows).items()
    }


def _percent(share: float | None) -> str:
    return f"{share:.0%}" if share is not None else "-"


def format_coverage(by_source: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The coverage table `hub ga4 report` prints under GA4's counts: three attribution levels."""
    lines = [
        "Attribution coverage: session = client id + session id (joins the web session and its campaign);",
        "user = client id only (the visitor, not the session); none = pseudonymous or not sent",
        f"{'source':<14}{'calls':>7}{'session':>9}{'user':>6}{'none':>6}"
        f"{'(pseudo':>9}{'unsent)':>9}{'session%':>10}{'user+%':>8}",
    ]
    for source, row in by_source.items():
        lines.append(
            f"{source:<14}{row['calls']:>7}{row['session_attributed']:>9}{row['user_only']:>6}"
            f"{row['unattributed']:>6}{row['unattributed_pseudonymous']:>9}{row['unattributed_not_sent']:>9}"
            f"{_percent(row['session_share']):>10}{_percent(row['user_share']):>8}"
        )
    return lines


def _coverage_report(records: StoredRecords, destination_id: str, since: datetime) -> dict[str, Any]:
    return {"sources": coverage_by_source(records.deliveries(destination_id, since))}


#: `GET /api/destinations/<id>/coverage?since=<ISO time>` for GA4 destinations.
COVERAGE_REPORT: Final = AdminReport(
    name="coverage",
    summary="GA4 attribution coverage by source: session-attributed, user-only and unattributed calls",
    response="Coverage per source",
    destination_label="GA4",
    build=_coverage_report,
)
