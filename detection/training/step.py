"""One optimisation step of the detector: the loss as a module, the optimizer, and the update.

The loss is computed inside a module's ``forward`` (:class:`TrainingStep`) because
DistributedDataParallel synchronises gradients only for what runs through the wrapped
module's ``forward``. Gradients of ``accumulate`` batches are averaged before each update.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from detection.model.detector import MicroActionDetector


class TrainingStep(torch.nn.Module):
    """The detector's loss as a module's ``forward`` (what DDP wraps)."""

    def __init__(self, detector: MicroActionDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, inputs, feature_mask, segments, labels) -> dict[str, torch.Tensor]:
        return self.detector.loss(inputs, feature_mask, segments, labels)

    @property
    def cue_specs(self) -> dict:
        """The cues every batch must carry (the loop's collate builds them)."""
        return self.detector.cue_specs

    def auxiliary_state(self) -> dict[str, torch.Tensor]:
        """What the step trains besides the detector (none here; a distillation step's
        projection), saved with the detector so a resumed run continues exactly."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("detector.")}

    def load_auxiliary_state(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("detector.")]
        if missing or unexpected:
            raise KeyError(f"training-step state does not fit: missing {missing}, unexpected {unexpected}")


PARAMETER_GROUPS = ("backbone", "adapters", "head")


def parameter_group(name: str) -> str:
    """Which learning-rate group a detector parameter belongs to: the RGB backbone's own weights,
    its adapters, or everything else (cue encoders, fusion, pyramid, head: ``head``; a training
    step's own parameters, such as a distillation projection, too)."""
    name = name.removeprefix("detector.")  # named from a TrainingStep around the detector
    if name.startswith("streams.rgb."):
        return "adapters" if ".adapters." in name else "backbone"
    return "head"


def build_optimizer(
    model: torch.nn.Module,
    lr: float,
    weight_decay: float,
    group_lrs: Mapping[str, float | None] | None = None,
) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no decay on biases, norms and scalar gates.

    ``group_lrs`` gives each :data:`PARAMETER_GROUPS` entry its own learning rate, as AdaTAD
    trains (head 1e-4, adapters 2e-4 to 4e-4, a fully fine-tuned backbone 1e-5); a group that is
    missing or null takes ``lr``. The schedule scales every group's rate alike."""
    unknown = set(group_lrs or {}) - set(PARAMETER_GROUPS)
    if unknown:
        raise ValueError(f"unknown parameter groups {sorted(unknown)}; valid: {', '.join(PARAMETER_GROUPS)}")
    groups: dict[tuple[str, bool], dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        group, decay = parameter_group(name), parameter.dim() >= 2
        rate = (group_lrs or {}).get(group)
        entry = groups.setdefault(
            (group, decay),
            {
                "params": [],
                "lr": lr if rate is None else float(rate),
                "weight_decay": weight_decay if decay else 0.0,
                "group": group,
            },
        )
        entry["params"].append(parameter)
    return torch.optim.AdamW(list(groups.values()), lr=lr)


def apply_update(
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    parameters: list[torch.nn.Parameter],
    grad_clip: float,
) -> torch.Tensor:
    """Clip the true (unscaled) gradient, step, advance the schedule; returns the gradient norm."""
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm
