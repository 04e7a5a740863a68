"""The micro-action detector whose timelines the emotion heads read.

Two ways to get one:

- ``emotion.detector_ckpt=PATH``: a trained MMAD checkpoint (``task=mmad`` writes one). The
  detector is rebuilt from the config stored in the checkpoint, so its architecture, frame
  stride and cue settings are the ones it was trained with whatever this run's config says;
  only where skeletons come from (``skeleton.source``) follows this run, since that is a
  property of the videos, not of the model.
- ``emotion.detector_ckpt=null``: train one on the emotion set's own ``train`` micro-action
  annotations, with this run's model, cue, fusion and trainer groups
  (``emotion.detector.epochs`` and ``.seed`` override the trainer's). The trained detector
  is cached under ``<emotion.cache>/detectors/<key>/`` where the key hashes every setting
  that shapes its weights and the content of every training video and annotation, so the
  jobs of an ablation that differ only in the emotion features share one detector. A file
  lock makes concurrent jobs (``hydra/launcher=local``) wait for the first one's detector
  instead of training their own, and a job killed mid-training resumes from the last epoch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from affect.dataset import EmotionDataset
from detection.model.detector import MicroActionDetector
from detection.pipeline import build_dataset, build_trainer, fit
from detection.training.checkpoint import load_detector as rebuild_detector
from engine.seeding import seed_everything
from perception.atomic import atomic_write_text
from perception.cue_cache import CueCache, HashMemo, file_sha256, sidecar_files
from perception.extract import build_caches
from perception.locking import file_lock

DETECTOR_FORMAT = 1  # bump when what a cached detector holds changes
DONE = "done.json"


@dataclass
class Detector:
    """A trained detector with what it needs to read a video the way it was trained to."""

    model: MicroActionDetector
    checkpoint: Path
    sha256: str  # of the checkpoint file: keys the timeline cache
    frame_stride: int
    caches: dict[str, CueCache]
    trained_here: bool = False  # trained on this set's annotations (not a user's checkpoint)
    from_cache: bool = False  # an earlier run (or sweep job) trained it; this run reused it
    train_seconds: float | None = None

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_detector(path: str | Path, cfg: DictConfig) -> Detector:
    """Rebuild the detector saved at ``path`` from its stored config (the detection package's
    one builder) and read videos with its extractor settings, this run's cache folder and
    skeleton source."""
    path = Path(to_absolute_path(str(path)))
    trained = rebuild_detector(path)
    stored = OmegaConf.create(trained.config)
    reading = OmegaConf.merge(stored, {"cue_cache": cfg.cue_cache})
    if "skeleton" in reading.cues and "skeleton" in cfg:  # a property of the videos, not of the model
        reading.cues.skeleton.extractor.source = cfg.skeleton.source
    return Detector(trained.model, path, file_sha256(path), trained.frame_stride, build_caches(reading))


def detector_settings(cfg: DictConfig) -> dict[str, Any]:
    """Every config value that shapes a detector trained here (the cache key's settings part),
    with the emotion-specific epochs and seed already applied to the trainer."""
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    if cfg.emotion.detector.get("epochs"):
        trainer["epochs"] = int(cfg.emotion.detector.epochs)
    return {
        "format": DETECTOR_FORMAT,
        "model": OmegaConf.to_container(cfg.model, resolve=True),  # its cues, their extractors too
        "frame_stride": int(cfg.data.frame_stride),
        "trainer": trainer,
        "seed": int(cfg.emotion.detector.seed),
    }


def training_content(dataset: EmotionDataset, memo: HashMemo) -> list[list]:
    """What the detector learns from: each train video's bytes (and sidecars such as
    landmarks) and its annotated instances."""
    content = []
    for video in dataset.split("train"):
        if video.video_id not in dataset.annotated:
            continue
        files = [memo.sha256(video.path)] + [memo.sha256(p) for p in sidecar_files(video.path)]
        instances = [[round(i.start, 6), round(i.end, 6), i.label] for i in video.annotation.instances]
        content.append([video.video_id, files, instances])
    return content


def train_detector(cfg: DictConfig, dataset: EmotionDataset, logger: Any = None) -> Detector:
    """The detector trained on the dataset's ``train`` annotations (cached, see module doc)."""
    cache_root = Path(to_absolute_path(cfg.emotion.cache))
    memo = HashMemo(cache_root / "hashes.json")
    content = training_content(dataset, memo)
    memo.save()
    if not content:
        raise ValueError(
            f"emotion.timelines=predicted needs a detector, and {dataset.root} has no micro-action "
            "annotations for its train videos (train.csv) to train one: set emotion.detector_ckpt=PATH "
            "(e.g. outputs/mmad/<run>/checkpoint.pt), or use emotion.timelines=groundtruth"
        )
    settings = detector_settings(cfg)
    key = hashlib.sha256(json.dumps([settings, content], sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root / "detectors" / key
    checkpoint = folder / "checkpoint.pt"
    with file_lock(folder / ".lock"):
        done = folder / DONE
        from_cache = done.is_file()
        if not from_cache:
            seconds = _train(cfg, dataset, settings, checkpoint, logger)
            atomic_write_text(done, json.dumps({"train_seconds": seconds, "settings": settings}, indent=2))
            print(f"detector trained in {seconds:.0f} s, cached in {folder}")
        else:
            print(f"reusing the detector cached in {folder}")
        record = json.loads(done.read_text())
    detector = load_detector(checkpoint, cfg)
    detector.trained_here, detector.from_cache = True, from_cache
    detector.train_seconds = record.get("train_seconds")
    return detector


def _train(cfg: DictConfig, dataset: EmotionDataset, settings: dict, checkpoint: Path, logger: Any) -> float:
    """Train the detector into ``checkpoint`` with the MMAD pipeline's own builders (resuming a
    killed attempt); returns seconds."""
    seed_everything(settings["seed"])
    model = instantiate(cfg.model)
    videos = {v.video_id: v.annotation for v in dataset.split("train") if v.video_id in dataset.annotated}
    train_set = build_dataset(
        videos, dataset.root / "train", cfg.data, model, build_caches(cfg), "train (detector)"
    )
    trainer = build_trainer(cfg, epochs=settings["trainer"]["epochs"])
    print(f"training the micro-action detector on {len(train_set)} annotated train videos")
    return fit(cfg, model, train_set, checkpoint, trainer, settings["seed"], resume=True, logger=logger)
