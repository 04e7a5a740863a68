"""Benchmark of a VideoMAE backbone's training step on CPU with denormal floats kept or flushed.

The root config's ``flush_denormal`` (``engine/seeding.py``) flushes them to zero in every run.

    python -m benchmarks.bench_denormal                       # tiny backbone, 8-px patches
    python -m benchmarks.bench_denormal --patch-size 16 --sharpen 20
    python -m benchmarks.bench_denormal --checkpoint outputs/<run>/checkpoint.pt  # a trained one

Why: training the tiny backbone whole (``adapter=full``) with 8-px patches, epochs slowed from
61 s to 137 s within five epochs on the 2-core VM, with nothing else running. Fine-tuning makes
the attention peaked; the softmax weights of the far tokens and their gradients then fall below
float32's smallest normal number (1.18e-38), and x86 CPUs handle each such number on a slow
microcode path. Flushing them to zero (FTZ/DAZ) removes the cost and changes nothing a model
needs. A fresh backbone's attention is flat, so to show the effect without a trained checkpoint
this benchmark sharpens the attention the way training does: the query and key weights are
multiplied by ``--sharpen`` (logits by its square). ``--checkpoint`` times a real trained
detector's backbone instead (``streams.rgb.encoder.*`` of a ``checkpoint.pt``).

What is timed: one forward + backward (sum of the last hidden state as the loss) of a batch of
16-frame clips, the fastest of ``--repeat`` repetitions after 2 warm-up ones, each measurement
in a fresh process that sets the flush mode before PyTorch starts its threads. Reported beside
the times: the share of attention weights that are denormal (eager attention, not flushed).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from transformers import VideoMAEConfig, VideoMAEModel

from engine.seeding import describe_environment, make_deterministic

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "model" / "videomae_tiny.yaml"
SMALLEST_NORMAL = torch.finfo(torch.float32).tiny


def tiny_config(patch_size: int, attention: str = "sdpa") -> VideoMAEConfig:
    """The demo's backbone sizes (configs/model/videomae_tiny.yaml), with the given patch size."""
    sizes = OmegaConf.to_container(OmegaConf.load(TINY).backbone.config)
    sizes["patch_size"] = patch_size
    return VideoMAEConfig(**sizes, attn_implementation=attention)


def load_trained(model: VideoMAEModel, checkpoint: Path) -> None:
    """A detector checkpoint's RGB backbone (the stream prefix ``streams.rgb.encoder.``)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    prefix = "streams.rgb.encoder."
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not weights:
        raise SystemExit(f"{checkpoint}: no {prefix}* weights (not a detector with an RGB stream)")
    weights.pop("embeddings.position_embeddings", None)  # a fixed table, built from the config
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{checkpoint}: backbone does not match ({missing[:3]}, {unexpected[:3]})")


def sharpen(model: VideoMAEModel, factor: float) -> None:
    """Scale every layer's query and key projections: attention logits grow by factor**2."""
    with torch.no_grad():
        for layer in model.encoder.layer:
            for projection in (layer.attention.attention.query, layer.attention.attention.key):
                projection.weight.mul_(factor)


def build(args: argparse.Namespace, peaked: bool, attention: str = "sdpa") -> VideoMAEModel:
    """The fresh backbone (seed 0), or the same one sharpened / replaced by a trained one."""
    torch.manual_seed(0)
    model = VideoMAEModel(tiny_config(args.patch_size, attention))
    if peaked and args.checkpoint:
        load_trained(model, args.checkpoint)
    elif peaked:
        sharpen(model, args.sharpen)
    return model


def clips_for(model: VideoMAEModel, batch: int) -> torch.Tensor:
    config = model.config
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, config.num_frames, 3, config.image_size, config.image_size, generator=generator)


def denormal_share(args: argparse.Namespace, peaked: bool) -> float:
    """Fraction of attention weights in (0, smallest normal), not flushed (eager attention,
    which returns them; the timed model uses PyTorch's fused attention, as training does)."""
    model = build(args, peaked, attention="eager")
    with torch.no_grad():
        attentions = model(clips_for(model, args.batch), output_attentions=True).attentions
    tiny = sum(int(((a > 0) & (a < SMALLEST_NORMAL)).sum()) for a in attentions)
    return tiny / sum(a.numel() for a in attentions)


def step_seconds(args: argparse.Namespace, peaked: bool, flush: bool) -> float:
    """Fastest forward + backward, in a process of its own with the flush mode set before any
    work: switched on in a process that has already run the model, it did not take effect here
    (the sharpened backbone: 1.27 s a step before, 1.18 s after, against 0.15-0.22 s in a fresh
    process), presumably because PyTorch's worker threads keep the CPU flags they started with.
    ``experiments/run.py`` sets it before any work for the same reason."""
    make_deterministic(False, args.threads, flush_denormal=flush)  # in run.py's order
    model = build(args, peaked)
    clips = clips_for(model, args.batch)

    def once() -> None:
        model(clips).last_hidden_state.sum().backward()
        model.zero_grad(set_to_none=True)

    for _ in range(2):
        once()
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - started)
    return best


def in_fresh_process(function, *arguments):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, arguments)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_denormal", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument(
        "--sharpen", type=float, default=30.0, help="query/key weight factor (30: ~17%% denormal)"
    )
    parser.add_argument("--checkpoint", type=Path, help="a detector checkpoint.pt to time instead")
    parser.add_argument("--batch", type=int, default=8, help="16-frame clips per step")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    config = tiny_config(args.patch_size)
    cpu = describe_environment({})["cpu"]
    print(f"{cpu}, torch {torch.__version__}, {args.threads} threads, batch {args.batch}")
    print(f"tiny VideoMAE at {config.image_size} px, {args.patch_size}-px patches")
    print("| backbone | denormal attention weights | not flushed (ms) | flushed (ms) | speed-up |")
    print("|---|---:|---:|---:|---:|")
    label = f"trained ({args.checkpoint})" if args.checkpoint else f"sharpened x{args.sharpen:g}"
    for name, peaked in (("fresh", False), (label, True)):
        share = in_fresh_process(denormal_share, args, peaked)
        kept = in_fresh_process(step_seconds, args, peaked, False)
        flushed = in_fresh_process(step_seconds, args, peaked, True)
        print(
            f"| {name} | {share:.1%} | {kept * 1e3:.0f} | {flushed * 1e3:.0f} | {kept / flushed:.2f}x |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
