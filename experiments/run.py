"""The one entry point: ``python experiments/run.py task=mmad [overrides...]``.

Hydra composes the config from ``configs/`` (one group per choice: task, data, model,
adapter, trainer, logger, experiment), creates the run directory, and this script hands
the resolved config to the task's entry function (``task.entry._target_``).
"""

from __future__ import annotations

import os

# No network at run time: never let transformers or the hub try to download anything.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")  # no crash reports to a server

from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig):
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    logger = instantiate(
        cfg.logger,
        _convert_="all",
        run_config=OmegaConf.to_container(cfg, resolve=True),
        run_dir=str(run_dir),
    )
    with logger:
        entry = instantiate(cfg.task.entry)
        return entry(cfg, run_dir=run_dir, logger=logger)


if __name__ == "__main__":
    main()
