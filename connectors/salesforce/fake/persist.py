"""The sandbox org on disk: `hub run` restarts find the records (and ids) the hub remembers."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from connectors.salesforce.fake.store import Store


class StoreFile:
    """Loads a store's snapshot at start and writes it after every change (atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self, store: Store) -> None:
        if self.path.exists():
            store.restore(json.loads(self.path.read_text(encoding="utf-8")))

    def save(self, store: Store) -> None:
        snapshot = store.snapshot()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(".tmp")
            partial.write_text(json.dumps(snapshot), encoding="utf-8")
            os.replace(partial, self.path)
