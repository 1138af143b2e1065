"""Workers pick up changed `hub.yaml` and mapping files without a restart.

Between jobs (and at once after SIGHUP) the worker hashes hub.yaml and every mapping file it
names. When the content changed, the new configuration is loaded and every mapping validated
first; only then does it replace the old one. An invalid change is logged with its problems
and the previous configuration keeps running until the files are fixed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.config import HubConfig
from hub.core.errors import ConfigError
from hub.render import MappingCache, mapping_path

log = logging.getLogger("hub.reload")


def config_version(config: HubConfig) -> str:
    """A content hash of hub.yaml and every mapping file it names."""
    digest = hashlib.sha256()
    paths = [
        config.path,
        *(mapping_path(config, m) for d in config.destinations.values() for m in d.mappings),
    ]
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass
class Reloader:
    """Swaps a new configuration and mapping cache into a runtime when the files change."""

    #: Reads and validates hub.yaml (raises ConfigError).
    load: Callable[[], HubConfig]
    #: Installs a validated configuration and its loaded mappings.
    install: Callable[[HubConfig, MappingCache], None]
    current: HubConfig
    version: str = ""
    requested: bool = False
    _refused: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.version = self.version or config_version(self.current)

    def request(self) -> None:
        """Reload at the next check even when no file changed (SIGHUP)."""
        self.requested = True

    def check(self) -> bool:
        """Reload when the files changed or a reload was requested; True when one was installed."""
        with self._lock:
            forced, self.requested = self.requested, False
            on_disk = config_version(self.current)
            if not forced and (on_disk == self.version or on_disk == self._refused):
                return False
            try:
                config = self.load()
                mappings = MappingCache(config)
                mappings.load_all()
            except ConfigError as exc:
                if on_disk != self._refused or forced:
                    log.error(
                        "configuration change refused; the previous one stays in use",
                        extra={"problems": exc.problems, "version": self.version},
                    )
                self._refused = on_disk
                return False
            new_version = config_version(config)
            self.install(config, mappings)
            log.info("configuration reloaded", extra={"previous": self.version, "version": new_version})
            self.current, self.version, self._refused = config, new_version, None
            return True
