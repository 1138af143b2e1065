"""What /metrics (web) and `hub worker --metrics-port` serve: this machine's process counters,
merged across processes in multiprocess mode, plus the database gauges."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from hub.metrics_db import DatabaseCollector
from hub.runtime import Runtime


def registry_for(runtime: Runtime) -> CollectorRegistry:
    """A scrape registry: every process of this machine (or this one alone) and the database."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Process())
    registry.register(_Database(runtime))
    return registry


def serve(runtime: Runtime, port: int, host: str = "0.0.0.0") -> None:
    """Serve /metrics from a background thread (worker-only machines)."""
    start_http_server(port, addr=host, registry=registry_for(runtime))


class _Process(Collector):
    """This process's own samples when not in multiprocess mode (tests, a single process)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class _Database(Collector):
    """The database gauges for the runtime's current configuration (it changes on reload)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._collector: DatabaseCollector | None = None

    def collect(self) -> Iterable[Metric]:
        if self._collector is None or self._collector.config is not self.runtime.config:
            self._collector = DatabaseCollector(self.runtime.db, self.runtime.config)
        return self._collector.collect()
