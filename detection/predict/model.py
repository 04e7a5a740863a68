"""A trained detector, rebuilt from its checkpoint for prediction on videos it never saw.

A checkpoint of ``task=mmad`` stores the resolved config it was trained with (key
``config``, JSON) beside the weights and the taxonomy (``engine.checkpoint``). Predict
rebuilds the model from that config, not from the command line's, because everything the
weights mean depends on it: which cues feed which stream, the input size, how often frames
were sampled (``data.frame_stride`` at the training videos' fps), and how flow and skeletons
were computed. A command line that asks for other settings is refused, naming the setting,
rather than silently ignored or, worse, obeyed with weights that do not fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from detection.model.detector import MicroActionDetector
from detection.training.checkpoint import CheckpointMismatch, load_detector

# Config nodes that decide what the weights mean; overriding one for predict is an error.
LOCKED_KEYS = ("model", "cues", "fusion", "adapter", "flow", "skeleton", "data.frame_stride", "data.fit")
DEFAULT_TRAIN_FPS = 30.0  # MMA-52 videos are 30 fps (a few 29); the synthetic default is 30 too


@dataclass
class Predictor:
    """The model in eval mode and the sampling and cue settings its weights expect."""

    model: MicroActionDetector
    checkpoint: Path
    config: dict[str, Any]  # the training run's resolved config
    train_fps: float  # frame rate of the training videos
    frame_stride: int  # training sampled every frame_stride-th frame

    @property
    def sample_rate(self) -> float:
        """RGB frames per second of video the model sees (training fps / frame_stride)."""
        return self.train_fps / self.frame_stride

    @property
    def cues(self) -> list[str]:
        return self.model.cues

    @property
    def extractors(self) -> dict[str, Any]:
        """The extractor settings of every extracted cue (flow, skeletons), as trained."""
        return {
            name: cue.extractor for name, cue in self.model.cue_specs.items() if cue.extractor is not None
        }

    @property
    def step_frames(self) -> int:
        return self.model.step_frames

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def fit(self) -> str:
        """How training made frames square (``data.fit``: squash or center_crop)."""
        return str(self.config.get("data", {}).get("fit", "squash"))

    @property
    def chunk_frames(self) -> int:
        """Sampled frames per backbone chunk; windows start on chunk boundaries."""
        backbone = dict(self.model.streams.items()).get("rgb")  # ModuleDict has no .get
        return int(getattr(backbone, "chunk_frames", self.step_frames))

    @property
    def step_seconds(self) -> float:
        """Length of one feature step in seconds of the video."""
        return self.step_frames / self.sample_rate

    def describe(self, name: str | None = None) -> str:
        """One line about the model; ``name`` shows the checkpoint as the user wrote it."""
        return (
            f"{name or self.checkpoint} ({'+'.join(self.cues)}, {self.image_size} px, "
            f"{self.sample_rate:g} frames/s, feature step {self.step_seconds:.3f} s)"
        )


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def overridden_keys(overrides: list[str]) -> list[str]:
    """The config keys a list of Hydra command-line overrides sets (``cues=rgb`` -> ``cues``)."""
    keys = []
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        keys.append(key.split("@", 1)[0])
    return keys


def check_overrides(run_cfg: DictConfig, stored: dict[str, Any], overrides: list[str], path: Path) -> None:
    """Refuse command-line settings that contradict what the checkpoint was trained with."""
    current = OmegaConf.to_container(run_cfg, resolve=True)
    for key in overridden_keys(overrides):
        locked = next((k for k in LOCKED_KEYS if key == k or key.startswith(k + ".")), None)
        if locked is None:
            continue
        if _lookup(current, key) != _lookup(stored, key):
            raise CheckpointMismatch(
                f"{path}: trained with {key}={json.dumps(_lookup(stored, key))}, but the command line "
                f"sets {key}={json.dumps(_lookup(current, key))}; predict uses the checkpoint's "
                f"{locked} settings, drop the override"
            )


def training_fps(stored: dict[str, Any], override: float | None) -> float:
    """Frame rate of the training videos: ``task.predict.train_fps`` if given, else the synthetic
    generator's fps, else MMA-52's 30 fps."""
    if override:
        return float(override)
    synthetic = _lookup(stored, "data.synthetic.fps")
    return float(synthetic) if synthetic else DEFAULT_TRAIN_FPS


def load_predictor(
    checkpoint: str | Path,
    run_cfg: DictConfig | None = None,
    overrides: list[str] | None = None,
    train_fps: float | None = None,
    device: str = "cpu",
) -> Predictor:
    """Load weights (``weights_only=True``, taxonomy checked), rebuild the model from the stored
    config, and refuse overrides of the settings the weights depend on."""
    path = Path(checkpoint)
    trained = load_detector(path, device)
    stored = trained.config
    if run_cfg is not None and overrides:
        check_overrides(run_cfg, stored, overrides, path)
    model = trained.model
    stride = int(stored["data"]["frame_stride"])
    fps = training_fps(stored, train_fps)
    if not (math.isfinite(fps) and fps > 0 and stride >= 1):
        raise CheckpointMismatch(f"{path}: unusable sampling (fps {fps}, frame_stride {stride})")
    return Predictor(model, path, stored, fps, stride)
