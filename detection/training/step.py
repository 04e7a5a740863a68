"""One optimisation step of the detector: the loss as a module, the optimizer, and the update.

The loss is computed inside a module's ``forward`` (:class:`TrainingStep`) because
DistributedDataParallel synchronises gradients only for what runs through the wrapped
module's ``forward``. Gradients of ``accumulate`` batches are averaged before each update.
"""

from __future__ import annotations

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


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no decay on biases, norms and scalar gates."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )


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
