"""Shared fixtures: tiny models and tiny synthetic datasets, so every test runs on a CPU."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def run_python(
    *args: str, launcher: tuple[str, ...] = (), cwd: Path = REPO_ROOT, timeout: int = 600
) -> subprocess.CompletedProcess:
    """``python [launcher...] args...`` in the repository, as a user runs the entry points
    (``launcher`` e.g. ``("-m", "torch.distributed.run", "--nproc_per_node=2")``)."""
    return subprocess.run(
        [sys.executable, *launcher, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# A VideoMAE small enough that a forward/backward pass over a 10 s video takes milliseconds.
TINY_VIDEOMAE = dict(
    image_size=32,
    patch_size=16,
    num_frames=16,
    tubelet_size=2,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
)


@pytest.fixture
def tiny_videomae_config() -> dict:
    return dict(TINY_VIDEOMAE)


@pytest.fixture
def tiny_detector():
    """A tiny VideoMAE + DSTA detector with a fixed seed."""
    from detection.detector import build_detector
    from perception.adapters import DSTAdapter
    from perception.backbone import build_adapted_videomae

    torch.manual_seed(0)
    backbone = build_adapted_videomae(TINY_VIDEOMAE, adapter=functools.partial(DSTAdapter))
    return build_detector(
        backbone, dim=32, levels=4, regression_ranges=[[0, 4], [4, 8], [8, 16], [16, 10000]]
    )


@pytest.fixture(scope="session")
def tiny_synthetic_root(tmp_path_factory) -> Path:
    """A handful of short synthetic videos in MMA-52 layout, generated once per test session."""
    from perception.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic_mma")
    generate(SyntheticConfig(root=root, num_train=8, num_val=2, num_test=4, seed=3, size=64), progress=False)
    return root


@pytest.fixture
def shared_train_csv() -> Path:
    path = SHARED_DATA / "mma52" / "train.csv"
    if not path.is_file():
        pytest.skip(f"real MMA-52 annotations not available at {path}")
    return path


# --------------------------------------------------------------------------- predict (issue 7)

CHROMIUM = Path("/usr/bin/chromium")


def write_test_video(
    path: Path,
    frames: int = 24,
    size: tuple[int, int] = (64, 48),
    rate: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    container: str | None = None,
    rotation: int | None = None,
    times_ms: list[int] | None = None,
    image=None,
) -> Path:
    """A small video made here: frame ``i`` is ``image(i)`` (default: a white block on a
    background whose green level is ``8 * i``, so tests can tell frames apart), optionally
    with display-rotation metadata or explicit timestamps (variable frame rate)."""
    from fractions import Fraction

    import av
    import numpy as np

    width, height = size

    def default(i: int):
        picture = np.zeros((height, width, 3), np.uint8)
        picture[..., 1] = (8 * i) % 256
        picture[: height // 2, : width // 4] = 255
        return picture

    make = image or default
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "10", "preset": "ultrafast"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(make(i), format="rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def predict_checkpoint(tmp_path_factory) -> Path:
    """An untrained smoke-size detector (RGB + flow + skeleton, late fusion) saved the way
    ``task=mmad`` saves one: weights, resolved config and taxonomy. Predict tests need its
    format and settings, not trained weights."""
    import json

    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from detection.checkpoint import save_checkpoint

    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=["task=mmad", "experiment=smoke", "logger=none"])
    record = OmegaConf.to_container(cfg, resolve=True)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    path = tmp_path_factory.mktemp("predict_ckpt") / "checkpoint.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": json.dumps(record)})
    return path


@pytest.fixture(scope="session")
def tiny_emotion_root(tmp_path_factory) -> Path:
    """A tiny synthetic emotion set (labels.yaml, emotion.csv, videos, micro-action CSVs):
    15 videos of 5 subjects, generated once per test session."""
    from perception.synthetic import SyntheticConfig, generate
    from perception.synthetic.affective import AffectConfig

    root = tmp_path_factory.mktemp("synthetic_emotion")
    config = SyntheticConfig(
        root=root,
        num_train=6,
        num_val=3,
        num_test=6,
        seed=5,
        size=64,
        videos_per_subject=3,
        workers=1,
        affect=AffectConfig(),
    )
    generate(config, progress=False)
    return root
