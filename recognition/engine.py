"""The plain PyTorch pieces of recognition training and inference: one optimisation step,
prediction over a loader, and the official recipe's SGD parameter groups.

Both models share one interface: ``model(frames, landmarks)`` returns a dict with
``logits`` (and MANet an ``embedding``), ``model.loss(outputs, labels)`` a dict whose
``loss`` entry is optimised and whose other entries are logged. The epoch loop, schedule,
checkpoints, resume and DDP are in :mod:`recognition.training`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


def _to(batch: dict, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    frames = batch["frames"].to(device, non_blocking=True)
    landmarks = batch.get("landmarks")
    landmarks = landmarks.to(device, non_blocking=True) if landmarks is not None else None
    labels = torch.as_tensor(batch["label"]).to(device)
    return frames, landmarks, labels


def train_step(
    model: nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    grad_clip: float | None = 20.0,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Forward, loss dict, backward, gradient-norm clipping (official: 20), step.

    ``model`` may be wrapped in DistributedDataParallel: the forward pass goes through the
    wrapper (so gradients are averaged over ranks), the loss is the wrapped model's.
    Returns the loss entries as floats plus ``grad_norm`` (before clipping)."""
    model.train()
    frames, landmarks, labels = _to(batch, device)
    outputs = model(frames, landmarks)
    losses = getattr(model, "module", model).loss(outputs, labels)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    parameters = [p for p in model.parameters() if p.grad is not None]
    max_norm = grad_clip if grad_clip is not None else float("inf")
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    optimizer.step()
    return {name: float(value.detach()) for name, value in losses.items()} | {"grad_norm": float(norm)}


@dataclass
class Predictions:
    """Per-clip outputs of :func:`predict`, in loader order."""

    files: list[str]
    labels: np.ndarray  # (N,) as given by the list (0 everywhere for hidden test labels)
    probabilities: np.ndarray  # (N, classes) softmax of the logits
    embeddings: np.ndarray | None  # (N, 300) MANet's embedding branch; None for other models


@torch.no_grad()
def predict(
    model: nn.Module, loader: Iterable[dict], device: torch.device | str = "cpu", progress: bool = True
) -> Predictions:
    """Class probabilities (and embeddings) of every clip, in eval mode (one centre crop,
    as the loader's transform gives)."""
    model.eval()
    files: list[str] = []
    labels, probabilities, embeddings = [], [], []
    for batch in tqdm(loader, desc="predicting", unit="batch", disable=not progress, leave=False):
        frames, landmarks, target = _to(batch, device)
        outputs = model(frames, landmarks)
        probabilities.append(torch.softmax(outputs["logits"].float(), dim=-1).cpu())
        if "embedding" in outputs:
            embeddings.append(outputs["embedding"].float().cpu())
        labels.append(target.cpu())
        files.extend(batch["file"])
    if not files:
        raise ValueError("the loader yielded no clips")
    return Predictions(
        files,
        torch.cat(labels).numpy(),
        torch.cat(probabilities).numpy(),
        torch.cat(embeddings).numpy() if embeddings else None,
    )


def tsm_param_groups(
    model: nn.Module, lr: float, weight_decay: float = 1e-4, fc_lr5: bool = True
) -> list[dict]:
    """SGD parameter groups of mmaction2's ``TSMOptimizerConstructor`` (the official recipe):

    - the first conv's weight: lr, weight decay; every other conv / linear weight: lr, decay;
    - every conv / linear bias: 2 x lr, no decay; batch-norm weights and biases: lr, no decay;
    - with ``fc_lr5``, the *last registered* ``nn.Linear`` gets 5 x lr (weight, with decay) and
      10 x lr (bias, no decay). In MANet that is ``fc_emb_t``, the embedding branch's output,
      because the head registers ``fc_cls`` first: the rule is kept as the official code has it.
    - anything else that trains (position embeddings, transformer norms): lr, no decay.
    """
    convs = [m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    norms = [m for m in model.modules() if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm))]
    last_fc = linears[-1] if fc_lr5 and linears else None
    groups: dict[str, list[nn.Parameter]] = {
        "weight": [],
        "bias": [],
        "norm": [],
        "fc_weight": [],
        "fc_bias": [],
    }
    for module in convs + linears:
        key = "fc_" if module is last_fc else ""
        groups[key + "weight"].append(module.weight)
        if module.bias is not None:
            groups[key + "bias"].append(module.bias)
    for module in norms:
        groups["norm"].extend(p for p in module.parameters(recurse=False))
    assigned = {id(p) for params in groups.values() for p in params}
    other = [p for p in model.parameters() if p.requires_grad and id(p) not in assigned]
    settings = {
        "weight": (lr, weight_decay),
        "bias": (2 * lr, 0.0),
        "norm": (lr, 0.0),
        "fc_weight": (5 * lr, weight_decay),
        "fc_bias": (10 * lr, 0.0),
    }
    out = [
        {
            "params": [p for p in params if p.requires_grad],
            "lr": settings[name][0],
            "weight_decay": settings[name][1],
        }
        for name, params in groups.items()
        if params
    ]
    if other:
        out.append({"params": other, "lr": lr, "weight_decay": 0.0})
    return out
