"""A plain PyTorch training loop for the detector: AdamW, linear warm-up then cosine decay,
gradient clipping, a checkpoint after every epoch, and resuming a killed run exactly.

The parts live beside it: one optimisation step and the optimizer in ``step.py``, what a
checkpoint holds and exact resuming in ``resume.py``; processes, precision, schedules and epoch
orders are the platform's shared ``engine`` utilities.

Memory and speed options (``TrainerConfig``):

- ``precision``: ``bf16`` or ``fp16`` run the forward pass under autocast (on CPU too); fp16
  adds a gradient scaler, since its narrow exponent underflows small gradients. The losses
  are computed in float32 either way (detector.loss).
- ``accumulate``: gradients of that many batches are averaged before each optimizer step, for
  a larger effective batch than fits in memory. The learning-rate schedule counts optimizer
  steps; the last group of an epoch may be shorter, and no gradient is carried across an
  epoch boundary, so a checkpoint never holds half-accumulated gradients.
- activation checkpointing is a backbone option (``model.backbone.grad_checkpointing``).

The published recipe (AdaTAD/ActionFormer; ``configs/trainer/adatad.yaml``):

- ``lr_groups``: own learning rates for the backbone, its adapters and the head
  (``step.build_optimizer``); ``warmup_epochs`` then cosine.
- ``ema``: an exponential moving average of the weights (decay 0.999, updated after every
  optimizer step, torch's ``AveragedModel``); validation, the final weights the run evaluates
  and ``task=predict`` use it (the checkpoint keeps both, so resuming stays exact).
- ``validate_every``: mean action mAP on the validation split every N epochs (and after the
  last); the best epoch's evaluated weights go to ``best.pt`` beside the checkpoint, and the
  run then tests them.
- ``temporal_crop``: AdaTAD's random temporal crop, a random window of each training video of
  a random share of its length in [low, high] (``detection.data.dataset.Collate``).

Several processes (``torchrun``, see ``engine.distributed``): each rank trains on its shard
of the epoch's order (a ``DistributedSampler`` seeded exactly like the single-process order)
through DistributedDataParallel, so N ranks with ``batch_size`` B take the same optimizer
steps as one process with batch ``N * B``; the loss normaliser counts positives over all
ranks for the same reason (``MicroActionDetector.loss``). Only rank 0 prints, logs and saves.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from detection.data.dataset import Collate, MMADataset
from detection.model.detector import MicroActionDetector
from detection.training.resume import restore_training_state, save_training_state
from detection.training.step import TrainingStep, apply_update, build_optimizer
from engine import distributed
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.precision import autocast, check_precision, grad_scaler
from engine.sampler import epoch_sampler
from engine.schedule import accumulation_groups, warmup_cosine

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainerConfig:
    """The ``trainer`` config group (``configs/trainer/default.yaml`` builds it with ``_target_``)."""

    epochs: int = 10
    batch_size: int = 2
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    grad_clip: float = 1.0
    device: str = "cpu"
    log_every: int = 10  # optimizer steps between logged losses
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with a gradient scaler)
    accumulate: int = 1  # batches whose gradients are averaged per optimizer step
    augment: Callable | None = None  # per-clip augmentation (detection.data.augment), None = off
    lr_groups: Mapping[str, float | None] | None = None  # backbone / adapters / head -> lr (null: lr)
    ema: float | None = None  # decay of the weights' moving average used for evaluation; None = off
    validate_every: int = 0  # epochs between validation mAPs (best.pt keeps the best); 0 = off
    temporal_crop: Sequence[float] | None = None  # [low, high] share of each training video kept

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.accumulate < 1:
            raise ValueError(f"trainer accumulate must be at least 1, got {self.accumulate}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"trainer ema (a decay) must be in (0, 1), got {self.ema}")
        if self.validate_every < 0:
            raise ValueError(f"trainer validate_every must be >= 0, got {self.validate_every}")
        if self.temporal_crop is not None:
            low, high = map(float, self.temporal_crop)
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(
                    f"trainer temporal_crop must be [low, high] with 0 < low <= high <= 1, got {low, high}"
                )


def build_ema(model: torch.nn.Module, decay: float) -> AveragedModel:
    """``ema = decay * ema + (1 - decay) * weights`` after each update (buffers too), starting
    from the weights themselves."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def best_checkpoint_path(checkpoint_path: Path) -> Path:
    """Where the best validated weights go: ``best.pt`` beside the training checkpoint."""
    return Path(checkpoint_path).with_name("best.pt")


def train(
    model: MicroActionDetector,
    dataset: MMADataset,
    config: TrainerConfig,
    checkpoint_path: str | Path,
    seed: int = 0,
    resume: bool = False,
    logger: Any = None,
    extra_state: dict[str, Any] | None = None,
    on_epoch_end: EpochCallback | None = None,
    training_step: TrainingStep | None = None,
    validate: Callable[[torch.nn.Module], float | None] | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` in place; returns one dict of mean losses per epoch run now (averaged
    over ranks when distributed). ``training_step``: the loss to optimise, a :class:`TrainingStep`
    around ``model`` (default: the detector's own loss; ``detection.training.distill`` passes
    one that also matches a teacher). Its cues are what the batches carry. ``validate`` scores a
    model (higher is better; rank 0's score counts) every ``config.validate_every`` epochs. On
    return ``model`` holds the weights to evaluate: the best validated ones, else the moving
    average (``config.ema``), else the last."""
    device = torch.device(config.device)
    loss_step = training_step if training_step is not None else TrainingStep(model)
    if loss_step.detector is not model:
        raise ValueError("the training step must wrap the model being trained")
    loss_step.to(device)
    main = distributed.is_main_process()
    step_module: torch.nn.Module = loss_step
    if distributed.is_distributed():
        # find_unused_parameters: the skeleton encoder skips its BatchNorm on a clip without a person
        step_module = DistributedDataParallel(
            step_module,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
    optimizer = build_optimizer(loss_step, config.lr, config.weight_decay, config.lr_groups)
    ema = build_ema(model, config.ema) if config.ema else None
    best_path, best_score = best_checkpoint_path(checkpoint_path), float("-inf")
    batches_per_epoch = math.ceil(len(epoch_sampler(dataset, seed, 0)) / config.batch_size)
    groups = accumulation_groups(batches_per_epoch, config.accumulate)
    updates_per_epoch = len(groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        warmup_cosine(updates_per_epoch * config.epochs, round(updates_per_epoch * config.warmup_epochs)),
    )
    scaler = grad_scaler(device, config.precision)
    trainable = [p for p in loss_step.parameters() if p.requires_grad]
    start_epoch = 0
    checkpoint_path = Path(checkpoint_path)
    if resume and checkpoint_path.is_file():
        start_epoch = restore_training_state(
            checkpoint_path, model, optimizer, scheduler, scaler, device, loss_step, ema
        )
        best_score = float(load_checkpoint(checkpoint_path).get("best_score", best_score))
        if main:
            print(f"resuming from {checkpoint_path} after epoch {start_epoch}/{config.epochs}")
    counts = model.parameter_counts()
    if main:
        print(
            "parameters: "
            + ", ".join(f"{name} {value:,}" for name, value in counts.items())
            + f" | precision {config.precision}, accumulate {config.accumulate}"
            + (f", {distributed.world_size()} processes" if distributed.is_distributed() else "")
        )
    if main and logger is not None and hasattr(logger, "summary"):
        logger.summary({f"params/{name}": value for name, value in counts.items()})

    history = []
    for epoch in range(start_epoch, config.epochs):
        model.train()
        # augmentation randomness is keyed by (seed, epoch) too, so a resumed run matches;
        # ranks draw their own so they do not augment in lockstep
        rng_key = [seed, epoch] + ([distributed.rank()] if distributed.is_distributed() else [])
        collate = Collate(
            model.step_frames,
            model.length_multiple,
            config.augment,
            np.random.default_rng(rng_key),
            cues=loss_step.cue_specs,
            temporal_crop=config.temporal_crop,
        )
        loader = DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=epoch_sampler(dataset, seed, epoch),
            collate_fn=collate,
        )
        sums: dict[str, float] = {}
        started = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not main)
        # position of each batch in its accumulation group: (group index, group size, last?)
        schedule = [(g, size, i == size - 1) for g, size in enumerate(groups) for i in range(size)]
        optimizer.zero_grad(set_to_none=True)
        for step, batch in enumerate(bar):
            update, group_size, last_in_group = schedule[step]
            # DDP all-reduces gradients only on the last batch of an accumulation group
            no_sync = (
                step_module.no_sync()
                if isinstance(step_module, DistributedDataParallel) and not last_in_group
                else contextlib.nullcontext()
            )
            with no_sync:
                with autocast(device, config.precision):
                    losses = step_module(
                        {cue: [x.to(device) for x in videos] for cue, videos in batch.inputs.items()},
                        batch.feature_mask.to(device),
                        [s.to(device) for s in batch.segments],
                        [lab.to(device) for lab in batch.labels],
                    )
                # the mean over the group's batches, so accumulating does not scale the gradient
                scaler.scale(losses["loss"] / group_size).backward()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{losses['loss'].item():.3f}")
            if not last_in_group:
                continue
            grad_norm = apply_update(optimizer, scheduler, scaler, trainable, config.grad_clip)
            if ema is not None:
                ema.update_parameters(model)
            global_step = epoch * batches_per_epoch + step
            if logger is not None and update % config.log_every == 0:
                # every rank takes part in the mean; only rank 0's logger writes anything
                logged = distributed.all_reduce_mean(
                    {
                        "train/loss": losses["loss"].item(),
                        "train/cls_loss": float(losses["cls_loss"]),
                        "train/reg_loss": float(losses["reg_loss"]),
                    },
                    device,
                )
                if main:
                    logger.log(
                        {
                            **logged,
                            "train/grad_norm": float(grad_norm),
                            "train/lr": scheduler.get_last_lr()[0],
                            "epoch": epoch,
                        },
                        step=global_step,
                    )
        summary = {key: value / max(1, len(loader)) for key, value in sums.items()}
        summary = distributed.all_reduce_mean(summary, device)
        summary["epoch_seconds"] = time.perf_counter() - started
        history.append(summary)
        evaluated = ema.module if ema is not None else model
        last = epoch + 1 == config.epochs
        if (
            validate is not None
            and config.validate_every
            and ((epoch + 1) % config.validate_every == 0 or last)
        ):
            evaluated.eval()
            score = distributed.broadcast_object(validate(evaluated))
            summary["val_score"] = float(score)
            if score > best_score and main:
                best_score = float(score)
                save_checkpoint(
                    best_path,
                    {
                        "model": evaluated.state_dict(),
                        "epoch": epoch,
                        "val_score": best_score,
                        **(extra_state or {}),
                    },
                )
            best_score = max(best_score, float(score))
        if main:
            print(
                f"epoch {epoch + 1}/{config.epochs}: loss {summary.get('loss', float('nan')):.4f} "
                f"(cls {summary.get('cls_loss', float('nan')):.4f}, "
                f"reg {summary.get('reg_loss', float('nan')):.4f}) in {summary['epoch_seconds']:.0f}s"
                + (
                    f", validation {summary['val_score']:.2f} (best {best_score:.2f})"
                    if "val_score" in summary
                    else ""
                )
            )
            save_training_state(
                checkpoint_path,
                model,
                optimizer,
                scheduler,
                scaler,
                epoch,
                {**(extra_state or {}), "best_score": best_score},
                loss_step.auxiliary_state(),
                ema,
            )
        if on_epoch_end is not None:
            on_epoch_end(epoch, summary)
    distributed.barrier()
    if validate is not None and config.validate_every and best_path.is_file():
        model.load_state_dict(load_checkpoint(best_path, map_location=device)["model"])
    elif ema is not None:
        model.load_state_dict(ema.module.state_dict())
    return history
