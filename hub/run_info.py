"""What a running `hub run` publishes in its data directory: its URL and environment.

Commands run beside it (`hub send-samples`, `hub replay`, `hub check`) read it, so they find
the hub and treat the data directory as it does without being told again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUN_FILE = "hub-run.json"


@dataclass(frozen=True)
class RunInfo:
    pid: int
    url: str
    environment: str


def publish(data_dir: Path, url: str, environment: str) -> None:
    """Written by `hub run` once it serves; removed when it stops."""
    path = data_dir / RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url, "environment": environment}, indent=2))
    tmp.replace(path)


def withdraw(data_dir: Path) -> None:
    (data_dir / RUN_FILE).unlink(missing_ok=True)


def running(data_dir: Path) -> RunInfo | None:
    """The `hub run` serving from this data directory, if one is alive."""
    path = data_dir / RUN_FILE
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or not alive(data["pid"]):
        return None
    return RunInfo(int(data["pid"]), str(data.get("url", "")), str(data.get("environment", "production")))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
