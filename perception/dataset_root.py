"""Where a run's dataset lives, generating the embedded synthetic dataset when asked to.

One function for every dataset node of the configs (``data`` for MMAD, ``emotion`` for the
emotion set): a node has a ``root`` and, for the embedded synthetic sets, a ``synthetic``
node built with ``_target_`` (``perception.synthetic.SyntheticConfig`` for MMA-52 videos,
``SyntheticMA52Config`` for MA-52 trimmed clips).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig


def prepare_data(data_cfg: DictConfig) -> Path:
    """The dataset root; generates the synthetic dataset first when the config asks for it
    (generation is skipped when the folder already holds the same configuration)."""
    root = Path(to_absolute_path(data_cfg.root))
    if data_cfg.get("synthetic"):
        from perception.synthetic import SyntheticMA52Config, generate, generate_ma52

        config = instantiate(data_cfg.synthetic, root=root)
        (generate_ma52 if isinstance(config, SyntheticMA52Config) else generate)(config)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found: {root} (set data.root=PATH to the dataset folder)")
    return root


def extra_train_roots(data_cfg: DictConfig) -> list[Path]:
    """``data.extra_train``'s folders as absolute paths (relative ones from the launch folder),
    the list every task that trains on them reads: detection's training split and
    ``task=pretrain``'s default videos, so both see the same folders."""
    return [Path(to_absolute_path(str(folder))) for folder in data_cfg.get("extra_train") or ()]


def refuse_repeated_roots(root: Path, extra_roots: Sequence[Path]) -> None:
    """Stop when an extra folder is listed twice or is ``root`` itself: its videos would be
    trained on twice per epoch, which no one means."""
    seen = {root.resolve()}
    for extra in extra_roots:
        resolved = extra.resolve()
        if resolved in seen:
            raise ValueError(f"data.extra_train: {extra} is listed twice (or is data.root itself)")
        seen.add(resolved)
