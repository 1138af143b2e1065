"""Where every process of one machine writes its Prometheus samples (multiprocess mode).

Set up by the hub itself before prometheus_client is imported: PROMETHEUS_MULTIPROC_DIR when
the operator set it, else `<data dir>/metrics/<host name>`, shared by the web server's workers
and the `hub worker` processes of that machine (so /metrics shows their delivery outcomes) and
apart from other hosts' or containers' (whose process ids would collide). A process starting a
service removes the files of processes that no longer exist, so one run's gauges never leak
into the next.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def configure(data_dir: Path, *, clean: bool = False) -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR for this process and its children; returns the directory."""
    chosen = os.environ.get(ENV)
    path = Path(chosen) if chosen else data_dir / "metrics" / (socket.gethostname() or "localhost")
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    # Only now: prometheus_client picks its multiprocess values when first imported.
    from hub import metrics_files

    metrics_files.install()
    if clean:
        remove_dead(path)
    return path


def remove_dead(path: Path) -> list[Path]:
    """Delete the sample files of processes that are gone (from a previous run)."""
    removed = []
    for file in path.glob("*.db"):
        match = _PID.search(file.name)
        if match and not _alive(int(match.group(1))):
            file.unlink(missing_ok=True)
            removed.append(file)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
