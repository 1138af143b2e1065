"""Attribution coverage: the share of calls that reached GA4 tied to the visitor's web client id.

Computed from delivery outcomes, which carry it as follows:
- `Delivered.external_ids["client_id_source"]`: `ga` (the visitor's GA client id) or
  `pseudonymous` (derived from the caller: counted in GA4, but as a new user, not the session);
- `Skipped(reason="no_ga_client_id")`: the call had no GA client id and policy `skip` kept it out.
Other outcomes (`already_sent`, `in_doubt`, `no_events`, errors) say nothing about attribution.
A call has many deliveries (one per version); each call counts once, by its best outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from connectors.base import Delivered, ItemOutcome, Skipped
from connectors.ga4.plan import CLIENT_ID_GA, CLIENT_ID_PSEUDONYMOUS, NO_CLIENT_ID
from connectors.hooks import AdminReport, StoredDelivery, StoredRecords

Attribution = Literal["ga", "pseudonymous", "none"]
_RANK: Final[dict[str, int]] = {"none": 0, CLIENT_ID_PSEUDONYMOUS: 1, CLIENT_ID_GA: 2}


@dataclass(frozen=True)
class CoverageRow:
    """One delivery outcome of one call, as the delivery store holds it."""

    source: str
    call_id: str
    attribution: Attribution


@dataclass(frozen=True)
class SourceCoverage:
    attributed: int = 0
    pseudonymous: int = 0
    unattributed: int = 0

    @property
    def calls(self) -> int:
        return self.attributed + self.pseudonymous + self.unattributed

    @property
    def share(self) -> float | None:
        """Attributed calls / calls that were (or would have been) sent; None when there were none."""
        return self.attributed / self.calls if self.calls else None


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
        kind = external_ids.get("client_id_source")
        if kind == CLIENT_ID_GA:
            return "ga"
        if kind == CLIENT_ID_PSEUDONYMOUS:
            return "pseudonymous"
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
    for (source, _), attribution in best.items():
        tally = counts.setdefault(source, [0, 0, 0])
        tally[{"ga": 0, "pseudonymous": 1, "none": 2}[attribution]] += 1
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
            "attributed": tally.attributed,
            "pseudonymous": tally.pseudonymous,
            "unattributed": tally.unattributed,
            "share": tally.share,
        }
        for source, tally in attribution_coverage(rows).items()
    }


def format_coverage(by_source: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The coverage table `hub ga4 report` prints under GA4's counts."""
    lines = ["Attribution coverage (calls that reached GA4 with the visitor's GA client id)"]
    lines.append(f"{'source':<14}{'calls':>7}{'attributed':>12}{'pseudonymous':>14}{'none':>7}{'share':>8}")
    for source, row in by_source.items():
        share = f"{row['share']:.0%}" if row["share"] is not None else "-"
        lines.append(
            f"{source:<14}{row['calls']:>7}{row['attributed']:>12}{row['pseudonymous']:>14}{row['unattributed']:>7}{share:>8}"
        )
    return lines


def _coverage_report(records: StoredRecords, destination_id: str, since: datetime) -> dict[str, Any]:
    return {"sources": coverage_by_source(records.deliveries(destination_id, since))}


#: `GET /api/destinations/<id>/coverage?since=<ISO time>` for GA4 destinations.
COVERAGE_REPORT: Final = AdminReport(
    name="coverage",
    summary="GA4 attribution coverage by source (calls that reached GA4 with a GA client id)",
    response="Coverage per source",
    destination_label="GA4",
    build=_coverage_report,
)
