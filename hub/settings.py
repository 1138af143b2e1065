"""Process settings from the environment (where things are), read once at start, never at import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.core.secrets import Secret

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_LEASE_S = 30.0
#: Delivery jobs a worker process runs at once (HUB_DELIVER_CONCURRENCY).
DEFAULT_DELIVER_CONCURRENCY = 2


@dataclass(frozen=True)
class Settings:
    #: Where the embedded database, Redis data, generated secrets and logs live.
    data_dir: Path
    config_path: Path
    #: SQLAlchemy URL; defaults to SQLite under data_dir.
    database_url: str
    #: None means "start a private redis-server under data_dir".
    redis_url: str | None
    admin_token: Secret | None
    #: "json" in production, "text" for people at a terminal.
    log_format: str
    log_level: str
    max_body_bytes: int
    #: Base URL the providers call (Twilio signs it); never taken from proxy headers.
    public_url: str | None
    mappings_dir: Path
    #: Refuse to start while any destination would run in sandbox mode (production deployments:
    #: a forgotten credential must stop the hub, not send calls to a local fake).
    require_live: bool = False
    #: "development" allows sandboxed destinations without credentials and generated source
    #: secrets; anything else ("production", the default outside `hub run`) refuses both.
    environment: str = "production"

    @property
    def development(self) -> bool:
        """Sandboxes and generated secrets are allowed (`hub run` on a workstation)."""
        return self.environment == "development" and not self.require_live

    #: Seconds a claimed receipt or delivery stays claimed without a heartbeat from its worker:
    #: how soon the work of a worker that died is handed out again.
    lease_s: float = DEFAULT_LEASE_S
    #: Delivery jobs one worker process runs at once (hub.worker): a delivery spends most of its
    #: time waiting on the destination's answers, so a second one overlaps it.
    deliver_concurrency: int = DEFAULT_DELIVER_CONCURRENCY

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        values = os.environ if env is None else env
        data_dir = Path(values.get("HUB_DATA_DIR", "var")).resolve()
        token = values.get("HUB_ADMIN_TOKEN")
        return cls(
            data_dir=data_dir,
            config_path=Path(values.get("HUB_CONFIG", "hub.yaml")),
            database_url=values.get("DATABASE_URL") or f"sqlite:///{data_dir / 'hub.db'}",
            redis_url=values.get("REDIS_URL") or None,
            admin_token=Secret(token) if token else None,
            log_format=values.get("HUB_LOG_FORMAT", "json"),
            log_level=values.get("HUB_LOG_LEVEL", "INFO").upper(),
            max_body_bytes=int(values.get("HUB_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            public_url=(values.get("HUB_PUBLIC_URL") or "").rstrip("/") or None,
            mappings_dir=Path(values.get("HUB_MAPPINGS_DIR", "mappings")),
            require_live=values.get("HUB_REQUIRE_LIVE", "").lower() in ("1", "true", "yes"),
            environment=_environment(values.get("HUB_ENV"), data_dir),
            lease_s=_lease(values.get("HUB_LEASE_S")),
            deliver_concurrency=_deliver_concurrency(values.get("HUB_DELIVER_CONCURRENCY")),
        )


def _environment(declared: str | None, data_dir: Path) -> str:
    """HUB_ENV when set; else that of a `hub run` alive on this data directory; else production."""
    if declared:
        return declared.strip().lower()
    from hub.run_info import running

    info = running(data_dir)
    return info.environment if info is not None else "production"


def env_seconds(name: str, value: str | None, default: float, low: float, high: float) -> float:
    """Seconds from the environment variable `name` (`value` unset or empty: `default`), refused
    with a message naming the variable when they are not a number between `low` and `high`."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be seconds, not {value!r}") from None
    if not low <= seconds <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g} seconds, not {value!r}")
    return seconds


def _lease(value: str | None) -> float:
    return env_seconds("HUB_LEASE_S", value, DEFAULT_LEASE_S, 1.0, 600.0)


def _deliver_concurrency(value: str | None) -> int:
    if not value:
        return DEFAULT_DELIVER_CONCURRENCY
    if not value.strip().isdigit() or not 1 <= int(value) <= 16:
        raise ValueError(f"HUB_DELIVER_CONCURRENCY must be a whole number from 1 to 16, not {value!r}")
    return int(value)
