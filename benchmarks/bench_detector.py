"""Training-step and inference throughput and peak memory of the RGB detector (VideoMAE +
adapter + head), per model size, adapter, precision, activation checkpointing and clip length.

    python -m benchmarks.bench_detector --preset cpu               # the small CPU set (~10 min on 2 cores)
    python -m benchmarks.bench_detector --preset gpu --device cuda # the full set on a GPU
    python -m benchmarks.bench_detector --models s --adapters dsta,tia --frames 16,64 --precisions fp32,bf16

Why: whether a configuration fits a GPU, and how many hours a training run or a pass over a
dataset takes, are questions of memory and speed; the answers depend on the adapter (a
frozen backbone stores no activations, full fine-tuning stores all of them and an optimizer
state for 22-87M weights), the precision and checkpointing. The models are built from the
project's own configs (``configs/model/videomae_{s,b}.yaml``, ``configs/adapter/*``) at their
real sizes (160x160 input), with random weights: speed and memory do not depend on the values.

What is timed, on a batch of ``--batch`` clips of ``frames`` frames:

- *train step*: forward, detection loss on random ground truth, backward and an AdamW step,
  under the precision's autocast (fp16 with a gradient scaler), as ``detection.training.loop`` runs it.
- *inference*: ``MicroActionDetector.predict`` (forward, score decoding and soft-NMS) under
  ``torch.no_grad`` and autocast.

Rates are clips/s and video-seconds/s, where a clip of T frames sampled every
``--frame-stride`` frames of a ``--fps`` video covers ``T * stride / fps`` seconds (MMA-52:
30 fps, ``data.frame_stride=2``). Each cell is the median of ``--repeat`` runs after one
warm-up. Every case runs in a fresh process, so no case inherits another's allocator state.
Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA; on CPU it is the process's peak
resident set (``VmHWM``, reset through ``/proc/self/clear_refs``), which includes the Python
process, the libraries and the model (about 0.8-1.3 GB), so the increase over the resident set
just before the timed work is given beside it. Inference is measured before training, whose
peak is the larger.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import multiprocessing
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from detection.training.loop import autocast, build_optimizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = {
    # a set that finishes in minutes on a 2-core CPU: every adapter on S at 16 frames, then the
    # options one at a time on S + DSTA, and B + DSTA
    "cpu": [
        *[("s", adapter, "fp32", False, 16) for adapter in ("dsta", "tia", "plain", "full", "frozen")],
        ("s", "dsta", "bf16", False, 16),
        ("s", "dsta", "fp32", True, 16),
        ("s", "dsta", "fp32", False, 64),
        ("b", "dsta", "fp32", False, 16),
        ("b", "dsta", "fp32", True, 16),
    ],
    # the full grid, for a GPU
    "gpu": list(
        itertools.product(
            ("s", "b"),
            ("dsta", "tia", "plain", "full", "frozen"),
            ("fp32", "bf16"),
            (False, True),
            (96, 192, 384, 768),
        )
    ),
}


@dataclass
class Result:
    model: str
    adapter: str
    precision: str
    checkpointing: bool
    frames: int
    batch: int
    trainable: int
    train_seconds: float | None
    infer_seconds: float | None
    train_peak_mb: float | None
    infer_peak_mb: float | None
    base_mb: float
    error: str = ""


def build_model(size: str, adapter: str, checkpointing: bool) -> torch.nn.Module:
    """The RGB-only detector of ``model=videomae_<size> adapter=<adapter>``."""
    overrides = [
        f"model=videomae_{size}",
        f"adapter={adapter}",
        "cues=rgb",
        f"model.backbone.grad_checkpointing={str(checkpointing).lower()}",
    ]
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return instantiate(cfg.model)


def memory_mb(device: torch.device, peak: bool) -> float:
    if device.type == "cuda":
        return (
            torch.cuda.max_memory_allocated(device) if peak else torch.cuda.memory_allocated(device)
        ) / 2**20
    field = "VmHWM" if peak else "VmRSS"
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with contextlib.suppress(OSError):  # Linux: "5" resets the peak resident set of this process
            Path("/proc/self/clear_refs").write_text("5")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batch(model, batch: int, frames: int, device: torch.device, generator: torch.Generator):
    """Clips of random pixels with two random ground-truth actions each, padded as Collate pads."""
    size = model.image_size
    clips = [
        torch.randint(0, 256, (frames, size, size, 3), dtype=torch.uint8, generator=generator).to(device)
        for _ in range(batch)
    ]
    steps = -(-frames // model.step_frames)
    padded = -(-steps // model.length_multiple) * model.length_multiple
    mask = torch.zeros(batch, padded, dtype=torch.bool, device=device)
    mask[:, :steps] = True
    starts = torch.rand(batch, 2, generator=generator) * steps * 0.6
    segments = [torch.stack([s, s + steps * 0.3], dim=-1).to(device) for s in starts]
    labels = [torch.randint(0, model.num_classes, (2,), generator=generator).to(device) for _ in range(batch)]
    return {"rgb": clips}, mask, segments, labels


def time_train_steps(model, inputs, device, precision: str, repeat: int) -> list[float]:
    optimizer = build_optimizer(model, 1e-4, 0.05)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    model.train()
    times = []
    for _ in range(repeat + 1):  # the first is a warm-up
        synchronize(device)
        started = time.perf_counter()
        with autocast(device, precision):
            loss = model.loss(*inputs)["loss"]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        times.append(time.perf_counter() - started)
    del optimizer
    return times[1:]


@torch.no_grad()
def time_inference(model, inputs, device, precision: str, repeat: int) -> list[float]:
    model.eval()
    times = []
    for _ in range(repeat + 1):
        synchronize(device)
        started = time.perf_counter()
        with autocast(device, precision):
            model.predict(inputs[0], inputs[1])
        synchronize(device)
        times.append(time.perf_counter() - started)
    return times[1:]


def run_case(case: tuple, batch: int, repeat: int, device: torch.device) -> Result:
    size, adapter, precision, checkpointing, frames = case
    torch.manual_seed(0)
    model = build_model(size, adapter, checkpointing).to(device)
    inputs = random_batch(model, batch, frames, device, torch.Generator().manual_seed(0))
    result = Result(
        size, adapter, precision, checkpointing, frames, batch, model.parameter_counts()["backbone_trainable"],
        None, None, None, None, 0.0,
    )  # fmt: skip
    try:
        gc.collect()
        result.base_mb = memory_mb(device, peak=False)
        reset_peak(device)
        result.infer_seconds = statistics.median(time_inference(model, inputs, device, precision, repeat))
        result.infer_peak_mb = memory_mb(device, peak=True)
        gc.collect()
        reset_peak(device)
        result.train_seconds = statistics.median(time_train_steps(model, inputs, device, precision, repeat))
        result.train_peak_mb = memory_mb(device, peak=True)
    except torch.OutOfMemoryError as error:
        result.error = f"out of memory: {str(error).splitlines()[0][:80]}"
    finally:
        del model, inputs
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def format_table(results: list[Result], video_seconds_per_frame: float, cpu: bool) -> str:
    extra = " (+ over pre-case RSS)" if cpu else ""
    lines = [
        f"| model | adapter | precision | ckpt | frames | backbone trainable (M) | train clips/s | "
        f"train video-s/s | train peak MB{extra} | infer clips/s | infer video-s/s | infer peak MB{extra} |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        seconds = r.frames * video_seconds_per_frame * r.batch
        rates = [
            ("—", "—") if t is None else (f"{r.batch / t:.2f}", f"{seconds / t:.1f}")
            for t in (r.train_seconds, r.infer_seconds)
        ]
        peaks = [
            (r.error or "—")
            if mb is None
            else (f"{mb:,.0f} (+{mb - r.base_mb:,.0f})" if cpu else f"{mb:,.0f}")
            for mb in (r.train_peak_mb, r.infer_peak_mb)
        ]
        lines.append(
            f"| VideoMAE-{r.model.upper()} | {r.adapter} | {r.precision} | {'on' if r.checkpointing else 'off'} "
            f"| {r.frames} | {r.trainable / 1e6:.2f} | {' | '.join(rates[0])} | {peaks[0]} "
            f"| {' | '.join(rates[1])} | {peaks[1]} |"
        )
    return "\n".join(lines)


def parse_cases(args: argparse.Namespace) -> list[tuple]:
    if args.preset:
        return PRESETS[args.preset]
    return list(
        itertools.product(
            args.models.split(","),
            args.adapters.split(","),
            args.precisions.split(","),
            [c == "on" for c in args.checkpointing.split(",")],
            [int(f) for f in args.frames.split(",")],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="a predefined set (overrides the lists below)"
    )
    parser.add_argument("--models", default="s", help="comma list of s, b, l")
    parser.add_argument("--adapters", default="dsta", help="comma list of dsta, tia, plain, full, frozen")
    parser.add_argument("--precisions", default="fp32", help="comma list of fp32, bf16, fp16")
    parser.add_argument("--checkpointing", default="off", help="comma list of off, on")
    parser.add_argument("--frames", default="16", help="comma list of clip lengths in sampled frames")
    parser.add_argument("--batch", type=int, default=1, help="clips per step")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell (median), after a warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fps", type=float, default=30.0, help="video frame rate, for video-seconds")
    parser.add_argument("--frame-stride", type=int, default=2, help="sampling stride, for video-seconds")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()

    device = torch.device(args.device)
    cases = parse_cases(args)
    results = []
    # a fresh process per case (spawned: no state, threads or allocator pools inherited)
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for index, case in enumerate(cases, 1):
            print(f"[{index}/{len(cases)}] {case}", flush=True)
            results.append(pool.apply(run_case, (case, args.batch, args.repeat, device)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    header = (
        f"device: {name}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
        f"{os.cpu_count()} logical CPUs; batch {args.batch}; median of {args.repeat}; "
        f"video-seconds at {args.fps:g} fps, frame stride {args.frame_stride}"
    )
    table = format_table(results, args.frame_stride / args.fps, cpu=device.type == "cpu")
    print(header + "\n\n" + table)
    if args.out:
        from perception.atomic import atomic_write_text

        atomic_write_text(args.out, header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
