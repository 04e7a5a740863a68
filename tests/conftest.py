"""Shared fixtures: tiny models and tiny synthetic datasets, so every test runs on a CPU."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_ERROR_REPORTING", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

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
