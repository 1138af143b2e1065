"""Prometheus sample files whose disk space is taken when they are made, not when first written.

In multiprocess mode prometheus_client keeps each process's samples in a file it extends with
`truncate` and writes through `mmap`. `truncate` reserves no space: the blocks are taken on the
first write to each page, and when the disk is full by then the kernel kills the process with
SIGBUS. Measured in `make chaos` (disk full): a web worker died mid-request, and the provider
got no answer instead of a 503.

Here a sample file's space is allocated before it is mapped and before it grows. When the disk
has no room for a new file (a process's first sample of a kind, often made inside a request), the
process keeps those samples in memory and says so once: the request or job goes on, and /metrics
lacks that process's samples until it restarts. A file that cannot grow past its first 64 KB
(hundreds of label combinations) raises ENOSPC at the sample that needed the room.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prometheus_client import mmap_dict, values

log = logging.getLogger("hub.metrics")

#: The largest entry a key of `n` bytes takes: a 4-byte length, the key padded to 8 bytes, and
#: two doubles (prometheus_client.mmap_dict._init_value).
_ENTRY_OVERHEAD = 4 + 8 + 16


def allocate(fd: int, size: int) -> None:
    """Give the file `size` bytes of disk space (never shrinking it); OSError when the disk is full."""
    current = os.fstat(fd).st_size
    if current >= size:
        return
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        fallocate(fd, current, size - current)
        return
    # Where posix_fallocate is missing (macOS), writing the zeros takes the blocks.
    os.pwrite(fd, b"\0" * (size - current), current)


def _allocated(filename: str) -> None:
    fd = os.open(filename, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        allocate(fd, mmap_dict._INITIAL_MMAP_SIZE)
    except OSError:
        # An empty file would break every reader of the directory (no header to read).
        if os.fstat(fd).st_size == 0:
            os.unlink(filename)
        raise
    finally:
        os.close(fd)


def _in_memory(filename: str, exc: OSError) -> int:
    """A descriptor of this process's memory for the samples the disk has no room for: /metrics
    does not show them, but a request or job never fails because a sample could not be kept."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:
        raise exc
    log.warning(
        "cannot make a metrics sample file; this process keeps its samples in memory and /metrics"
        " will not show them until it restarts",
        extra={"file": os.path.basename(filename), "detail": f"{type(exc).__name__}: {exc.strerror}"},
    )
    return int(memfd_create(os.path.basename(filename)))


class AllocatedSampleFile(mmap_dict.MmapedDict):
    """prometheus_client's sample file, with its space allocated ahead of every mapping."""

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        memory: int | None = None
        if not read_mode:
            try:
                _allocated(filename)
            except OSError as exc:
                memory = _in_memory(filename, exc)
                filename = f"/proc/self/fd/{memory}"
        try:
            super().__init__(filename, read_mode)  # type: ignore[no-untyped-call]
        finally:
            # The parent opened the memory file anew; its own descriptor keeps it alive.
            if memory is not None:
                os.close(memory)

    def _init_value(self, key: str) -> Any:
        needed = self._used + len(key.encode("utf-8")) + _ENTRY_OVERHEAD
        capacity = self._capacity
        while needed > capacity:
            capacity *= 2
        if capacity != self._capacity:
            # The parent doubles the same way; it then finds the space taken already.
            allocate(self._f.fileno(), capacity)
        return super()._init_value(key)  # type: ignore[no-untyped-call]


def install() -> None:
    """Make every sample file of this process an allocated one (before the first is made)."""
    values.MmapedDict = AllocatedSampleFile  # type: ignore[attr-defined]
