"""Atomic file writes: a reader sees either the old file or the complete new one, never a
half-written file, even if the process is killed mid-write.

The temporary file lives in the destination's folder so ``os.replace`` is a rename within
one filesystem (atomic on POSIX), and is removed if the write fails. ``mkstemp`` creates
files readable only by their owner; finished files get the mode a plain ``open`` would.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@functools.cache
def _file_mode() -> int:
    current = os.umask(0)
    os.umask(current)
    return 0o666 & ~current


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.chmod(temporary, _file_mode())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_path(path) as temporary, open(temporary, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
