"""What a training checkpoint holds, and continuing from one exactly.

Exact resume: the data order of epoch ``e`` comes from a generator seeded with ``(seed, e)``
(``engine.sampler``), and the checkpoint holds model, optimizer, scheduler, grad-scaler and
RNG state, so a run killed after epoch ``e`` and resumed ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel

from engine.checkpoint import load_checkpoint, save_checkpoint


def save_training_state(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    epoch: int,
    extra_state: dict[str, Any] | None = None,
    auxiliary: dict[str, torch.Tensor] | None = None,
    ema: AveragedModel | None = None,
) -> None:
    """Everything needed to continue after ``epoch`` (atomically; see ``engine.checkpoint``).
    ``auxiliary``: what the training step trains besides the model (``TrainingStep.auxiliary_state``).
    With a moving average of the weights, ``ema_model`` holds its detector weights (what
    evaluation and predict load) and ``ema_averaged`` its update count."""
    averaged = {}
    if ema is not None:
        averaged = {"ema_model": ema.module.state_dict(), "ema_averaged": ema.n_averaged.clone()}
    save_checkpoint(
        path,
        {
            **averaged,
            "model": model.state_dict(),
            **({"step": auxiliary} if auxiliary else {}),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            **(extra_state or {}),
        },
    )


def restore_training_state(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    step: torch.nn.Module | None = None,
    ema: AveragedModel | None = None,
) -> int:
    """Load a checkpoint written by :func:`save_training_state` (with ``step``, its auxiliary
    state too); returns the epoch to start at."""
    state = load_checkpoint(path, map_location=device)
    model.load_state_dict(state["model"])
    if step is not None and state.get("step"):
        step.load_auxiliary_state(state["step"])
    if ema is not None and "ema_model" in state:
        ema.module.load_state_dict(state["ema_model"])
        ema.n_averaged.copy_(state["ema_averaged"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):  # empty when saved by an fp32/bf16 run
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]) + 1
