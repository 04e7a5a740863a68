"""Training and inference throughput of the recognition models (recognition/) in clips per second.

    python -m benchmarks.bench_recognition                          # tiny models, CPU demo size (64 px)
    python -m benchmarks.bench_recognition --preset gpu --device cuda   # MANet R50 / dual-path R101, 224 px

Why: the epochs a budget allows are throughput x budget / clips per epoch (MA-52: 11,250
training clips), and the CPU demo's recipe (configs/demo/ma52_synthetic/) was sized from these.

What is timed: one optimisation step as ``recognition.engine.train_step`` runs it (forward, the
model's loss, backward, gradient clipping at 20, SGD with the recipe's parameter groups), and
one no-grad forward pass in eval mode, on a batch of random clips (8 frames) with random
landmarks for the dual-path network's entities; the median of ``--repeat`` steps after two
warm-up steps. Decoding and transforms are not included (the demo caches decoded clips).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recognition.engine import train_step
from recognition.training import RecognitionTrainer, build_optimizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = {
    "cpu": dict(models=["manet_tiny", "dualnet_tiny"], size=64, batch=8),
    "gpu": dict(models=["manet", "dualnet"], size=224, batch=8),
}


def build(model: str, size: int) -> torch.nn.Module:
    cfg = OmegaConf.load(CONFIGS / "model" / f"{model}.yaml")
    cfg.input_size = size
    torch.manual_seed(0)
    return instantiate(cfg)


def batch_of(model: torch.nn.Module, batch: int, size: int, device: str) -> dict:
    segments = model.backbone.num_segments
    landmarks = torch.rand(batch, segments, 33, 4) * size
    landmarks[..., 3] = 1.0
    return {
        "frames": torch.randn(batch, segments, 3, size, size, device=device),
        "landmarks": landmarks.to(device),
        "label": torch.randint(0, 52, (batch,)),
    }


def _median_seconds(step, repeat: int, device: str) -> float:
    times = []
    for index in range(repeat + 2):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if index >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(name: str, size: int, batch: int, device: str, repeat: int) -> tuple[float, float]:
    """(training clips/s, inference clips/s) of ``configs/model/<name>.yaml`` at ``size``."""
    model = build(name, size).to(device)
    optimizer = build_optimizer(model, RecognitionTrainer())
    clips = batch_of(model, batch, size, device)
    train = _median_seconds(lambda: train_step(model, clips, optimizer, 20.0, device), repeat, device)
    model.eval()

    def infer() -> None:
        with torch.no_grad():
            model(clips["frames"], clips["landmarks"])

    inference = _median_seconds(infer, repeat, device)
    return batch / train, batch / inference


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--models", help="comma-separated configs/model names (default: the preset's)")
    parser.add_argument("--size", type=int, help="crop side (default: the preset's)")
    parser.add_argument("--batch", type=int, help="clips per batch (default: the preset's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op threads on CPU")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    models = args.models.split(",") if args.models else preset["models"]
    size, batch = args.size or preset["size"], args.batch or preset["batch"]
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, load {load:.1f}"
    )
    print("| model | crop | batch | device | train clips/s | inference clips/s |")
    print("|---|---:|---:|---|---:|---:|")
    for name in models:
        train, infer = throughput(name, size, batch, args.device, args.repeat)
        print(f"| {name} | {size} | {batch} | {args.device} | {train:.1f} | {infer:.1f} |", flush=True)


if __name__ == "__main__":
    main()
