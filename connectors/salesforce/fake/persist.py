"""An org an earlier version kept as JSON (a journal of changes, or one snapshot), brought into the
org's database the first time `hub run` opens it."""

from __future__ import annotations

from connectors.fake_store import replay_journal
from connectors.salesforce.fake.store import Store


def import_earlier(store: Store, text: str) -> None:
    replayed = replay_journal(text)
    if replayed.snapshot is not None:
        store.restore(replayed.snapshot)
        return
    tables: dict[str, dict[str, object]] = {}
    for (sobject, record_id), record in replayed.records.items():
        tables.setdefault(sobject, {})[record_id] = record
    store.restore({"records": tables, **replayed.meta})
