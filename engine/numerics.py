"""Pinning the CPU's numeric code paths, so the same seed gives the same numbers on any machine.

PyTorch, oneDNN and MKL pick their kernels by the CPU's instruction set at start-up: AVX-512
on one machine, AVX2 on another. The kernels sum in different orders, so a training run of
the same seed drifts apart after a few hundred steps (measured here: the smoke run's body Avg
13.5 with this AMD EPYC's AVX-512 kernels, 10.7 with AVX2 ones, same seed and code). Capping
every library at AVX2, which every x86-64 CPU of the last decade has, makes the choice the
same everywhere. The caps must be set before torch is imported (each library reads them once),
so :func:`pin_cpu_numerics` imports nothing heavy and ``experiments/run.py`` calls it first.
Cost: about 10-20% of CPU speed on AVX-512 machines (BENCHMARKS.md); set any of the
variables yourself (e.g. ``ATEN_CPU_CAPABILITY=default``) to trade reproducibility for speed.
GPUs are unaffected (their determinism is ``engine.seeding.make_deterministic``).
"""

from __future__ import annotations

import os

CPU_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions, some matmuls)
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility (BLAS)
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",  # deterministic cuBLAS (read when CUDA starts)
}


def pin_cpu_numerics() -> dict[str, str]:
    """Set every cap the user has not set; returns the values in force."""
    for name, value in CPU_NUMERICS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in CPU_NUMERICS}
