"""Learning-rate schedules and the grouping of batches into optimizer steps."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Factor on the base learning rate: linear warm-up over ``warmup_steps``, then a cosine
    decay to 0 at ``total_steps`` (for ``torch.optim.lr_scheduler.LambdaLR``)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def accumulation_groups(num_batches: int, accumulate: int) -> list[int]:
    """Sizes of the consecutive groups of batches summed into one optimizer step each: full
    groups of ``accumulate``, then what is left of the epoch (no group crosses an epoch, so a
    checkpoint never holds half-accumulated gradients)."""
    if accumulate < 1:
        raise ValueError(f"accumulate must be at least 1, got {accumulate}")
    return [min(accumulate, num_batches - start) for start in range(0, num_batches, accumulate)]
