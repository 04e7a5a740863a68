"""What a VideoMAE pretraining run does, as one frozen record.

The defaults are VideoMAE's recipe (Tong et al., NeurIPS 2022; its ``run_mae_pretraining.py``):
tube masking at 90%, targets normalised per patch, AdamW with betas (0.9, 0.95) and weight decay
0.05, a learning rate given per 256 clips (scaled linearly with the batch), linear warm-up then
cosine decay to ``min_lr``, multi-scale crops, a 4-block decoder half as wide as the encoder.
What differs: epochs and warm-up are short (VideoMAE runs 800-2400 epochs on a cluster), the
sampling stride follows the dataset, and ``clips_per_video`` cuts several clips from one decoded
video (VideoMAE v2's repeated sampling), which matters when decoding costs more than training.

Fields split in two: the *recipe* (everything that changes the weights, hashed into the cache key
of :mod:`perception.pretrain.cache`) and the *runtime* (device, workers, whether decoded frames are
kept in memory), which changes how fast the same weights come out, not which. The device is in the
runtime half so a backbone pretrained on a GPU is reused on a CPU; numerics differ in the last bits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perception.pretrain.data import MASKS

RUNTIME_FIELDS = ("device", "workers", "keep_decoded", "progress", "threads")
PRECISIONS = ("fp32", "bf16")
TARGETS = ("pixels", "frame_difference")
MASKINGS = tuple(MASKS)  # named once, where each masking is drawn


@dataclass(frozen=True)
class PretrainSettings:
    epochs: int = 800
    batch_size: int = 32  # clips per optimizer step
    lr: float = 1.5e-4  # per 256 clips: the step size is lr * batch_size / 256, as VideoMAE
    min_lr: float = 1e-5  # per 256 clips, end of the cosine
    warmup_epochs: float = 40.0
    weight_decay: float = 0.05  # not on biases, norms and the mask token (VideoMAE / timm)
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = None
    mask_ratio: float = 0.9  # fraction hidden: of the spatial grid (tube) or of all tokens (random)
    masking: str = "tube"  # tube: the same cells hidden in every time slice (VideoMAE) | random: any tokens
    norm_pix_loss: bool = True  # targets normalised per patch (mean 0, std 1), as VideoMAE
    target: str = "pixels"  # pixels (VideoMAE) | frame_difference (each frame minus the one before)
    std_floor: float = (
        0.0  # with norm_pix_loss: divide by (patch std + floor), so flat noisy patches stay small
    )
    decoder_hidden_size: int | None = None  # None: half the encoder's width (VideoMAE-S: 192)
    decoder_layers: int = 4
    decoder_heads: int | None = None  # None: decoder width / 64, at least 1 (VideoMAE-S: 3)
    frame_stride: int = 4  # VideoMAE's sampling rate: every 4th frame of the video
    clips_per_video: int = 1  # clips cut from one decoded video per epoch
    scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)  # multi-scale crop, side fraction
    hflip: float = 0.0  # probability of mirroring a clip (VideoMAE pretraining: none)
    precision: str = "fp32"  # fp32 | bf16 (autocast; master weights stay fp32)
    seed: int = 0
    # runtime: how fast, not which weights
    device: str = "cpu"
    workers: int = 2  # decoding processes (0: in this process)
    keep_decoded: bool = False  # keep decoded videos in memory across epochs (small sets only)
    threads: int | None = None  # PyTorch CPU threads (None: its default); 1 on a shared small CPU
    progress: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if not 0.0 < self.mask_ratio < 1.0:
            problems.append(f"mask_ratio must be in (0, 1), got {self.mask_ratio}")
        if self.batch_size < 1 or self.clips_per_video < 1 or self.batch_size % self.clips_per_video:
            problems.append(
                f"batch_size ({self.batch_size}) must be a positive multiple of clips_per_video "
                f"({self.clips_per_video})"
            )
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.masking not in MASKINGS:
            problems.append(f"masking must be one of {MASKINGS}, got {self.masking!r}")
        if self.target not in TARGETS:
            problems.append(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.frame_stride < 1:
            problems.append(f"frame_stride must be >= 1, got {self.frame_stride}")
        if not self.scales or not all(0.0 < s <= 1.0 for s in self.scales):
            problems.append(f"scales must be fractions in (0, 1], got {self.scales}")
        if problems:
            raise ValueError("pretraining settings: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> PretrainSettings:
        """Settings from a config mapping; an unknown key is an error naming the known ones."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown pretraining setting(s) {unknown}; known: {sorted(known)}")
        for name in ("betas", "scales"):
            if name in values and values[name] is not None:
                values[name] = tuple(float(v) for v in values[name])
        return cls(**values)

    def recipe(self) -> dict[str, Any]:
        """Every field that changes the pretrained weights (the cache key's settings part)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in RUNTIME_FIELDS
        }

    def step_lr(self) -> tuple[float, float]:
        """(peak, final) learning rate for this batch size (VideoMAE's linear scaling rule)."""
        scale = self.batch_size / 256.0
        return self.lr * scale, self.min_lr * scale

    def decoder(self, encoder_width: int) -> dict[str, int]:
        """The decoder fields of a ``VideoMAEConfig``."""
        width = self.decoder_hidden_size or max(1, encoder_width // 2)
        heads = self.decoder_heads or max(1, width // 64)
        if width % heads:
            raise ValueError(f"decoder_hidden_size {width} is not divisible by decoder_heads {heads}")
        return {
            "decoder_hidden_size": width,
            "decoder_num_hidden_layers": self.decoder_layers,
            "decoder_num_attention_heads": heads,
            "decoder_intermediate_size": 4 * width,
        }
