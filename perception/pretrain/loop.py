"""VideoMAE self-supervised pretraining: transformers' ``VideoMAEForPreTraining`` in a plain loop.

``pretrain(settings, encoder, videos, output)`` trains an encoder of the architecture ``encoder``
(the ``model.backbone.config`` mapping) to reconstruct tube-masked clips of ``videos`` and writes
``output`` as a Hugging Face directory (``config.json`` + ``model.safetensors``, encoder and
decoder), which ``model.backbone.pretrained=output`` loads through perception/checkpoints.py.

Why each piece:

- the encoder keeps a final LayerNorm (``use_mean_pooling=False``), as VideoMAE's pretraining
  encoder does; the loader sees it in the weights and keeps it;
- pixels are normalised with the ImageNet statistics the backbone uses, which is also what
  ``VideoMAEForPreTraining`` undoes to build its per-patch normalised targets;
- the learning rate changes every step (linear warm-up, cosine), computed from the global step,
  so a resumed run follows the same schedule; clips and masks are seeded by (seed, epoch, index),
  and VideoMAE pretraining has no dropout, so a run killed after epoch k and resumed reproduces
  the uninterrupted one;
- the resumable state (``<output>.partial/state.pt``, written atomically after every epoch) lives
  beside the output, and the output directory only appears, by a rename, once complete: a reader
  never sees a half-written backbone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm
from transformers import VideoMAEConfig, VideoMAEForPreTraining

from perception.atomic import atomic_path, atomic_write_text
from perception.position_table import token_grid
from perception.pretrain.data import (
    ClipSpec,
    PretrainClips,
    batch_masks,
    collate,
    find_videos,
    predecode,
    steps_per_epoch,
)
from perception.pretrain.settings import PretrainSettings
from perception.video import VideoDecodeError, probe_video

PIXEL_MEAN = (0.485, 0.456, 0.406)  # ImageNet, as perception.backbone and VideoMAEForPreTraining
PIXEL_STD = (0.229, 0.224, 0.225)
RECORD = "pretrain.json"  # written into the output: settings, videos, failures, loss per epoch
STATE_FORMAT = 1


class PretrainingFailed(RuntimeError):
    """No usable video, or nothing could be trained."""


@dataclass
class PretrainResult:
    output: Path
    history: list[dict[str, float]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (video, reason)
    seconds: float = 0.0
    clips: int = 0

    def describe(self) -> str:
        lines = [f"pretrained backbone in {self.output} ({self.clips} clips in {self.seconds:.0f} s)"]
        if self.failures:
            lines.append(f"{len(self.failures)} video(s) skipped:")
            lines += [f"  SKIPPED {video}: {reason}" for video, reason in self.failures]
        return "\n".join(lines)


def model_config(settings: PretrainSettings, encoder: Mapping[str, Any]) -> VideoMAEConfig:
    """The ``VideoMAEConfig`` of the encoder ``encoder`` with the settings' decoder."""
    values = {k: v for k, v in dict(encoder).items() if k != "use_mean_pooling"}
    return VideoMAEConfig(
        **values,
        **settings.decoder(int(values["hidden_size"])),
        use_mean_pooling=False,
        norm_pix_loss=settings.norm_pix_loss,
    )


def build_model(settings: PretrainSettings, encoder: Mapping[str, Any]) -> VideoMAEForPreTraining:
    torch.manual_seed(settings.seed)
    return VideoMAEForPreTraining(model_config(settings, encoder))


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: biases, norms and the mask token are left alone (timm's
    rule, which VideoMAE's optimizer factory applies)."""
    decay, plain = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (plain if param.ndim <= 1 or name.endswith(".bias") or "mask_token" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def learning_rate(settings: PretrainSettings, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up from 0 over ``warmup_epochs``, then cosine down to ``min_lr`` (per step)."""
    peak, final = settings.step_lr()
    total = settings.epochs * steps_per_epoch
    warmup = min(int(settings.warmup_epochs * steps_per_epoch), total)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def check_videos(videos: list[Path], progress: bool = True) -> tuple[list[Path], list[tuple[str, str]]]:
    """(readable, [(unreadable, reason)]): every file is opened and its first frame decoded."""
    readable, failures = [], []
    for video in tqdm(videos, desc="checking videos", unit="video", disable=not progress):
        try:
            probe_video(video)
            readable.append(video)
        except VideoDecodeError as error:  # its message starts with the path
            failures.append((str(video), str(error).removeprefix(f"{video}: ")))
    return readable, failures


def _pixels(clips: torch.Tensor, device: str) -> torch.Tensor:
    mean = torch.tensor(PIXEL_MEAN, device=device).view(1, 1, 3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(1, 1, 3, 1, 1)
    return (clips.to(device, non_blocking=True) - mean) / std


def patch_targets(
    clips: torch.Tensor, config: VideoMAEConfig, target: str, normalise: bool, std_floor: float = 0.0
) -> torch.Tensor:
    """(B, tokens, tubelet * patch * patch * 3) reconstruction targets of clips (B, T, 3, H, W)
    in [0, 1], in the token and within-patch order of ``VideoMAEForPreTraining``'s logits.

    ``pixels`` is VideoMAE's target (what the model's own loss uses); ``frame_difference``
    replaces each frame by its difference with the previous one (the first frame's is zero), so
    only what moves is to be predicted. ``normalise``: per patch and channel, mean 0 and std 1;
    ``std_floor`` is added to the std, so a patch of camera noise on a flat background is not
    blown up to unit variance (VideoMAE adds 1e-6)."""
    if target == "frame_difference":
        clips = clips - torch.cat([clips[:, :1], clips[:, :-1]], dim=1)
    b, t, c, h, w = clips.shape
    ts, ps = config.tubelet_size, config.patch_size
    patches = clips.reshape(b, t // ts, ts, c, h // ps, ps, w // ps, ps)
    patches = patches.permute(0, 1, 4, 6, 2, 5, 7, 3).reshape(b, -1, ts * ps * ps, c)
    if normalise:
        mean = patches.mean(dim=-2, keepdim=True)
        std = patches.var(dim=-2, unbiased=True, keepdim=True).sqrt()
        patches = (patches - mean) / (std + max(std_floor, 1e-6))
    return patches.reshape(b, patches.shape[1], -1)


def reconstruction_loss(
    model: VideoMAEForPreTraining, clips: torch.Tensor, masks: torch.Tensor, settings: PretrainSettings
) -> torch.Tensor:
    """Mean squared error on the masked tokens; for ``pixels`` (no floor) the model's own loss."""
    device = masks.device
    output = model(_pixels(clips, device), bool_masked_pos=masks)
    if settings.target == "pixels" and not settings.std_floor:
        return output.loss
    with torch.no_grad():
        targets = patch_targets(
            clips.to(device), model.config, settings.target, settings.norm_pix_loss, settings.std_floor
        )
        targets = targets[masks].reshape(len(clips), -1, targets.shape[-1])
    return torch.nn.functional.mse_loss(output.logits.float(), targets)


def _partial_dir(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def _save_state(path: Path, model, optimizer, epoch: int, record: dict) -> None:
    state = {
        "format": STATE_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "record": json.dumps(record),
    }
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def _write_output(output: Path, model: VideoMAEForPreTraining, record: dict) -> None:
    """``save_pretrained`` into a temporary sibling, then one rename: complete or absent."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
    try:
        model.save_pretrained(str(temporary), safe_serialization=True)
        atomic_write_text(temporary / RECORD, json.dumps(record, indent=2))
        os.chmod(temporary, 0o777 & ~_umask())
        os.replace(temporary, output)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _resume(state_path: Path, model, optimizer, record: dict, device: str) -> int:
    """Load a killed run's state into ``model`` and ``optimizer``; returns its finished epochs.
    State written for other settings, another encoder or other videos is an error."""
    if not state_path.is_file():
        return 0
    state = torch.load(state_path, map_location=device, weights_only=True)
    saved = json.loads(state["record"])
    current = json.loads(json.dumps(record))  # tuples as lists, as stored
    changed = [part for part in ("settings", "encoder", "videos") if saved[part] != current[part]]
    if changed:
        raise PretrainingFailed(
            f"{state_path}: a killed pretraining run with other {' and '.join(changed)}; "
            f"delete it (or choose another output) to start afresh"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    record["history"] = saved["history"]
    print(f"resuming pretraining from epoch {state['epoch']} ({state_path})")
    return int(state["epoch"])


def _epoch(
    model: VideoMAEForPreTraining,
    optimizer: torch.optim.Optimizer,
    dataset: PretrainClips,
    settings: PretrainSettings,
    epoch: int,
    per_epoch: int,
    failed: dict[int, str],
) -> tuple[float, int]:
    """One pass over the videos in this epoch's order; returns (mean loss, clips). Videos that
    fail to decode are added to ``failed`` (index -> reason) and their clips left out."""
    model.train()
    dataset.set_epoch(epoch)
    device = settings.device
    grid = token_grid(model.config)
    order = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)
    loader = DataLoader(
        dataset,
        batch_size=settings.batch_size // settings.clips_per_video,
        sampler=RandomSampler(dataset, generator=order),
        num_workers=0 if settings.keep_decoded else settings.workers,
        collate_fn=collate,
    )
    autocast = torch.autocast(
        device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"
    )
    losses: list[float] = []
    clips_seen = 0
    bar = tqdm(
        loader, desc=f"pretrain {epoch + 1}/{settings.epochs}", unit="step", disable=not settings.progress
    )
    for local, (clips, _indices, failures) in enumerate(bar):
        for index, reason in failures:
            failed.setdefault(index, reason)
        if clips is None:
            continue
        lr = learning_rate(settings, epoch * per_epoch + local, per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        masks = batch_masks(
            len(clips), grid, settings.mask_ratio, settings.seed, epoch, local, settings.masking
        ).to(device)
        with autocast:
            loss = reconstruction_loss(model, clips, masks, settings)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad)
        optimizer.step()
        losses.append(float(loss.detach()))
        clips_seen += len(clips)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}")
    bar.close()
    return sum(losses) / max(1, len(losses)), clips_seen


def pretrain(
    settings: PretrainSettings | Mapping[str, Any],
    encoder: Mapping[str, Any],
    videos: str | Path | Iterable[str | Path],
    output: str | Path,
    describe: Mapping[str, Any] | None = None,
) -> PretrainResult:
    """Pretrain into ``output`` (resuming ``<output>.partial`` if a previous attempt was killed).

    ``videos``: folders (searched recursively) and/or files, trained on in the order given (a
    folder's files sorted by path). ``describe`` is stored in the output's record (e.g. the cache
    key's content). Raises if ``output`` exists, if no video is usable, and if the resumable
    state was written by other settings."""
    settings = settings if isinstance(settings, PretrainSettings) else PretrainSettings.from_mapping(settings)
    output = Path(output)
    if output.exists():
        raise FileExistsError(f"{output} exists already; pretraining never overwrites a backbone")
    with _threads(settings.threads):
        return _pretrain(settings, encoder, videos, output, describe)


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """PyTorch's CPU thread count set for a block, then restored (a detector trained after a
    ``self_pretrain`` keeps its own). On a busy 2-core machine two threads spin against other
    processes: measured 7x slower than one (BENCHMARKS.md)."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _pretrain(
    settings: PretrainSettings,
    encoder: Mapping[str, Any],
    videos: str | Path | Iterable[str | Path],
    output: Path,
    describe: Mapping[str, Any] | None,
) -> PretrainResult:
    listed = find_videos(videos)
    usable, unreadable = check_videos(listed, settings.progress)
    if not usable:
        details = "\n".join(f"  {video}: {reason}" for video, reason in unreadable)
        raise PretrainingFailed(f"none of the {len(listed)} video(s) can be decoded:\n{details}")

    config = model_config(settings, encoder)
    spec = ClipSpec(
        num_frames=config.num_frames,
        image_size=config.image_size,
        frame_stride=settings.frame_stride,
        clips_per_video=settings.clips_per_video,
        scales=settings.scales,
        hflip=settings.hflip,
    )
    dataset = PretrainClips(usable, spec, seed=settings.seed, keep_decoded=settings.keep_decoded)
    per_epoch = steps_per_epoch(len(usable), settings.batch_size // settings.clips_per_video)
    model = build_model(settings, encoder).to(settings.device)
    optimizer = torch.optim.AdamW(parameter_groups(model, settings.weight_decay), betas=settings.betas)
    record: dict[str, Any] = {
        "settings": settings.recipe(),
        "encoder": dict(encoder),
        "videos": [str(v) for v in usable],
        "describe": dict(describe or {}),
        "history": [],
    }
    state_path = _partial_dir(output) / "state.pt"
    start = _resume(state_path, model, optimizer, record, settings.device)

    failed: dict[int, str] = {}
    if settings.keep_decoded:
        failed.update(predecode(dataset, settings.workers, settings.progress))
    started, clips = time.perf_counter(), 0
    for epoch in range(start, settings.epochs):
        loss, seen = _epoch(model, optimizer, dataset, settings, epoch, per_epoch, failed)
        clips += seen
        record["history"].append({"epoch": epoch + 1, "loss": loss})
        _save_state(state_path, model, optimizer, epoch + 1, record)

    failures = unreadable + [(str(usable[i]), reason) for i, reason in sorted(failed.items())]
    if len(failed) == len(usable):
        raise PretrainingFailed(
            "every video failed to decode:\n" + "\n".join(f"  {v}: {r}" for v, r in failures)
        )
    record["failures"] = failures
    _write_output(output, model, record)
    shutil.rmtree(_partial_dir(output), ignore_errors=True)
    return PretrainResult(output, record["history"], failures, time.perf_counter() - started, clips)
