"""Where a run's dataset lives, generating the embedded synthetic dataset when asked to."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf


def prepare_data(data_cfg: DictConfig) -> Path:
    """The dataset root; generates the synthetic dataset first when the config asks for it
    (generation is skipped when the folder already holds the same configuration)."""
    root = Path(to_absolute_path(data_cfg.root))
    if data_cfg.get("synthetic"):
        from perception.synthetic import SyntheticConfig, generate

        options = OmegaConf.to_container(data_cfg.synthetic, resolve=True)
        options["classes"] = tuple(options["classes"]) if options.get("classes") else None
        if options["classes"] is None:
            options.pop("classes")
        generate(SyntheticConfig(root=root, **options))
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset root not found: {root} (set data.root=PATH to an MMA-52-layout folder)"
        )
    return root
