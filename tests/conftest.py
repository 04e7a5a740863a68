"""Shared fixtures: tiny models and tiny synthetic datasets, so every test runs on a CPU."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
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
    from detection.data.cues import RGBCue
    from detection.model.detector import build_detector
    from perception.adapters import DSTAdapter
    from perception.backbone import build_adapted_videomae

    torch.manual_seed(0)
    backbone = build_adapted_videomae(TINY_VIDEOMAE, adapter=functools.partial(DSTAdapter))
    return build_detector(
        backbone,
        {"rgb": RGBCue()},
        dim=32,
        levels=4,
        regression_ranges=[[0, 4], [4, 8], [8, 16], [16, 10000]],
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

    from engine.checkpoint import save_checkpoint

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


# --------------------------------------------------------------------------- detection tables


def gt_table(rows) -> pd.DataFrame:
    """Ground truth rows ``(video_id, t_start, t_end, class)`` as the evaluator's table."""
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "class"])


def pred_table(rows) -> pd.DataFrame:
    """Prediction rows ``(video_id, t_start, t_end, class, score)`` as the evaluator's table."""
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "class", "score"])


def _segment_times(rng: np.random.Generator, mode: str, n: int, min_len: int):
    """Start/end times on one of three grids: half seconds (many exact tIoU ties and exact
    0.5 overlaps), frames / fps as the real CSVs produce (29 or 30 fps), or continuous."""
    if mode == "half":
        start = rng.integers(0, 16, n) * 0.5
        return start, start + rng.integers(min_len, 8, n) * 0.5
    if mode == "frames":
        fps = float(rng.choice([29.0, 30.0]))
        start_f = rng.integers(0, 240, n)
        return start_f / fps, (start_f + rng.integers(min_len * 8, 120, n)) / fps
    start = rng.uniform(0, 8, n)
    return start, start + rng.uniform(0.0 if min_len == 0 else 0.05, 4, n)


def random_detection_case(rng: np.random.Generator, num_classes: int):
    """A small random case built to hit the corner cases of the matching and of AP.

    Overlapping multi-label ground truth (the same segment under several classes), classes
    with no ground truth and/or no prediction (``num_classes`` is often larger than the
    number of instances), tied scores, predictions copied from ground truths or jittered
    around them (tIoU 1 and near-threshold overlaps), zero-length predictions, predictions on
    videos without ground truth, and now and then a dense (class, video) block.
    """
    dense = rng.random() < 0.12
    videos = ["a"] if dense else ["a", "b", "c"][: rng.integers(1, 4)]
    mode = str(rng.choice(["half", "frames", "float"]))
    n_gt = int(rng.integers(12, 25)) if dense else int(rng.integers(0, 9))
    n_pred = int(rng.integers(20, 40)) if dense else int(rng.integers(0, 16))
    g_class_hi = 1 if dense else num_classes
    gs, ge = _segment_times(rng, mode, n_gt, 1)
    gt_rows = [(str(rng.choice(videos)), gs[i], ge[i], int(rng.integers(0, g_class_hi))) for i in range(n_gt)]
    if gt_rows and num_classes > 1 and rng.random() < 0.5:  # multi-label: same segment, new class
        for row in [gt_rows[int(i)] for i in rng.integers(0, len(gt_rows), rng.integers(1, 4))]:
            gt_rows.append(
                (row[0], row[1], row[2], (row[3] + int(rng.integers(1, num_classes))) % num_classes)
            )
    ps, pe = _segment_times(rng, mode, n_pred, 0)
    tie_scores = rng.random() < 0.6
    pred_rows = []
    for i in range(n_pred):
        vid = str(rng.choice(videos + ["ghost"])) if rng.random() < 0.9 else "zz"
        start, end, label = ps[i], pe[i], int(rng.integers(0, num_classes))
        if gt_rows and rng.random() < 0.35:  # near or exactly on a ground truth
            vid, start, end, label = gt_rows[int(rng.integers(0, len(gt_rows)))]
            if rng.random() < 0.5:
                shift = (rng.integers(-2, 3) * 0.5) if mode == "half" else rng.normal(0, 0.3)
                start, end = start + shift, max(start + shift, end + shift * rng.integers(0, 2))
            if rng.random() < 0.2:
                label = int(rng.integers(0, num_classes))
        score = float(rng.integers(0, 5)) / 4 if tie_scores else float(rng.random())
        pred_rows.append((vid, start, end, label, score))
    return gt_table(gt_rows), pred_table(pred_rows)


def offline_runs(root: Path, patience: float = 60.0) -> list:
    """The run records (name, group, tags, job type) of every offline W&B run below root, read
    back from the .wandb files: what `wandb sync` would upload. W&B's service process writes
    the file asynchronously and, on a busy machine, may not have flushed the run record when
    ``finish`` returns, so each file is re-read until it holds one (up to ``patience`` seconds)."""
    import time

    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal import datastore

    def run_record(path: Path):
        store = datastore.DataStore()
        store.open_for_scan(str(path))
        try:
            while (data := store.scan_data()) is not None:
                record = wandb_internal_pb2.Record()
                record.ParseFromString(data)
                if record.WhichOneof("record_type") == "run":
                    return record.run
        finally:
            store.close()
        return None

    runs = []
    for path in sorted(root.rglob("run-*.wandb")):
        deadline = time.monotonic() + patience
        while (run := run_record(path)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if run is not None:
            runs.append(run)
    return runs


def write_mp4(path: Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Near-lossless H.264 (crf 4) so the decoded frames keep sub-pixel motion."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "4", "preset": "veryfast"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def compose_root(*overrides: str):
    """The root config as ``experiments/run.py`` composes it with these overrides (resolved
    lazily, as in a run)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        return compose("config", overrides=list(overrides))
