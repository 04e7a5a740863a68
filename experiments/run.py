"""The one entry point: ``python experiments/run.py task=mmad [overrides...]``.

Hydra composes the config from ``configs/`` (one group per choice: task, data, model,
adapter, trainer, logger, experiment), creates the run directory, and this script hands
the resolved config to the task's entry function (``task.entry._target_``).

Several GPUs (or CPU processes): ``torchrun --nproc_per_node=N experiments/run.py task=mmad ...``.
Rank 0 owns the run directory and the logger; the other ranks get a throwaway Hydra folder
and a logger that writes nothing (``engine.distributed``).
"""

from __future__ import annotations

import os

# No network at run time: never let transformers or the hub try to download anything.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")  # no crash reports to a server

from engine.numerics import pin_cpu_numerics  # noqa: E402  (imports no torch: the caps come first)

pin_cpu_numerics()  # the same kernels on every x86-64 CPU, so one seed gives one result

import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from engine import distributed  # noqa: E402
from engine.seeding import (  # noqa: E402
    describe_environment,
    make_deterministic,
    refuse_flush_change,
)
from perception.atomic import atomic_write_text  # noqa: E402


def _forked_children_die_on_sigterm() -> None:
    """Under submitit (hydra/launcher=local|slurm) the job process ignores SIGTERM, and forked
    children inherit that: leaving ``with multiprocessing.Pool()`` sends SIGTERM to the workers and
    waits for them forever. Children get the default handler back; the job itself keeps submitit's."""
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig):
    if os.environ.get("SUBMITIT_EXECUTOR"):  # set by submitit in every job it starts
        _forked_children_die_on_sigterm()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    # Under torchrun, ranks above 0 write nothing: rank 0 logs for the whole run.
    null_logger = {"_target_": "experiments.loggers.NullLogger"}
    logger_cfg = cfg.logger if distributed.launched_rank() == 0 else null_logger
    # Not recursive: run_config holds the whole config, whose `_target_` nodes (the model, the
    # task entry) must be recorded as written, not built a second time inside the logger.
    logger = instantiate(
        logger_cfg,
        _recursive_=False,
        _convert_="all",
        run_config=OmegaConf.to_container(cfg, resolve=True),
        run_dir=str(run_dir),
    )
    refuse_flush_change(cfg.get("flush_denormal", True))  # a multirun's jobs share one process
    environment = make_deterministic(
        cfg.get("deterministic", True), cfg.get("threads"), cfg.get("flush_denormal", True)
    )
    if distributed.launched_rank() == 0:
        atomic_write_text(
            run_dir / "environment.json", json.dumps(describe_environment(environment), indent=2)
        )
    with logger:
        entry = instantiate(cfg.task.entry)
        return entry(cfg, run_dir=run_dir, logger=logger)


if __name__ == "__main__":
    sys.argv = distributed.secondary_rank_argv(sys.argv)
    main()
