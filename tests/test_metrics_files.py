"""Sample files take their disk space when made: a full disk never kills a process with SIGBUS
(hub.metrics_files). Each case runs in a child process, because
prometheus_client chooses its multiprocess storage when first imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hubkit import fill_up, small_tmpfs

PROJECT = Path(__file__).resolve().parent.parent

WRITE_SAMPLES = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hub import metrics_dir
    metrics_dir.configure(Path(sys.argv[1]))
    from prometheus_client import Counter
    counter = Counter("hub_test_samples_total", "samples", ["label"])
    # Enough labels to grow the file past its first 64 KB more than once.
    for n in range(int(sys.argv[2])):
        counter.labels(f"value-{n:06d}").inc()
    print("written")
    """
)


def _write_samples(data_dir: Path, labels: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return subprocess.run(
        [sys.executable, "-c", WRITE_SAMPLES, str(data_dir), str(labels)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_sample_file_has_its_space_taken(tmp_path: Path) -> None:
    done = _write_samples(tmp_path, 5000)
    assert done.returncode == 0, done.stderr
    files = list((tmp_path / "metrics").rglob("*.db"))
    assert files
    for file in files:
        stat = file.stat()
        assert stat.st_size > 64 * 1024, "the samples grew the file past its first size"
        # Allocated blocks cover the whole file: no page is left to be taken at its first write.
        assert stat.st_blocks * 512 >= stat.st_size, file.name


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "small", "2m") as mount:
        (mount / "metrics").mkdir()
        fill_up(mount)
        yield mount


def test_a_full_disk_keeps_the_samples_in_memory_instead_of_killing_the_process(full_disk: Path) -> None:
    done = _write_samples(full_disk, 10)
    assert done.returncode != -signal.SIGBUS, "killed by SIGBUS writing a sample"
    assert done.returncode == 0, done.stderr
    assert "written" in done.stdout
    assert "keeps its samples in memory" in done.stderr
    # No empty file is left behind for /metrics to stumble on.
    assert [f for f in (full_disk / "metrics").rglob("*.db") if f.stat().st_size == 0] == []
