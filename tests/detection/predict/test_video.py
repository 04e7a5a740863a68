"""Predicting one video: checkpoint safety, windows with bounded memory, awkward inputs."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

from detection.predict import video as predict_module
from detection.predict.model import CheckpointMismatch, load_predictor
from detection.predict.video import PredictOptions, predict_video
from engine.checkpoint import save_checkpoint
from tests.conftest import write_test_video


@pytest.fixture(scope="module")
def predictor(predict_checkpoint):
    return load_predictor(predict_checkpoint)


def test_predictor_takes_sampling_and_cues_from_the_checkpoint(predictor):
    assert predictor.cues == ["rgb", "flow", "skeleton"]
    assert predictor.sample_rate == pytest.approx(30.0 / 4)  # smoke: synthetic 30 fps, frame_stride 4
    assert predictor.image_size == 32 and predictor.extractors["flow"].size == 64
    # what it was trained with; auto swaps it per video
    assert predictor.extractors["skeleton"].source == "groundtruth"


def test_command_line_settings_that_contradict_the_checkpoint_are_refused(predict_checkpoint):
    from omegaconf import OmegaConf

    stored = json.loads(torch.load(predict_checkpoint, weights_only=True)["config"])
    run_cfg = OmegaConf.create({**stored, "cues": {"rgb": stored["cues"]["rgb"]}})
    with pytest.raises(CheckpointMismatch, match="cues") as error:
        load_predictor(predict_checkpoint, run_cfg=run_cfg, overrides=["cues=rgb", "task.predict.top_k=3"])
    assert str(predict_checkpoint) in str(error.value)
    same = OmegaConf.create(stored)  # an override that agrees with the checkpoint is fine
    assert load_predictor(predict_checkpoint, run_cfg=same, overrides=["cues=rgb_flow_skeleton"]).cues


def test_checkpoints_without_config_of_another_taxonomy_or_with_unfitting_weights_are_refused(
    predict_checkpoint, tmp_path
):
    state = torch.load(predict_checkpoint, weights_only=True)
    bare = tmp_path / "bare.pt"
    save_checkpoint(bare, {"model": state["model"]})
    with pytest.raises(CheckpointMismatch, match="no training config"):
        load_predictor(bare)

    other = tmp_path / "other.pt"
    torch.save({**state, "taxonomy": state["taxonomy"][:-1]}, other)
    with pytest.raises(ValueError, match="different micro-action taxonomy"):
        load_predictor(other)

    config = json.loads(state["config"])
    config["model"]["dim"] = 48  # the weights are for dim 32
    wrong = tmp_path / "wrong.pt"
    save_checkpoint(wrong, {"model": state["model"], "config": json.dumps(config)})
    with pytest.raises(CheckpointMismatch, match="do not fit"):
        load_predictor(wrong)


def test_windows_cover_every_instant_once_with_bounded_memory(predictor, tmp_path, monkeypatch):
    """A stand-in model reports one segment per input frame: after the windows are merged,
    every frame of the video must appear exactly once, at its own time."""

    def one_segment_per_frame(_predictor, window, _clock):
        count = len(window.frames)
        starts = np.arange(count) / predictor.sample_rate
        segments = np.stack([starts, starts + 1 / predictor.sample_rate], axis=1)
        return segments, np.full(count, 0.5, np.float32), np.zeros(count, np.int64)

    monkeypatch.setattr(predict_module, "detect_window", one_segment_per_frame)
    video = write_test_video(tmp_path / "long.mp4", frames=360, size=(32, 24), rate=30)  # 12 s
    options = PredictOptions(window_seconds=3.0, context_seconds=1.0, skeleton_source="mediapipe")
    prediction = predict_video(video, predictor, options, progress=False)
    starts = np.sort(prediction.detections["t_start"].to_numpy())
    expected = np.arange(int(np.ceil(360 / 4))) / predictor.sample_rate
    assert np.allclose(starts, expected, atol=1e-6)
    # windows of 3 s = 32 frames (2 chunks of 16), context 1 s rounded up to one chunk each side
    assert prediction.peak_frames_held <= 32 + 2 * 16 + 1 < len(expected)


def test_tiny_video_without_a_person_predicts_with_the_skeleton_masked(predictor, tmp_path):
    video = write_test_video(tmp_path / "tiny grey.mp4", frames=45, size=(16, 12))
    prediction = predict_video(video, predictor, PredictOptions(top_k=5), progress=False)
    assert prediction.skeleton_source == "mediapipe" and not prediction.present.any()
    assert len(prediction.present) == int(np.ceil(45 / 4))
    table = prediction.detections
    assert len(table) <= 5 and (table["t_end"] <= prediction.duration + 1e-9).all()
    assert table["score"].is_monotonic_decreasing


def test_a_video_too_short_for_optical_flow_is_a_clear_error(predictor, tmp_path):
    from perception.video import VideoDecodeError

    video = write_test_video(tmp_path / "one frame.mp4", frames=1)
    with pytest.raises(VideoDecodeError, match="too short for optical flow") as error:
        predict_video(video, predictor, PredictOptions(), progress=False)
    assert str(video) in str(error.value)


def test_predict_opens_no_network_connection(predictor, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    video = write_test_video(tmp_path / "v.mp4", frames=20)
    assert predict_video(video, predictor, PredictOptions(), progress=False).duration > 0


MEGAMIND = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"


def test_real_video_with_mislabelled_timestamps(predictor):
    """Debian's Megamind.avi (MPEG-4 part 2 in AVI, packed B-frames whose timestamps come in
    decode order): every frame is used once, in display order, and MediaPipe finds the figure."""
    from pathlib import Path

    if not Path(MEGAMIND).is_file():
        pytest.skip(f"{MEGAMIND} not installed (Debian package opencv-doc; make test installs it as root)")
    prediction = predict_video(MEGAMIND, predictor, PredictOptions(), progress=False)
    assert len(prediction.frame_times) == 270 and np.all(np.diff(prediction.frame_times) > 0)
    assert prediction.duration == pytest.approx(270 / (2997 / 125), abs=1e-3)
    assert prediction.present.mean() > 0.8
    assert not prediction.info.browser_playable


def test_a_truncated_video_is_predicted_as_far_as_it_decodes_and_says_so(predictor, tmp_path):
    from detection.predict.exports import timeline_record
    from detection.predict.report import ReportVideo, write_report
    from detection.predict.run import write_video_outputs

    whole = write_test_video(tmp_path / "whole.mkv", frames=150, size=(32, 24), container="matroska")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.5)])  # header still says 5 s
    with pytest.warns(UserWarning, match="truncated video"):
        prediction = predict_video(
            cut, predictor, PredictOptions(skeleton_source="mediapipe"), progress=False
        )
    record = timeline_record(prediction)["truncation"]
    assert record["declared_seconds"] == pytest.approx(5.0) and 0 < record["read_seconds"] < 4.0
    assert record["read_seconds"] == pytest.approx(prediction.duration, abs=1e-3)
    assert (prediction.detections["t_end"] <= prediction.duration + 1e-9).all()
    shown = write_video_outputs(prediction, tmp_path / "run", preview="never")
    assert any("truncated video" in note for note in shown.notes)
    write_report(tmp_path / "run" / "report.html", [shown], summary=[], metrics=None, failures=[])
    assert "truncated video: only" in (tmp_path / "run" / "report.html").read_text()
    assert json.loads((tmp_path / "run" / "timelines" / "cut.json").read_text())["truncation"] == record
    assert isinstance(shown, ReportVideo)
