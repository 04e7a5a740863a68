"""Seeding every random number generator a run draws from, and deterministic kernels.

What makes two runs of one seed differ, and what this platform does about each (issue 15):

- instruction-set-dependent CPU kernels: capped at AVX2 before torch starts (``engine.numerics``);
- the number of intra-op threads: pinned (``threads`` in the root config; the same numbers came
  out with 1 and 2 threads on this machine, but nothing promises that for every op);
- kernels with no deterministic implementation: ``torch.use_deterministic_algorithms`` (with
  warnings rather than errors for the few CPU ops that have none) and cuDNN's deterministic,
  non-benchmarking mode on GPUs;
- data order and augmentation: generators keyed by (seed, epoch) (``engine.sampler``); decoding
  threads return videos in order; caches are keyed by content and every setting.

What cannot be pinned: results across PyTorch / library versions, and between CPU and GPU.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Python's, NumPy's global and PyTorch's generators (data orders and augmentation use
    generators of their own, keyed by seed and epoch, so they do not depend on this)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


_FLUSH_IN_PROCESS: list[bool] = []  # the first run's flush_denormal in this process


def refuse_flush_change(flush_denormal: bool) -> None:
    """Stop a run that asks for other denormal flushing than an earlier run in the same process.

    Hydra's basic launcher runs every job of a multirun in one process, and the flag set for the
    first job is the one PyTorch's worker threads keep (they copy the floating-point mode of the
    thread that starts them), so a later job with another ``flush_denormal`` would run half
    flushed and record a setting only its main thread follows."""
    wanted = bool(flush_denormal)
    if _FLUSH_IN_PROCESS and _FLUSH_IN_PROCESS[0] != wanted:
        raise ValueError(
            f"flush_denormal={wanted} in a process whose first run used flush_denormal="
            f"{_FLUSH_IN_PROCESS[0]}: PyTorch's worker threads keep the first setting. Run the "
            "two settings as separate commands (or a multirun per setting)."
        )
    if not _FLUSH_IN_PROCESS:
        _FLUSH_IN_PROCESS.append(wanted)


def make_deterministic(
    enabled: bool = True, threads: int | None = None, flush_denormal: bool = True
) -> dict[str, object]:
    """Deterministic kernels (``enabled``), a fixed number of intra-op threads (``threads``,
    None keeps PyTorch's choice) and denormal floats flushed to zero on CPU (``flush_denormal``);
    returns what is in force, for the run's records.

    Why flush: once a fine-tuned VideoMAE's attention grows peaked, many softmax weights and
    their gradients fall below 1.2e-38, where x86 CPUs take a slow microcode path per number.
    Measured on the 2-core VM: a fine-tuned tiny backbone with 8-px patches took 0.40 s per
    forward and backward without flushing, 0.17 s with it (as long as a fresh one), and its
    training epochs slowed from 61 s to 137 s unflushed, 37-60 s flushed (BENCHMARKS.md).
    Numbers that small carry nothing a detector needs. The setting does not touch GPU
    arithmetic, which handles denormals in hardware.
    Call this before any tensor work: switched on later in a process, flushing did not reach
    PyTorch's worker threads (``benchmarks/bench_denormal.py``)."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or null, got {threads}")
    # first, before anything starts threads; False where the CPU cannot flush (no SSE3)
    flushing = bool(torch.set_flush_denormal(bool(flush_denormal))) and bool(flush_denormal)
    if threads is not None:
        torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
    return {
        "deterministic": enabled,
        "threads": torch.get_num_threads(),
        "flush_denormal": flushing,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def describe_environment(numerics: dict[str, object]) -> dict[str, object]:
    """What a run's numbers depend on besides code, config and data: written beside them
    (``environment.json``) so two runs that differ can be told apart."""
    import os
    import platform

    from engine.numerics import CPU_NUMERICS

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        **numerics,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "caps": {name: os.environ.get(name) for name in CPU_NUMERICS},
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.is_available(),
    }
