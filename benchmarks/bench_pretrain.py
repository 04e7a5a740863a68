"""Throughput of VideoMAE pretraining (perception/pretrain/) in clips per second.

    python -m benchmarks.bench_pretrain --preset cpu                 # the demo's tiny backbone
    python -m benchmarks.bench_pretrain --preset gpu --device cuda   # VideoMAE-S at 160 and 224 px
    python -m benchmarks.bench_pretrain --model videomae_s --image-size 160 --batch 32 --precisions bf16

Why: pretraining is the most expensive optional step of a run (``task=pretrain``,
``model.backbone.self_pretrain``), and the number of epochs a budget allows is its throughput
times the budget divided by the clips per epoch (videos x ``clips_per_video``).

What is timed: one optimizer step of ``VideoMAEForPreTraining`` (tube masks, forward with the
pixel-reconstruction loss, backward, AdamW) on a batch of random clips, under the precision's
autocast, as ``perception.pretrain.loop`` runs it; the median of ``--repeat`` steps after two
warm-up steps. The encoder comes from ``configs/model/<model>.yaml`` (image size overridable),
the decoder and masking from ``configs/pretrain/<recipe>.yaml``. With ``--videos DIR`` the clip
pipeline (decoding with ``read_video`` at the model's size, then the multi-scale crops) is timed
too, in this process: decoding is what ``keep_decoded`` saves after the first epoch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from perception.position_table import token_grid
from perception.pretrain.data import ClipSpec, batch_masks, find_videos, sample_clip
from perception.pretrain.loop import build_model, parameter_groups, reconstruction_loss
from perception.pretrain.settings import RUNTIME_FIELDS, PretrainSettings
from perception.video import read_video

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = {
    "cpu": dict(
        model="videomae_tiny", recipe="tiny", image_sizes=[None], batch=16, precisions=["fp32", "bf16"]
    ),
    "gpu": dict(
        model="videomae_s", recipe="videomae", image_sizes=[160, 224], batch=32, precisions=["bf16", "fp32"]
    ),
}


def recipe(name: str, **overrides) -> PretrainSettings:
    """The recipe file's fields (interpolations to other groups dropped: they are runtime or
    sampling choices that do not change a step's cost)."""
    raw = OmegaConf.to_container(OmegaConf.load(CONFIGS / "pretrain" / f"{name}.yaml"), resolve=False)
    values = {k: v for k, v in raw.items() if k not in RUNTIME_FIELDS and not str(v).startswith("${")}
    return PretrainSettings.from_mapping({**values, **overrides})


def encoder(model: str, image_size: int | None) -> dict:
    config = OmegaConf.to_container(OmegaConf.load(CONFIGS / "model" / f"{model}.yaml").backbone.config)
    if image_size:
        config["image_size"] = image_size
    return config


def time_steps(settings: PretrainSettings, enc: dict, batch: int, device: str, repeat: int) -> float:
    """Median seconds per optimizer step."""
    model = build_model(settings, enc).to(device).train()
    optimizer = torch.optim.AdamW(parameter_groups(model, settings.weight_decay), lr=1e-4)
    config = model.config
    clips = torch.rand(batch, config.num_frames, 3, config.image_size, config.image_size)
    autocast = torch.autocast(
        torch.device(device).type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"
    )
    times = []
    for step in range(repeat + 2):
        masks = batch_masks(batch, token_grid(config), settings.mask_ratio, 0, 0, step).to(device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = reconstruction_loss(model, clips, masks, settings)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_pipeline(videos: Path, settings: PretrainSettings, enc: dict, limit: int) -> tuple[float, float]:
    """(videos decoded per second, clips cut per second) over the first ``limit`` videos."""
    paths = find_videos(videos)[:limit]
    spec = ClipSpec(
        enc["num_frames"], enc["image_size"], settings.frame_stride, 1, settings.scales, settings.hflip
    )
    start = time.perf_counter()
    decoded = [read_video(p, stride=settings.frame_stride, size=enc["image_size"]).frames for p in paths]
    decode = time.perf_counter() - start
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for frames in decoded:
        for _ in range(4):
            sample_clip(frames, spec, rng)
    crops = time.perf_counter() - start
    return len(paths) / decode, 4 * len(paths) / crops


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--model", help="configs/model/<name>.yaml (default: the preset's)")
    parser.add_argument("--recipe", help="configs/pretrain/<name>.yaml (default: the preset's)")
    parser.add_argument("--image-size", type=int, action="append", help="override the model's (repeatable)")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--precisions", help="comma-separated: fp32,bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--videos", type=Path, help="also time decoding + cropping on this folder")
    parser.add_argument("--limit", type=int, default=20, help="videos for the pipeline timing")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    model_name = args.model or preset["model"]
    recipe_name = args.recipe or preset["recipe"]
    sizes = args.image_size or preset["image_sizes"]
    batch = args.batch or preset["batch"]
    precisions = args.precisions.split(",") if args.precisions else preset["precisions"]

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {args.device}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"model {model_name}, recipe {recipe_name}, batch {batch}\n")
    print("| image size | precision | mask | decoder | step s | clips/s |")
    print("|---:|---|---:|---|---:|---:|")
    for size in sizes:
        enc = encoder(model_name, size)
        for precision in precisions:
            settings = recipe(recipe_name, precision=precision)
            seconds = time_steps(settings, enc, batch, args.device, args.repeat)
            dec = settings.decoder(enc["hidden_size"])
            decoder = f"{dec['decoder_num_hidden_layers']}x{dec['decoder_hidden_size']}"
            print(
                f"| {enc['image_size']} | {precision} | {settings.mask_ratio} | {decoder} | {seconds:.3f} | {batch / seconds:.1f} |"
            )
    if args.videos:
        enc = encoder(model_name, sizes[0])
        per_video, per_clip = time_pipeline(args.videos, recipe(recipe_name, frame_stride=4), enc, args.limit)
        print(
            f"\nclip pipeline at {enc['image_size']} px, stride 4: {per_video:.1f} videos decoded/s, "
            f"{per_clip:.0f} crops/s (one process)"
        )


if __name__ == "__main__":
    main()
