"""The recognition training loop: the official recipe's SGD with step decay, gradient-norm
clipping, one checkpoint per epoch, exact resume after a kill, and torchrun DDP.

One optimisation step is :func:`recognition.engine.train_step`; processes, checkpoints, epoch
orders and seeding are the platform's shared ``engine`` utilities, and what a checkpoint holds
is the detector's (``detection.training.resume``), so both families resume the same way.

Exact resume: epoch ``e`` draws its order from ``engine.sampler`` (seeded by ``(seed, e)``) and
its crops and frames from the dataset's ``(seed, e, clip)`` generators; dropout draws from
torch's global generator, whose state the checkpoint holds. The learning rate depends on the
epoch alone (``MultiStepLR``), so a run stopped after epoch ``e`` and continued with more
epochs ends with the same weights as one that ran through.

Several processes: each rank trains on its shard of the epoch order through
DistributedDataParallel (gradients averaged), so N ranks with batch B step like one process
with batch N * B. Only rank 0 logs and saves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from detection.training.resume import restore_training_state, save_training_state
from engine import distributed
from engine.precision import grad_scaler
from engine.sampler import epoch_sampler
from recognition.engine import train_step, tsm_param_groups


@dataclass
class RecognitionTrainer:
    """The ``trainer`` group of ``task=recognition`` (``configs/trainer/recognition.yaml``)."""

    epochs: int = 80
    batch_size: int = 8
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float | None = 20.0
    lr_steps: Sequence[int] = (30, 60)
    lr_gamma: float = 0.1
    fc_lr5: bool = True
    device: str = "cpu"
    workers: int = 2
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"trainer epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}"
            )
        self.lr_steps = tuple(int(s) for s in self.lr_steps)


def build_optimizer(model: torch.nn.Module, config: RecognitionTrainer) -> torch.optim.SGD:
    groups = tsm_param_groups(model, config.lr, config.weight_decay, config.fc_lr5)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def clip_loader(dataset: Dataset, batch_size: int, workers: int, sampler=None) -> DataLoader:
    """A loader of clip dicts (frames, landmarks, label, file); test order when no sampler."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        persistent_workers=False,  # fresh workers each epoch see the dataset's current epoch
    )


def train(
    model: torch.nn.Module,
    dataset: Dataset,
    config: RecognitionTrainer,
    checkpoint_path: str | Path,
    seed: int = 0,
    resume: bool = False,
    logger: Any = None,
    extra_state: dict[str, Any] | None = None,
    log_prefix: str = "train",
    step_offset: int = 0,
) -> list[dict[str, float]]:
    """Train ``model`` in place on ``dataset`` (a :class:`recognition.dataset.ClipDataset` or any
    dataset of the same dicts); returns one dict of mean losses per epoch run now. Logged steps
    start at ``step_offset`` (a second training in the same run logs after the first)."""
    device = torch.device(config.device)
    model.to(device)
    main = distributed.is_main_process()
    stepped: torch.nn.Module = model
    if distributed.is_distributed():
        # unused: the per-path classifier inputs of an ablated dual-path network
        stepped = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.lr_steps), config.lr_gamma)
    scaler = grad_scaler(device, "fp32")  # stored for the shared checkpoint layout; inactive
    checkpoint_path = Path(checkpoint_path)
    start_epoch = 0
    if resume and checkpoint_path.is_file():
        start_epoch = restore_training_state(checkpoint_path, model, optimizer, scheduler, scaler, device)
        if main:
            print(f"resuming from {checkpoint_path} after epoch {start_epoch}/{config.epochs}")
    batches = math.ceil(len(epoch_sampler(dataset, seed, 0)) / config.batch_size)
    history = []
    for epoch in range(start_epoch, config.epochs):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        loader = clip_loader(dataset, config.batch_size, config.workers, epoch_sampler(dataset, seed, epoch))
        sums: dict[str, float] = {}
        started = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not main)
        for step, batch in enumerate(bar):
            losses = train_step(stepped, batch, optimizer, config.grad_clip, device)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss=f"{losses['loss']:.3f}")
            if logger is not None and step % config.log_every == 0:
                logged = distributed.all_reduce_mean(losses, device)
                if main:
                    logged = {f"{log_prefix}/{k}": v for k, v in logged.items()}
                    logger.log(
                        {**logged, f"{log_prefix}/lr": scheduler.get_last_lr()[0], "epoch": epoch},
                        step=step_offset + epoch * batches + step,
                    )
        scheduler.step()
        summary = distributed.all_reduce_mean({k: v / max(1, len(loader)) for k, v in sums.items()}, device)
        summary["epoch_seconds"] = time.perf_counter() - started
        history.append(summary)
        if main:
            parts = ", ".join(
                f"{k} {v:.4f}" for k, v in summary.items() if k not in ("epoch_seconds", "grad_norm")
            )
            print(
                f"{log_prefix} epoch {epoch + 1}/{config.epochs}: {parts} in {summary['epoch_seconds']:.0f}s"
            )
            save_training_state(checkpoint_path, model, optimizer, scheduler, scaler, epoch, extra_state)
        distributed.barrier()
    return history
