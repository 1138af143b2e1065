"""`hub backup DIR`: a consistent copy of a SQLite database and the generated secrets, while the hub runs.

SQLite's online backup API copies pages under a read transaction, so webhooks keep being
stored meanwhile (a file copy of a database in WAL mode could miss committed pages). PostgreSQL
is backed up with its own tool, pg_dump.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.config import GeneratedSecrets
from hub.settings import Settings


class BackupRefused(Exception):
    """The database is not one `hub backup` copies (PostgreSQL: use pg_dump)."""


@dataclass(frozen=True)
class BackupResult:
    database: Path
    secrets: Path | None


def backup(settings: Settings, destination: Path, now: datetime | None = None) -> BackupResult:
    url = settings.database_url
    if not url.startswith("sqlite:///"):
        raise BackupRefused(
            "the database is PostgreSQL: back it up with `pg_dump --format=custom --file=hub.dump "
            "$DATABASE_URL` (see docs/operations.md), and keep generated-secrets.json with it"
        )
    source_path = Path(url.removeprefix("sqlite:///"))
    if not source_path.is_file():
        raise BackupRefused(f"no database at {source_path}: check DATABASE_URL / HUB_DATA_DIR")
    destination.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = destination / f"hub-{stamp}.db"
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    target.chmod(0o600)
    secrets = GeneratedSecrets(settings.data_dir).path
    kept: Path | None = None
    if secrets.is_file():
        kept = destination / f"generated-secrets-{stamp}.json"
        shutil.copyfile(secrets, kept)
        kept.chmod(0o600)
    return BackupResult(target, kept)
