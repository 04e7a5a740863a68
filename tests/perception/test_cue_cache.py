"""The cue cache: keys follow content and parameters, entries are atomic, hashes are memoised."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from perception.cue_cache import CueCache, HashMemo, sidecar_files

CALLS: list[Path] = []


def counting_extract(video: Path) -> dict[str, np.ndarray]:
    CALLS.append(video)
    data = video.read_bytes()
    return {"length": np.array(len(data)), "first": np.frombuffer(data[:4], dtype=np.uint8).copy()}


@pytest.fixture
def video(tmp_path) -> Path:
    path = tmp_path / "videos" / "clip.mp4"
    path.parent.mkdir()
    path.write_bytes(b"fake video bytes")
    return path


def test_second_get_reads_the_cache_instead_of_extracting(tmp_path, video):
    CALLS.clear()
    cache = CueCache(tmp_path / "cache", "flow", {"size": 64}, counting_extract)
    first, was_cached = cache.get(video)
    second, was_cached_again = cache.get(video)
    assert (was_cached, was_cached_again) == (False, True)
    assert len(CALLS) == 1 and CALLS[0] == video
    assert int(second["length"]) == len(b"fake video bytes") == int(first["length"])
    assert cache.path_for(video).parent == tmp_path / "cache" / "flow"


def test_changed_parameter_or_content_or_sidecar_misses(tmp_path, video):
    cache = CueCache(tmp_path / "cache", "flow", {"size": 64}, counting_extract)
    cache.get(video)
    original = cache.path_for(video)
    assert CueCache(tmp_path / "cache", "flow", {"size": 32}, counting_extract).load(video) is None
    assert CueCache(tmp_path / "cache", "skeleton", {"size": 64}, counting_extract).load(video) is None
    sidecar = video.with_name("clip.landmarks.npy")
    sidecar.write_bytes(b"landmarks v1")
    assert cache.path_for(video) != original  # the sidecar is part of the content
    with_sidecar = cache.path_for(video)
    sidecar.write_bytes(b"landmarks v2 (longer)")
    assert cache.path_for(video) != with_sidecar
    video.write_bytes(b"re-encoded video!")
    assert cache.load(video) is None
    assert int(cache.get(video)[0]["length"]) == len(b"re-encoded video!")


def test_sidecar_files_share_the_stem_only(tmp_path):
    for name in ("a.mp4", "a.landmarks.npy", "ab.mp4", "a_b.npy"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in sidecar_files(tmp_path / "a.mp4")] == ["a.landmarks.npy"]


def test_hash_memo_rehashes_only_changed_files(tmp_path, monkeypatch):
    import perception.cue_cache as module

    target = tmp_path / "v.mp4"
    target.write_bytes(b"one")
    hashed = []
    real = module.file_sha256
    monkeypatch.setattr(module, "file_sha256", lambda p: hashed.append(p) or real(p))
    memo = HashMemo(tmp_path / "hashes.json")
    first = memo.sha256(target)
    memo.save()
    assert HashMemo(tmp_path / "hashes.json").sha256(target) == first
    assert len(hashed) == 1  # the second memo read it from hashes.json
    target.write_bytes(b"two!")
    assert memo.sha256(target) != first and len(hashed) == 2


def test_unknown_video_is_a_clear_error(tmp_path):
    cache = CueCache(tmp_path / "cache", "flow", {}, counting_extract)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        cache.path_for(tmp_path / "missing.mp4")


def test_killed_write_leaves_no_entry_a_later_run_would_read(tmp_path, video):
    """SIGKILL in the middle of writing an entry: the next run sees a miss, not a torn file."""
    script = textwrap.dedent(
        f"""
        import os, signal
        import numpy as np
        import perception.cue_cache as module

        def dying_savez(handle, **arrays):
            handle.write(b"PK partial zip")
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        module.np.savez_compressed = dying_savez
        cache = module.CueCache({str(tmp_path / "cache")!r}, "flow", {{"size": 64}},
                                lambda v: {{"x": np.zeros(3)}})
        cache.get({str(video)!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == -9
    cache = CueCache(tmp_path / "cache", "flow", {"size": 64}, counting_extract)
    leftovers = list((tmp_path / "cache" / "flow").iterdir())
    assert leftovers and all(p.name.endswith(".tmp") for p in leftovers)
    assert cache.load(video) is None
    arrays, was_cached = cache.get(video)
    assert not was_cached and int(arrays["length"]) == len(b"fake video bytes")
