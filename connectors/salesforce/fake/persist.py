"""The sandbox org on disk: `hub run` restarts find the records (and ids) the hub remembers."""

from __future__ import annotations

import threading
from pathlib import Path

from connectors.fake_journal import Journal
from connectors.salesforce.fake.store import Store


class StoreFile:
    """Replays the org's journal at start, then appends the records each request changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal = Journal(path)
        self._lock = threading.Lock()
        #: The store the file describes: after a reset (a new store) the file is rewritten whole.
        self._store: Store | None = None

    def exists(self) -> bool:
        return self.journal.exists()

    def load(self, store: Store) -> None:
        replayed = self.journal.replay()
        if replayed.legacy is not None:
            store.restore(replayed.legacy)
        else:
            tables: dict[str, dict[str, object]] = {}
            for (sobject, record_id), record in replayed.records.items():
                tables.setdefault(sobject, {})[record_id] = record
            store.restore({"records": tables, **replayed.meta})
        store.take_changes()
        # Starts every run with only the live records on file, and in the journal format.
        self._rewrite(store)

    def save(self, store: Store) -> None:
        """Append what changed since the last save; a new store (a reset) replaces the file."""
        with self._lock:
            if store is not self._store:
                store.take_changes()
                self._rewrite(store)
                return
            with store.lock:
                changed = store.take_changes()
                if not changed:
                    return
                changes = [(key, store.records[key[0]].get(key[1])) for key in sorted(changed)]
                # Copied under the store's lock: the journal writes them after it is released.
                written = [(key, dict(record) if record is not None else None) for key, record in changes]
                meta = store.counters()
                live = sum(len(table) for table in store.records.values())
            self.journal.append(meta, written)
            if self.journal.wants_compaction(live):
                self._rewrite(store)

    def _rewrite(self, store: Store) -> None:
        with store.lock:
            records = [
                ((sobject, record_id), dict(record))
                for sobject, table in store.records.items()
                for record_id, record in table.items()
            ]
            meta = store.counters()
        self.journal.rewrite(meta, records)
        self._store = store
