"""Names to ids: agents' emails to active Users, campaign names to active Campaigns.

Both change rarely and are asked about on every batch, so answers (including "none") are kept for
a few minutes: a burst of calls answered by the same agents costs one query, not one per batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final

from connectors.salesforce.api import SalesforceApi, format_soql

TTL_S: Final = 600.0


class NameResolver:
    def __init__(self, api: SalesforceApi, ttl_s: float = TTL_S) -> None:
        self.api = api
        self.ttl_s = ttl_s
        self._known: dict[tuple[str, str], tuple[str | None, float]] = {}

    def users(self, emails: Iterable[str]) -> dict[str, str]:
        """Active User id by lower-cased email, for the emails that have one."""
        soql = "SELECT Id, Email FROM User WHERE IsActive = true AND Email IN {}"
        return self._resolve("User", {e.lower() for e in emails}, soql, "Email", fold=True)

    def campaigns(self, names: Iterable[str]) -> dict[str, str]:
        """Active Campaign id by exact Name, for the names that have one."""
        soql = "SELECT Id, Name FROM Campaign WHERE IsActive = true AND Name IN {}"
        return self._resolve("Campaign", set(names), soql, "Name", fold=False)

    def _resolve(self, kind: str, wanted: set[str], soql: str, column: str, *, fold: bool) -> dict[str, str]:
        now = time.monotonic()
        missing = sorted(name for name in wanted if self._known.get((kind, name), (None, 0.0))[1] <= now)
        if missing:
            rows = self.api.query(format_soql(soql, missing))
            found = {(str(row[column]).lower() if fold else str(row[column])): str(row["Id"]) for row in rows}
            for name in missing:
                self._known[(kind, name)] = (found.get(name), now + self.ttl_s)
        answers = {name: self._known[(kind, name)][0] for name in wanted}
        return {name: record_id for name, record_id in answers.items() if record_id}
