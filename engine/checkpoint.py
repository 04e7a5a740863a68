"""Checkpoints that survive a kill at any moment and load without executing pickled code.

Written atomically (temp file + rename) so a run killed mid-save keeps its previous
checkpoint; loaded with ``weights_only=True`` so a checkpoint from elsewhere cannot run
code. Each checkpoint records the resolved config and the taxonomy it was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from perception.atomic import atomic_path
from perception.taxonomy import ACTIONS


def taxonomy_signature() -> list[list]:
    """The label space as plain data, stored in checkpoints to detect mismatches."""
    return [[a.index, a.code, a.name, a.body.index] for a in ACTIONS]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    state = {**state, "taxonomy": taxonomy_signature()}
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise RuntimeError(f"{path}: not a loadable checkpoint ({error})") from error
    if state.get("taxonomy") != taxonomy_signature():
        raise ValueError(f"{path}: trained with a different micro-action taxonomy than this platform's")
    return state
