"""Benchmark of the detection head: all pyramid levels in one call per layer, against one call
per level (``DetectionHead.forward`` against ``DetectionHead.forward_per_level``).

    python -m benchmarks.bench_head                 # the demo's head and a real-size one
    python -m benchmarks.bench_head --repeat 50

Why: on a CPU a Conv1d over a few dozen time steps costs its fixed call overhead (oneDNN
primitive set-up, a few hundred microseconds forward and backward) rather than its arithmetic,
and the per-level head made 6 levels x (2 towers x layers + 2 output convs) such calls per
branch and step; the demo's late fusion has three branches. The batched head makes one call per
layer for all levels. What is timed: forward + backward of one head (sum of all outputs as the
loss) on random pyramid features of a batch, as training runs it; the fastest of ``--repeat``
timed repetitions after 3 warm-up ones, each the mean over ``--inner`` steps. The two
implementations' outputs are checked to agree first (they must, to 1e-4).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from detection.model.head import DetectionHead
from engine.seeding import describe_environment


@dataclass(frozen=True)
class Case:
    name: str
    dim: int
    levels: int
    steps: int  # level-0 length; level l has ceil(steps / 2**l)
    batch: int
    norm: str


CASES = (
    Case("demo head (dim 64, GroupNorm), 64 steps", 64, 6, 64, 2, "group"),
    Case("demo head, 192 steps", 64, 6, 192, 2, "group"),
    Case("real-size head (dim 512, LayerNorm), 192 steps", 512, 6, 192, 2, "layer"),
    Case("real-size head, 768 steps", 512, 6, 768, 2, "layer"),
)


def pyramid_inputs(case: Case) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Random level features and masks, the second video a third shorter (padding present)."""
    feats, masks = [], []
    for level in range(case.levels):
        length = -(-case.steps // 2**level)
        mask = torch.ones(case.batch, 1, length)
        mask[1:, :, max(1, length * 2 // 3) :] = 0
        feats.append((torch.randn(case.batch, case.dim, length) * mask).requires_grad_())
        masks.append(mask)
    return feats, masks


def step_seconds(head: DetectionHead, forward, feats, masks, repeat: int, inner: int) -> float:
    """Fastest mean time of one forward + backward."""

    def once() -> None:
        logits, offsets = forward(feats, masks)
        (sum(x.sum() for x in logits) + sum(x.sum() for x in offsets)).backward()
        head.zero_grad(set_to_none=True)

    for _ in range(3):
        once()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(inner):
            once()
        best = min(best, (time.perf_counter() - started) / inner)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_head", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--inner", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cpu = describe_environment({})["cpu"]
    print(f"{cpu}, torch {torch.__version__}, {args.threads} threads")
    print("| head | per level (ms) | batched (ms) | speed-up |")
    print("|---|---:|---:|---:|")
    for case in CASES:
        head = DetectionHead(case.dim, 52, case.levels, layers=2, norm=case.norm)
        feats, masks = pyramid_inputs(case)
        with torch.no_grad():
            for got, want in zip(head(feats, masks), head.forward_per_level(feats, masks), strict=True):
                for g, w in zip(got, want, strict=True):
                    if not torch.allclose(g, w, atol=1e-4, rtol=1e-4):
                        raise SystemExit(f"{case.name}: batched and per-level outputs differ")
        loop = step_seconds(head, head.forward_per_level, feats, masks, args.repeat, args.inner)
        batched = step_seconds(head, head, feats, masks, args.repeat, args.inner)
        print(f"| {case.name} | {loop * 1e3:.1f} | {batched * 1e3:.1f} | {loop / batched:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
