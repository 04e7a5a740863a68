"""Inter-process locks on files, so concurrent jobs build a shared artefact once.

A sweep (``hydra/launcher=local``, several GPUs, torchrun ranks) may start many jobs that
need the same cached thing (a pretrained backbone, a trained detector). ``flock`` on a lock
file makes the others wait until the first has built it; the kernel releases the lock when
its holder exits, even if it is killed, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """An exclusive lock held by this process until the block ends (released if it dies)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
