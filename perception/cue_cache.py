"""A file cache of per-video cues (optical flow, skeletons), one ``.npz`` per video and cue.

Extracting flow or running MediaPipe costs far more than training on the result, and a
sweep trains many models on the same videos, so cues are computed once and reused. Reuse
must never be wrong, so an entry's file name carries a key made of

- the SHA-256 of the video's bytes and of its sidecar files (``<stem>.*`` beside it, such
  as the synthetic generator's ``.landmarks.npy``): a re-encoded or replaced video with
  the same name gets a new entry;
- the cue's name and every extractor parameter: changing one (flow method, resolution,
  stride...) looks up a different file.

Entries are written atomically (temporary file + rename in the same folder), so a
killed extraction leaves at most a ``.tmp`` file that no lookup ever reads.

Hashing a large video takes a while, so hashes are remembered in ``hashes.json`` keyed by
path, size and modification time; a file that changed in any of those is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from perception.atomic import atomic_path, atomic_write_text

Arrays = dict[str, np.ndarray]
Extract = Callable[[Path], Arrays]

# Bump when the stored format of every cue changes, so old entries are not read as new ones.
CACHE_FORMAT = 2  # 2: flow and MediaPipe skeletons decoded by the streaming extractors predict uses


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sidecar_files(video: Path) -> list[Path]:
    """Files beside the video that share its stem (``a.mp4`` -> ``a.landmarks.npy``)."""
    prefix = f"{video.stem}."
    return sorted(p for p in video.parent.glob(f"{video.stem}.*") if p != video and p.name.startswith(prefix))


class HashMemo:
    """Content hashes remembered across runs, invalidated by any change of size or mtime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._entries: dict[str, list] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self._entries = {}
        self._dirty = False

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        with self._lock:
            known = self._entries.get(key)
            if known and known[:2] == stamp:
                return known[2]
        digest = file_sha256(path)
        with self._lock:
            self._entries[key] = [*stamp, digest]
            self._dirty = True
        return digest

    def save(self) -> None:
        with self._lock:
            if self._dirty:
                atomic_write_text(self.path, json.dumps(self._entries))
                self._dirty = False


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


class CueCache:
    """Load-or-extract for one cue with one set of extractor parameters.

    ``extract`` maps a video path to a dict of arrays; ``params`` must describe everything
    that changes its output (it is hashed into the key), and is usually the extractor's
    config as a plain dict. Instances are picklable, so worker processes can use them.
    """

    def __init__(self, root: str | Path, cue: str, params: Mapping[str, Any], extract: Extract) -> None:
        self.root = Path(root)
        self.cue = cue
        self.params = dict(params)
        self.extract = extract
        self._memo: HashMemo | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": None}

    @property
    def memo(self) -> HashMemo:
        if self._memo is None:
            self._memo = HashMemo(self.root / "hashes.json")
        return self._memo

    def key(self, video: str | Path) -> str:
        video = Path(video)
        if not video.is_file():
            raise FileNotFoundError(f"video not found: {video}")
        content = [self.memo.sha256(video)] + [
            f"{p.name}:{self.memo.sha256(p)}" for p in sidecar_files(video)
        ]
        description = _canonical(
            {"format": CACHE_FORMAT, "cue": self.cue, "params": self.params, "content": content}
        )
        return hashlib.sha256(description.encode()).hexdigest()[:20]

    def path_for(self, video: str | Path) -> Path:
        video = Path(video)
        return self.root / self.cue / f"{video.stem}.{self.key(video)}.npz"

    def load(self, video: str | Path) -> Arrays | None:
        """The cached arrays, or None when this video has no entry for these parameters."""
        path = self.path_for(video)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError) as error:
            raise RuntimeError(
                f"{path}: unreadable cue cache entry ({error}); delete it to re-extract"
            ) from error

    def get(self, video: str | Path) -> tuple[Arrays, bool]:
        """(arrays, was_cached): extracts and stores the cue on a miss."""
        cached = self.load(video)
        if cached is not None:
            return cached, True
        arrays = self.extract(Path(video))
        self.store(video, arrays)
        return arrays, False

    def store(self, video: str | Path, arrays: Arrays) -> Path:
        path = self.path_for(video)
        write_entry(path, arrays)
        return path

    def save_hashes(self) -> None:
        self.memo.save()


def write_entry(path: Path, arrays: Arrays) -> None:
    """Atomically write one entry: readers see the complete file or none."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def cache_dir_size(root: str | Path) -> int:
    """Bytes used by the cache (for the extraction summary)."""
    total = 0
    for folder, _, files in os.walk(root):
        total += sum((Path(folder) / f).stat().st_size for f in files)
    return total
