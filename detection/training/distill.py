"""Feature distillation: a fused RGB+flow+skeleton detector (the teacher) teaches an RGB-only
detector (the student), so prediction needs no optical flow and no MediaPipe.

The MMAD work's micro-action-specific distillation transfers what the motion cues know into
the appearance stream. Here the student is the same detector class built with ``cues=rgb``;
it trains on the ground truth as usual plus two terms against the frozen teacher, at every
temporal position of every pyramid level (the teacher runs on the same, identically
augmented clip):

- **features**: mean squared error between the student's pyramid (neck) features, through a
  learned 1x1 projection when the widths differ, and the teacher's (with late fusion, its
  branches' features side by side along the channels);
- **scores**: the Bernoulli KL divergence between the teacher's and the student's per-class
  sigmoid scores at temperature ``T`` (summed over classes, times ``T**2`` so the gradient's
  scale does not shrink with ``T``). KL rather than BCE against the soft target, so the term
  is zero exactly when the scores agree.

Both terms are averaged over real (unpadded) positions only. The loop is the detector's own
(``detection.training.loop.train``) with a :class:`DistillStep` as its loss; the projection
is saved with the checkpoint's training state (key ``step``) so a resumed run continues
exactly, but it is not part of the student, whose weights load as any ``cues=rgb`` detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from detection.model.detector import MicroActionDetector, Pyramid
from detection.training.step import TrainingStep


@dataclass
class DistillConfig:
    """The ``distill`` config group's loss weights (``configs/distill/default.yaml``)."""

    feature_weight: float = 1.0  # MSE between pyramid features
    score_weight: float = 1.0  # KL between per-class sigmoid scores
    detection_weight: float = 1.0  # the student's own focal + DIoU loss on the ground truth
    temperature: float = 2.0  # softens both score distributions before the KL

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"distill.temperature must be positive, got {self.temperature}")
        for name in ("feature_weight", "score_weight", "detection_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"distill.{name} must be non-negative, got {getattr(self, name)}")


class TeacherMismatch(ValueError):
    """Teacher and student cannot be compared step by step; the message says what differs."""


def check_compatible(student: MicroActionDetector, teacher: MicroActionDetector) -> None:
    """Distillation matches position by position, so both must see the same time axis."""
    for name in ("step_frames", "levels", "num_classes", "image_size", "regression_ranges"):
        mine, theirs = getattr(student, name), getattr(teacher, name)
        if mine != theirs:
            raise TeacherMismatch(
                f"student and teacher differ in {name} ({mine} vs {theirs}); build the student "
                "with the teacher's model settings (same backbone tubelet, input size and pyramid)"
            )
    missing = [cue for cue in student.cues if cue not in teacher.cues]
    if missing:
        raise TeacherMismatch(f"the teacher has no {missing} input, so it cannot see what the student sees")


def stacked_features(pyramids: dict[str, Pyramid]) -> list[torch.Tensor]:
    """Per level, every branch's features side by side along the channels."""
    per_branch = [feats for feats, _ in pyramids.values()]
    return [torch.cat(level, dim=1) for level in zip(*per_branch, strict=True)]


def feature_loss(
    student: list[torch.Tensor], teacher: list[torch.Tensor], masks: list[torch.Tensor]
) -> torch.Tensor:
    """Mean squared error per real position and channel, averaged over levels."""
    losses = []
    for s, t, m in zip(student, teacher, masks, strict=True):
        squared = ((s.float() - t.float()) ** 2 * m).sum()
        losses.append(squared / (m.sum() * s.shape[1]).clamp(min=1.0))
    return torch.stack(losses).mean()


def score_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(teacher || student) of independent Bernoulli scores at ``temperature``, summed
    over classes, averaged over the valid points ``valid`` (B, P); logits are (B, P, C)."""
    s, t = student_logits[valid].float() / temperature, teacher_logits[valid].float() / temperature
    target = torch.sigmoid(t)
    # cross-entropy minus the teacher's own entropy: zero when the scores agree
    kl = F.binary_cross_entropy_with_logits(s, target, reduction="none") - F.binary_cross_entropy_with_logits(
        t, target, reduction="none"
    )
    return kl.sum() / valid.sum().clamp(min=1) * temperature**2


class DistillStep(TrainingStep):
    """The student's loss against the ground truth and a frozen teacher (what the loop runs)."""

    def __init__(self, student: MicroActionDetector, teacher: MicroActionDetector, config: DistillConfig):
        super().__init__(student)
        check_compatible(student, teacher)
        self.config = config
        # Held outside the module tree: not in the state dict, the optimizer, DDP or `.train()`.
        self._teacher = (teacher.eval().requires_grad_(False),)
        student_width, teacher_width = (
            student.dim * len(student.pyramids),
            teacher.dim * len(teacher.pyramids),
        )
        self.projection: nn.Module = (
            nn.Identity() if student_width == teacher_width else nn.Conv1d(student_width, teacher_width, 1)
        )

    @property
    def teacher(self) -> MicroActionDetector:
        return self._teacher[0]

    @property
    def cue_specs(self) -> dict:
        """The teacher's cues (RGB among them): the batches feed both models."""
        return self.teacher.cue_specs

    def _apply(self, fn, *args, **kwargs):  # .to(device) moves the teacher too
        self.teacher._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def forward(self, inputs, feature_mask, segments, labels) -> dict[str, torch.Tensor]:
        student = self.detector
        pyramids = student.pyramid_features({c: inputs[c] for c in student.cues}, feature_mask)
        outputs, points, valid = student.head_outputs(pyramids)
        losses = student.detection_loss(outputs, points, valid, segments, labels)
        with torch.no_grad():
            teacher_pyramids = self.teacher.pyramid_features(inputs, feature_mask)
            teacher_outputs, _, _ = self.teacher.head_outputs(teacher_pyramids)
            teacher_logits = torch.cat(self.teacher.combine(teacher_outputs)[0], dim=1)
        masks = next(iter(pyramids.values()))[1]
        projected = [self.projection(f) for f in stacked_features(pyramids)]
        features = feature_loss(projected, stacked_features(teacher_pyramids), masks)
        logits = torch.cat(student.combine(outputs)[0], dim=1)
        scores = score_loss(logits, teacher_logits, valid, self.config.temperature)
        total = (
            self.config.detection_weight * losses["loss"]
            + self.config.feature_weight * features
            + self.config.score_weight * scores
        )
        return {
            **losses,
            "loss": total,
            "detection_loss": losses["loss"].detach(),
            "feature_loss": features.detach(),
            "score_loss": scores.detach(),
        }
