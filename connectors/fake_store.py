"""Where a local fake keeps its records: one SQLite file, so memory stays flat as records grow.

A record is a JSON body under (kind, id), e.g. ("Lead", "00Q...") or ("contacts", "1001"), kept in
the order it was first written. Beside it, the lookup keys the fake finds it by, (name, value),
e.g. ("phone7", "5550100") or ("email", "ana@example.com"): an indexed table, so a lookup costs
the same with 30,000 records as with none. `hidden_until` keeps a new record out of a fake's
search results for a while (the vendors' search indexes lag); counters live in `meta`.

`hub run` gives each fake a file under the data directory (`state_path`), so a restart finds the
records and ids the hub remembers; without one (tests, `hub check`) the database is SQLite's
private temporary file, deleted when the fake goes.

One connection per fake, used under `lock` by the threads that serve it: the fakes already take
one lock per request, and a single connection makes `transaction()` (all or none, nested as
savepoints) span everything the request wrote. SQLite's page cache (2 MB) bounds what stays in memory.

A file an earlier version kept (a JSON journal of changes, or one JSON snapshot) is handed to the
fake once as `earlier` for it to import, then left beside the database as `<name>.imported` once
the import succeeded (a failed one is tried again at the next start).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    hidden_until REAL NOT NULL DEFAULT 0,
    UNIQUE (kind, id)
);
CREATE TABLE IF NOT EXISTS lookups (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (kind, name, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lookups_of_record ON lookups (kind, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_CACHE_KIB = 2000
#: `hidden_until` of a record hidden until the fake says otherwise (Salesforce's `reindex`).
HIDDEN = 1e18
_BY_ID = (
    "SELECT seq, id, body FROM records WHERE kind = ? AND id = ? "
    "AND hidden_until <= COALESCE(?, hidden_until)"
)
_BY_LOOKUP = (
    "SELECT r.seq, r.id, r.body FROM lookups l JOIN records r ON r.kind = l.kind AND r.id = l.id "
    "WHERE l.kind = ? AND l.name = ? AND l.value = ? AND r.hidden_until <= COALESCE(?, r.hidden_until)"
)

Lookup = tuple[str, str]
#: The lookup name that `find` reads as "the record's id".
BY_ID = ""


class FakeRecords:
    """The records, lookup keys and counters of one fake."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        #: What an earlier version's file held (JSON text), for the fake to import; None if nothing.
        self.earlier: str | None = None
        self._earlier_file: Path | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.earlier, self._earlier_file = _earlier_file(path)
        # Transactions are opened here (savepoints), never implicitly by the driver.
        self._db = sqlite3.connect(str(path) if path else "", isolation_level=None, check_same_thread=False)
        self._depth = 0
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            # A commit reaches the WAL without waiting for the disk; only a power loss (not a crash
            # of the process) can undo the last commits: a sandbox fake may forget its newest records
            # then, and the speed matters more to it than that.
            self._db.execute("PRAGMA synchronous=NORMAL")
        # What stays in memory: at most this many KiB of pages (SQLite's default, made explicit);
        # the rest is read from the file (the OS's cache) when a lookup needs it.
        self._db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self._db.executescript(_SCHEMA)
        # The vendors' search indexes have caught up with anything written before a restart.
        self._db.execute("UPDATE records SET hidden_until = 0 WHERE hidden_until > 0")

    def imported_earlier(self) -> None:
        """The fake has imported `earlier`: its file is moved aside, so it is imported once."""
        if self._earlier_file is not None:
            _move_aside(self._earlier_file)
            self._earlier_file = None
        self.earlier = None

    # --- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside takes effect together or not at all; nests (savepoints)."""
        with self.lock:
            name = f"level{self._depth}"
            self._db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            else:
                self._db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    @contextlib.contextmanager
    def _statements(self) -> Iterator[None]:
        """A few statements that belong together: a transaction of their own, or part of the one
        already open (a statement that fails undoes itself, and its error undoes that one)."""
        with self.lock:
            if self._depth:
                yield
            else:
                with self.transaction():
                    yield

    # --- records -----------------------------------------------------------------------------

    def get(self, kind: str, record_id: str) -> Any:
        """The record's body, or None."""
        with self.lock:
            row = self._db.execute(
                "SELECT body FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def exists(self, kind: str, record_id: str) -> bool:
        with self.lock:
            row = self._db.execute("SELECT 1 FROM records WHERE kind = ? AND id = ?", (kind, record_id))
            return row.fetchone() is not None

    def put(
        self,
        kind: str,
        record_id: str,
        body: Any,
        lookups: Iterable[Lookup] = (),
        hidden_until: float | None = None,
    ) -> None:
        """Insert or replace the record (keeping its place in order) and its lookup keys;
        `hidden_until` None keeps what a record already had (0 for a new one)."""
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        with self._statements():
            self._db.execute(
                "INSERT INTO records (kind, id, body, hidden_until) VALUES (?, ?, ?, COALESCE(?, 0)) "
                "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, "
                "hidden_until = COALESCE(?, records.hidden_until)",
                (kind, record_id, text, hidden_until, hidden_until),
            )
            self._db.execute("DELETE FROM lookups WHERE kind = ? AND id = ?", (kind, record_id))
            self._db.executemany(
                "INSERT OR IGNORE INTO lookups (kind, name, value, id) VALUES (?, ?, ?, ?)",
                [(kind, name, value, record_id) for name, value in lookups],
            )

    def append(self, kind: str, body: Any) -> None:
        """A record without an id of its own (a received hit): numbered by its place in order."""
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        with self._statements():
            self._db.execute(
                "INSERT INTO records (kind, id, body) "
                "SELECT ?, 'n' || (IFNULL(MAX(seq), 0) + 1), ? FROM records",
                (kind, text),
            )

    def delete(self, kind: str, record_id: str) -> bool:
        """Remove the record and its lookup keys; False if there was none."""
        with self._statements():
            gone = self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))
            self._db.execute("DELETE FROM lookups WHERE kind = ? AND id = ?", (kind, record_id))
            return gone.rowcount > 0

    def scan(self, kind: str, visible_at: float | None = None) -> list[tuple[str, Any]]:
        """(id, body) of every record of `kind` in order (those visible at `visible_at`, if given).
        Reads them all: for what no lookup key answers."""
        with self.lock:
            rows = self._db.execute(
                "SELECT id, body FROM records WHERE kind = ? AND hidden_until <= COALESCE(?, hidden_until) "
                "ORDER BY seq",
                (kind, visible_at),
            ).fetchall()
        return [(record_id, json.loads(body)) for record_id, body in rows]

    def find(
        self, kind: str, keys: Iterable[Lookup], visible_at: float | None = None
    ) -> list[tuple[str, Any]]:
        """(id, body) of the records of `kind` holding any of the lookup keys (name, value), in
        order; the name `BY_ID` looks records up by their id. With `visible_at`, only those
        visible in search results then."""
        found: dict[str, tuple[int, str]] = {}
        with self.lock:
            for name, value in set(keys):
                if name == BY_ID:
                    rows = self._db.execute(_BY_ID, (kind, value, visible_at))
                else:
                    rows = self._db.execute(_BY_LOOKUP, (kind, name, value, visible_at))
                for seq, record_id, body in rows:
                    found[record_id] = (seq, body)
        ordered = sorted(found.items(), key=lambda item: item[1][0])
        return [(record_id, json.loads(body)) for record_id, (_, body) in ordered]

    def count(self, kind: str) -> int:
        with self.lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0])

    def show(self, kind: str | None = None) -> None:
        """Every record (of `kind`) joins search results now."""
        with self.transaction():
            if kind is None:
                self._db.execute("UPDATE records SET hidden_until = 0 WHERE hidden_until > 0")
            else:
                self._db.execute(
                    "UPDATE records SET hidden_until = 0 WHERE kind = ? AND hidden_until > 0", (kind,)
                )

    # --- counters and the rest ---------------------------------------------------------------

    def meta(self, name: str, default: Any = None) -> Any:
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, name: str, value: Any) -> None:
        with self.lock:
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value)),
            )

    def is_empty(self) -> bool:
        """No record and no counter: a new file (the fake seeds it)."""
        with self.lock:
            records = self._db.execute("SELECT 1 FROM records LIMIT 1").fetchone()
            meta = self._db.execute("SELECT 1 FROM meta LIMIT 1").fetchone()
        return records is None and meta is None

    def clear(self) -> None:
        """Forget everything (a fake's reset), on file too."""
        with self.transaction():
            for table in ("records", "lookups", "meta"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        with self.lock:
            self._db.close()


@dataclass
class Replayed:
    """What an earlier version's journal held: the live records by key and the last counters;
    `snapshot` instead when the file was one JSON document (the version before the journal)."""

    records: dict[tuple[str, ...], Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    snapshot: Any = None


def replay_journal(text: str) -> Replayed:
    """The journal format: a header line, then `{"k": [key...], "v": record}` lines (`"v": null`
    deletes) and `{"meta": ...}` lines; a torn last line (a crash mid-append) is ignored."""
    replayed = Replayed()
    lines = text.splitlines()
    if not lines:
        return replayed
    if _parse(lines[0]) != {"journal": "callhub-fake", "version": 1}:
        replayed.snapshot = _parse(text)
        return replayed
    for line in lines[1:]:
        entry = _parse(line)
        if not isinstance(entry, dict):
            continue
        if "meta" in entry:
            replayed.meta = dict(entry["meta"])
        elif "k" in entry:
            key = tuple(str(part) for part in entry["k"])
            if entry.get("v") is None:
                replayed.records.pop(key, None)
            else:
                replayed.records[key] = entry["v"]
    return replayed


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _earlier_file(path: Path) -> tuple[str | None, Path | None]:
    """The text of the JSON file an earlier version kept for this fake, at `path` itself or beside
    it as `<stem>.json`, and the file to move aside once it is imported (None when already moved).

    A JSON file at `path` itself is moved aside at once (the database takes its place); one beside
    it stays until the fake has imported it (`imported_earlier`), so an import that fails is tried
    again at the next start instead of being skipped."""
    if path.is_file():
        with path.open("rb") as file:
            is_database = file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
        if not is_database:
            text = path.read_text(encoding="utf-8")
            _move_aside(path)
            return text, None
    beside = path.with_suffix(".json")
    if beside != path and beside.is_file():
        return beside.read_text(encoding="utf-8"), beside
    return None, None


def _move_aside(file: Path) -> None:
    file.rename(file.with_name(file.name + ".imported"))
