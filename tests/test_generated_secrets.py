"""Generated secrets: every process that starts at once ends up with the same value."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from hub.config import GeneratedSecrets


def _read_secret(data_dir: str, start: object, out: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    value, _ = GeneratedSecrets(Path(data_dir)).get_or_create("console_secret_key")
    out.put(value)  # type: ignore[attr-defined]


def test_processes_starting_together_share_one_generated_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    processes = [context.Process(target=_read_secret, args=(str(tmp_path), start, out)) for _ in range(6)]
    for process in processes:
        process.start()
    start.set()
    values = {out.get(timeout=60) for _ in processes}
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(values) == 1
    stored = GeneratedSecrets(tmp_path)
    assert stored.get_or_create("console_secret_key") == (values.pop(), False)
    assert stat.S_IMODE((tmp_path / "generated-secrets.json").stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.tmp"))


def test_a_second_secret_keeps_the_first(tmp_path: Path) -> None:
    first, created = GeneratedSecrets(tmp_path).get_or_create("admin_token")
    assert created
    stale = GeneratedSecrets(tmp_path / "elsewhere")
    assert stale.get_or_create("admin_token")[1]
    # An instance loaded before another process stored a secret still keeps that one.
    early = GeneratedSecrets(tmp_path)
    GeneratedSecrets(tmp_path).get_or_create("console_secret_key")
    early.get_or_create("webhook_secret")
    assert GeneratedSecrets(tmp_path).values.keys() == {"admin_token", "console_secret_key", "webhook_secret"}
    assert GeneratedSecrets(tmp_path).get_or_create("admin_token") == (first, False)
