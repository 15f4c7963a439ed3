"""Atomic file replacement: a reader sees the old file or the new one, never
half of a report."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write `data` (str as UTF-8) to `path` via a temp file in the same
    directory, fsync and rename; on any failure the old file is left intact."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    atomic_write_chunks(path, (payload,), mode)


def atomic_write_chunks(path: str | Path, chunks: Iterable[bytes | str],
                        mode: int = 0o644) -> None:
    """`atomic_write` for content produced piece by piece (str chunks as UTF-8), so
    a large fact file never has to sit in memory whole."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename is only durable once the directory entry is on disk too.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
