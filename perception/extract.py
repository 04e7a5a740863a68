"""Filling the cue cache: ``python experiments/run.py task=extract cues=rgb_flow_skeleton``.

Extraction runs in worker processes (one video and cue per task) with a progress bar.
What is cached already is skipped before any work is scheduled, a video that fails is
recorded and the rest go on, and the failures are listed together at the end, so one
corrupt file in a folder of thousands neither stops the run nor goes unnoticed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from perception.atomic import atomic_write_text
from perception.cue_cache import CueCache, cache_dir_size, write_entry
from perception.dataset_root import prepare_data

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class ExtractionFailed(RuntimeError):
    """Some videos could not be processed; the message lists each with its reason."""


@dataclass
class ExtractionSummary:
    extracted: int = 0
    cached: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (video, cue, reason)

    def describe(self) -> str:
        lines = [
            f"cues: {self.extracted} extracted, {self.cached} already cached, {len(self.failures)} failed"
        ]
        lines += [f"  FAILED {cue} {video}: {reason}" for video, cue, reason in self.failures]
        return "\n".join(lines)


def make_cache(cfg: DictConfig, name: str, extractor: DictConfig) -> CueCache:
    """The cache of one extracted cue under ``cfg.cue_cache``: ``extractor`` is the cue's
    extractor node (``cfg.flow``, ``cfg.skeleton``), built with ``_target_`` and, with every
    setting, part of each entry's key."""
    root = Path(to_absolute_path(cfg.cue_cache))
    return CueCache(root, name, OmegaConf.to_container(extractor, resolve=True), instantiate(extractor))


def build_caches(cfg: DictConfig) -> dict[str, CueCache]:
    """One cache per cue of the ``cues`` group that has an ``extractor`` (RGB has none: the
    dataset decodes its frames)."""
    return {
        name: make_cache(cfg, name, node.extractor)
        for name, node in cfg.cues.items()
        if node.get("extractor")
    }


def _quiet_worker() -> None:
    """Worker processes share 2 cores: one thread each, and MediaPipe's logging muted."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _extract_one(cache: CueCache, video: Path, target: Path) -> None:
    write_entry(target, cache.extract(video))


def extract_cues(
    videos: Iterable[str | Path],
    caches: Mapping[str, CueCache],
    workers: int = 2,
    desc: str = "extracting cues",
) -> ExtractionSummary:
    """Make sure every (video, cue) pair is cached. Never raises for a bad video: its
    failure is in the returned summary."""
    summary = ExtractionSummary()
    todo: list[tuple[CueCache, Path, Path]] = []
    for video in map(Path, videos):
        for name, cache in caches.items():
            try:
                target = cache.path_for(video)
            except OSError as error:
                summary.failures.append((str(video), name, str(error)))
                continue
            if target.is_file():
                summary.cached += 1
            else:
                todo.append((cache, video, target))
    for cache in caches.values():
        cache.save_hashes()
    if not todo:
        return summary

    progress = tqdm(total=len(todo), desc=desc, unit="video")

    def record(cache: CueCache, video: Path, error: BaseException | None) -> None:
        if error is None:
            summary.extracted += 1
        else:
            summary.failures.append((str(video), cache.cue, f"{type(error).__name__}: {error}"))
        progress.update()

    if workers <= 1:
        for cache, video, target in todo:
            try:
                _extract_one(cache, video, target)
                record(cache, video, None)
            except Exception as error:  # a bad video must not stop the others
                record(cache, video, error)
    else:
        context = multiprocessing.get_context("spawn")  # MediaPipe and torch threads do not survive fork
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker) as pool:
            futures = {pool.submit(_extract_one, *item): item for item in todo}
            for future in as_completed(futures):
                cache, video, _ = futures[future]
                record(cache, video, future.exception())
    progress.close()
    return summary


def list_videos(root: Path, splits: Iterable[str]) -> list[Path]:
    """Every video file in ``<root>/<split>/`` (the MMA-52 layout)."""
    videos = []
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            raise FileNotFoundError(f"split folder not found: {folder}")
        videos += sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    return videos


def run_extract(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    """``task=extract``: fill the cue cache for every video of the dataset's splits."""
    root = prepare_data(cfg.data)
    caches = build_caches(cfg)
    if not caches:
        print("nothing to extract: the chosen cues are RGB only (choose e.g. cues=rgb_flow_skeleton)")
        return {"extracted": 0, "cached": 0, "failed": 0}
    splits = cfg.task.get("splits") or list(cfg.data.splits.values())
    videos = list_videos(root, splits)
    print(f"extracting {', '.join(caches)} for {len(videos)} videos into {to_absolute_path(cfg.cue_cache)}")
    summary = extract_cues(videos, caches, workers=cfg.task.workers)
    print(summary.describe())
    size_mb = cache_dir_size(to_absolute_path(cfg.cue_cache)) / 2**20
    print(f"cache size: {size_mb:.1f} MiB")
    result = {"extracted": summary.extracted, "cached": summary.cached, "failed": len(summary.failures)}
    logger.summary({f"extract/{k}": v for k, v in result.items()})
    failures = [{"video": video, "cue": cue, "reason": reason} for video, cue, reason in summary.failures]
    atomic_write_text(Path(run_dir) / "summary.json", json.dumps({**result, "failures": failures}, indent=2))
    if summary.failures:
        raise ExtractionFailed(summary.describe())
    return result
