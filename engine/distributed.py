"""Multi-process training with ``torchrun``: process-group set-up and the few collectives the
pipeline needs.

``torchrun --nproc_per_node=N experiments/run.py task=mmad ...`` starts N copies of the entry
point with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set. Each copy trains on its shard of
every epoch (``DistributedSampler``), DistributedDataParallel averages the gradients, the
test split is predicted in shards and gathered on rank 0, and only rank 0 writes files and
talks to W&B. Without torchrun (no ``WORLD_SIZE``, or 1) every function here is a no-op, so
the single-process path needs no special casing.

The backend is NCCL when training on CUDA, gloo otherwise (CPU, and the tests).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist


def launched_world_size() -> int:
    """How many processes torchrun started (1 when launched plainly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """True on rank 0 (and when not distributed): the one process that writes and logs."""
    return rank() == 0


def setup(device: str) -> str:
    """Join the process group torchrun prepared; returns the device this rank trains on.

    With ``device=cuda`` each rank takes GPU ``LOCAL_RANK``. Called once per process; a
    second call (several runs in one process, as tests do) keeps the existing group.
    """
    if launched_world_size() <= 1:
        return device
    on_cuda = device.startswith("cuda")
    if on_cuda:
        if not torch.cuda.is_available():
            raise RuntimeError("trainer.device=cuda but this machine has no CUDA device")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (generating data, filling the cue cache), the others
    after it, when they find everything done: no two processes write the same file."""
    if not is_main_process():
        barrier()
    try:
        yield
    finally:
        if is_main_process():
            barrier()


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over all ranks (a copy; ``value`` itself is left alone)."""
    if not is_distributed():
        return value
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def all_reduce_mean(values: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Per-key means over ranks of plain numbers (losses to log)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    stacked = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    stacked /= dist.get_world_size()
    return dict(zip(keys, stacked.tolist(), strict=True))


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` when not distributed)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard_indices(length: int) -> list[int]:
    """This rank's share of ``length`` items for evaluation: every ``world_size``-th item, no
    padding, so gathering the shards gives each item exactly once."""
    return list(range(rank(), length, world_size()))


def secondary_rank_argv(argv: Sequence[str]) -> list[str]:
    """Hydra overrides for ranks above 0: a throwaway run directory and no ``.hydra`` copy.

    Every torchrun process composes the config and Hydra creates its run directory before
    any code of ours runs; with the default ``outputs/<task>/<time>`` pattern ranks started a
    second apart would make two folders. Rank 0's directory is the run's (the pipeline
    broadcasts it); the others run in a temporary one that stays empty.
    """
    if launched_world_size() <= 1 or launched_rank() == 0:
        return list(argv)
    scratch = tempfile.mkdtemp(prefix=f"microactions_rank{launched_rank()}_")
    kept = [a for a in argv if not a.startswith(("hydra.run.dir=", "hydra.output_subdir="))]
    return [*kept, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"]
