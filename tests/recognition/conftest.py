"""Fixtures shared by the recognition tests: a tiny MA-52-layout root made here."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import write_test_video


@pytest.fixture
def clip_root(tmp_path):
    """An MA-52-layout root with two 20-frame clips and ground-truth landmarks."""
    (tmp_path / "train").mkdir()
    rows = []
    for n, (name, label) in enumerate([("0001_01_0001.mp4", 9), ("0002_01_0004.mp4", 43)]):
        write_test_video(tmp_path / "train" / name, frames=20, size=(64, 48))
        landmarks = np.random.default_rng(n).uniform(0.2, 0.8, (20, 33, 4)).astype(np.float32)
        landmarks[..., 3] = 1.0
        landmarks[:, 0, 0] = np.arange(20) / 100  # the nose encodes the frame index
        landmarks[5] = np.nan  # nobody in frame 5
        np.save(tmp_path / "train" / f"{name[:-4]}.landmarks.npy", landmarks)
        rows.append(f"{name} {label}")
    (tmp_path / "train_list_videos.txt").write_text("\n".join(rows) + "\n")
    return tmp_path
