"""Rebuilding a trained detector from its checkpoint: the one builder that evaluation
(``ckpt=``), ``task=predict`` and the emotion pipeline (``emotion.detector_ckpt``) share.

A detector checkpoint (written by :mod:`detection.training.resume`) stores the resolved config
of its run (key ``config``, JSON) beside the weights and the taxonomy (``engine.checkpoint``).
The model is rebuilt from that stored config, never from the current command line's, because
everything the weights mean depends on it: which cues feed which stream, the input size, the
pyramid. Errors name the checkpoint and say what does not fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from detection.model.detector import MicroActionDetector
from engine.checkpoint import load_checkpoint

REQUIRED_SECTIONS = ("model", "cues", "data")


class CheckpointMismatch(ValueError):
    """The checkpoint cannot be used as asked; the message names the checkpoint and the reason."""


@dataclass
class TrainedDetector:
    """A detector in eval mode, with the resolved config it was trained with."""

    model: MicroActionDetector
    checkpoint: Path
    config: dict[str, Any]

    @property
    def frame_stride(self) -> int:
        """Training decoded every ``frame_stride``-th frame of its videos."""
        return int(self.config["data"]["frame_stride"])


def stored_config(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """The training run's resolved config, checked for the sections a rebuild needs."""
    raw = state.get("config")
    if raw is None:
        raise CheckpointMismatch(
            f"{path}: the checkpoint stores no training config, so its detector cannot be rebuilt "
            "(checkpoints written by `task=mmad` have one)"
        )
    try:
        config = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError) as error:
        raise CheckpointMismatch(f"{path}: unreadable stored config ({error})") from error
    for key in REQUIRED_SECTIONS:
        if key not in config:
            raise CheckpointMismatch(f"{path}: the stored config has no '{key}' section; is it a detector's?")
    return config


def load_detector(checkpoint: str | Path, device: str | torch.device = "cpu") -> TrainedDetector:
    """Load weights (``weights_only=True``, taxonomy checked) into the model its stored config
    describes, in eval mode on ``device``."""
    path = Path(checkpoint)
    state = load_checkpoint(path)
    config = stored_config(state, path)
    model = instantiate(OmegaConf.create(config["model"]))
    try:
        # the moving average of the weights when the run kept one (what it evaluated)
        model.load_state_dict(state["ema_model"] if "ema_model" in state else state["model"])
    except (KeyError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointMismatch(
            f"{path}: the weights do not fit the model its stored config describes ({first})"
        ) from error
    model.to(device).eval()
    return TrainedDetector(model, path, config)
