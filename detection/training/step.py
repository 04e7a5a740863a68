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
