"""Training and predict compute identical inputs: one synthetic video through the cue cache and
the training dataset on one side, and through predict's streaming path on the other, must give
the same flow, the same skeletons and the same detections (DESIGN: one extractor per cue)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from detection.data.annotations import read_mma52_csv
from detection.evaluation.inference import predict_dataset
from detection.pipeline import build_dataset
from detection.predict.model import load_predictor
from detection.predict.video import PredictOptions, predict_video
from engine.checkpoint import save_checkpoint
from perception.cue_stream import CueStream
from perception.extract import build_caches
from perception.video import ResampledStream, probe_video
from tests.conftest import REPO_ROOT

# flow + skeletons: the cues perception extracts (RGB training frames come from decord, predict's
# from PyAV's scaler; they differ by about half a grey level, see perception/video.frame_to_rgb)
CUES = "flow_skeleton"


@pytest.fixture(scope="module")
def trained(tiny_synthetic_root, tmp_path_factory):
    """An untrained flow+skeleton detector saved as task=mmad saves one, its cue caches and config."""
    folder = tmp_path_factory.mktemp("parity")
    overrides = [
        "task=mmad",
        "experiment=smoke",
        "logger=none",
        f"cues={CUES}",
        f"data.root={tiny_synthetic_root}",
        "data.synthetic=null",
        f"cue_cache={folder / 'cues'}",
        "flow.size=32",
    ]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    path = folder / "checkpoint.pt"
    record = OmegaConf.to_container(cfg, resolve=True)
    save_checkpoint(path, {"model": model.state_dict(), "config": json.dumps(record)})
    return cfg, model, path


def _video(root: Path) -> tuple[str, Path]:
    videos = read_mma52_csv(root / "test.csv", video_root=root, split="test")
    video_id = sorted(videos)[0]
    return video_id, root / "test" / f"{video_id}.mp4"


def test_streamed_cues_equal_the_cached_cues(trained, tiny_synthetic_root):
    cfg, model, path = trained
    video_id, video = _video(tiny_synthetic_root)
    caches = build_caches(cfg)
    videos = {
        video_id: read_mma52_csv(tiny_synthetic_root / "test.csv", video_root=tiny_synthetic_root)[video_id]
    }
    training = build_dataset(videos, video.parent, cfg.data, model, caches, "parity")[0]

    predictor = load_predictor(path)
    info = probe_video(video)
    with CueStream(
        info, model.image_size, predictor.frame_stride, predictor.train_fps, predictor.extractors
    ) as cues:
        for sample in ResampledStream(video, cues.grid_rate, info):
            cues.add(sample)
        cues.finish()
        window = cues.window(0, cues.count)
    assert cues.count == len(training.frames)
    np.testing.assert_array_equal(window.cues["flow"]["flow"], training.cues["flow"]["flow"])
    np.testing.assert_array_equal(window.cues["skeleton"]["present"], training.cues["skeleton"]["present"])
    np.testing.assert_allclose(window.cues["skeleton"]["body"], training.cues["skeleton"]["body"], atol=1e-6)
    assert np.abs(window.cues["flow"]["flow"]).max() > 0  # the figure moves: a real comparison


def test_predict_gives_the_evaluation_paths_detections(trained, tiny_synthetic_root):
    cfg, model, path = trained
    video_id, video = _video(tiny_synthetic_root)
    videos = {
        video_id: read_mma52_csv(tiny_synthetic_root / "test.csv", video_root=tiny_synthetic_root)[video_id]
    }
    dataset = build_dataset(videos, video.parent, cfg.data, model, build_caches(cfg), "parity")
    evaluated = predict_dataset(model, dataset, batch_size=1)

    predictor = load_predictor(path)
    predicted = predict_video(
        video, predictor, PredictOptions(), video_id=video_id, progress=False
    ).detections
    assert len(evaluated) > 0 and len(predicted) == len(evaluated)
    order = ["t_start", "t_end", "class", "score"]
    a = evaluated.sort_values(["score", "class", "t_start"], ascending=False)[order].to_numpy(dtype=float)
    b = predicted.sort_values(["score", "class", "t_start"], ascending=False)[order].to_numpy(dtype=float)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_mediapipe_skeletons_are_the_same_in_the_cache_and_in_predict(tiny_synthetic_root):
    from perception.skeleton import SkeletonConfig, extract_skeleton

    _, video = _video(tiny_synthetic_root)
    config = SkeletonConfig(source="mediapipe", frame_stride=4)
    cached = extract_skeleton(video, config)
    info = probe_video(video)
    with CueStream(info, 32, 4, info.fps, {"skeleton": config}) as cues:
        for sample in ResampledStream(video, cues.grid_rate, info):
            cues.add(sample)
        cues.finish()
        window = cues.window(0, cues.count)
    np.testing.assert_array_equal(window.cues["skeleton"]["present"], cached["present"])
    np.testing.assert_allclose(window.cues["skeleton"]["body"], cached["body"], atol=1e-6, equal_nan=True)
