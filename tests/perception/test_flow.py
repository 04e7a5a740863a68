"""Optical flow extraction: known motions, quantisation, mirroring, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.flow import (
    INT8_MAX,
    FlowConfig,
    dequantize_flow,
    extract_flow,
    flow_from_frames,
    mirror_flow,
    quantize_flow,
)
from perception.video import VideoDecodeError
from tests.conftest import write_mp4

NATIVE = 128  # written frame size; flow is extracted at 64, so displacements halve
STEP = (1.5, -1.0)  # content displacement per native frame, in native pixels


def texture(size: int, seed: int = 0) -> np.ndarray:
    """Blurred noise: structure at every orientation, so the flow is defined everywhere."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (size, size)).astype(np.float32), (0, 0), 2.0)
    return np.interp(noise, (noise.min(), noise.max()), (30.0, 225.0)).astype(np.float32)


def translated_frames(n: int, step: tuple[float, float], native: int = NATIVE) -> np.ndarray:
    """(n, native, native, 3) uint8 RGB: a texture moving by ``step`` pixels per frame (sub-pixel
    shifts by cubic interpolation on a larger canvas, then cropped, so no border moves in)."""
    margin = native // 2
    canvas = texture(native + 2 * margin)
    frames = []
    for t in range(n):
        shift = np.float32([[1, 0, step[0] * t], [0, 1, step[1] * t]])
        moved = cv2.warpAffine(canvas, shift, canvas.shape[::-1], flags=cv2.INTER_CUBIC)
        crop = np.clip(moved[margin : margin + native, margin : margin + native], 0, 255)
        frames.append(np.repeat(crop.round().astype(np.uint8)[..., None], 3, axis=2))
    return np.stack(frames)


@pytest.fixture(scope="module")
def moving_clip(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("flow") / "moving.mp4", translated_frames(9, STEP))


def _interior_mean(flow: np.ndarray, border: int = 8) -> np.ndarray:
    return flow[:, border:-border, border:-border].reshape(-1, 2).mean(axis=0)


@pytest.mark.parametrize(
    "config",
    [
        FlowConfig(method="dis"),
        FlowConfig(method="dis", dis_preset="medium", dis_finest_scale=None),
        FlowConfig(method="farneback"),
        FlowConfig(method="tvl1"),
    ],
    ids=["dis", "dis-medium-preset-scale", "farneback", "tvl1"],
)
def test_flow_recovers_a_known_translation(moving_clip: Path, config: FlowConfig) -> None:
    if config.method == "tvl1" and not hasattr(cv2, "optflow"):
        pytest.skip("TV-L1 needs cv2.optflow: pip install opencv-contrib-python(-headless)")
    out = extract_flow(moving_clip, config)
    flow = dequantize_flow(out["flow"], float(out["clip"]))
    expected = np.array(STEP) * config.frame_stride * config.size / NATIVE  # (1.5, -1.0) at 64 px
    assert out["flow"].shape == (5, 64, 64, 2) and out["flow"].dtype == np.int8
    for pair in flow[:-1]:
        np.testing.assert_allclose(_interior_mean(pair[None]), expected, atol=0.08)
    np.testing.assert_array_equal(out["flow"][-1], out["flow"][-2])  # last frame repeats the last pair


def test_frame_indices_follow_the_stride(moving_clip: Path) -> None:
    for stride, expected in ((1, np.arange(9)), (2, [0, 2, 4, 6, 8]), (3, [0, 3, 6]), (5, [0, 5])):
        out = extract_flow(moving_clip, FlowConfig(frame_stride=stride))
        assert out["frame_indices"].dtype == np.int32
        np.testing.assert_array_equal(out["frame_indices"], expected)
        assert len(out["flow"]) == len(expected)


def test_flow_is_clipped_to_the_configured_range(moving_clip: Path) -> None:
    out = extract_flow(moving_clip, FlowConfig(clip=1.0))  # true dx is 1.5 px at 64, dy -1.0
    flow = dequantize_flow(out["flow"], float(out["clip"]))
    assert out["clip"].dtype == np.float32 and out["clip"].shape == () and float(out["clip"]) == 1.0
    assert np.abs(flow).max() <= 1.0
    assert np.median(flow[..., 0]) == pytest.approx(1.0)  # saturated, not wrapped around
    assert out["flow"].min() >= -INT8_MAX


def test_quantisation_round_trip_error_is_within_one_step() -> None:
    clip = 4.0
    flow = np.random.default_rng(0).uniform(-clip, clip, size=(3, 16, 16, 2)).astype(np.float32)
    restored = dequantize_flow(quantize_flow(flow, clip), clip)
    assert restored.dtype == np.float32
    assert np.abs(restored - flow).max() <= clip / INT8_MAX
    assert np.abs(restored - flow).max() <= clip / (2 * INT8_MAX) + 1e-6  # rounding, not truncation
    outside = np.array([-100.0, -4.5, 4.5, 100.0], dtype=np.float32)
    np.testing.assert_array_equal(quantize_flow(outside, clip), [-127, -127, 127, 127])


@pytest.mark.parametrize("dtype", [np.int8, np.float32])
def test_mirror_flow_flips_width_and_negates_dx(dtype) -> None:
    rng = np.random.default_rng(1)
    flow = rng.integers(-127, 128, size=(2, 5, 7, 2)).astype(dtype)
    mirrored = mirror_flow(flow)
    assert mirrored.dtype == flow.dtype and mirrored.shape == flow.shape
    for j in range(7):
        np.testing.assert_array_equal(mirrored[:, :, j, 0], -flow[:, :, 6 - j, 0])
        np.testing.assert_array_equal(mirrored[:, :, j, 1], flow[:, :, 6 - j, 1])
    np.testing.assert_array_equal(mirror_flow(mirrored), flow)
    assert not np.shares_memory(mirrored, flow)


def test_mirror_flow_matches_the_flow_of_the_mirrored_video() -> None:
    grey = translated_frames(3, (1.0, 0.5), native=64)[..., 0]
    config = FlowConfig()
    direct = dequantize_flow(flow_from_frames(grey[:, :, ::-1].copy(), config), config.clip)
    mirrored = dequantize_flow(mirror_flow(flow_from_frames(grey, config)), config.clip)
    np.testing.assert_allclose(_interior_mean(direct), [-1.0, 0.5], atol=0.1)
    np.testing.assert_allclose(_interior_mean(mirrored), _interior_mean(direct), atol=0.05)


def test_unknown_method_and_preset_are_rejected(moving_clip: Path) -> None:
    with pytest.raises(ValueError, match="dis, farneback, tvl1"):
        extract_flow(moving_clip, FlowConfig(method="raft"))
    with pytest.raises(ValueError, match="ultrafast, fast, medium"):
        extract_flow(moving_clip, FlowConfig(dis_preset="slow"))


def test_tvl1_without_contrib_build_says_what_to_install(moving_clip: Path, monkeypatch) -> None:
    monkeypatch.delattr(cv2, "optflow", raising=False)
    with pytest.raises(ImportError, match="opencv-contrib-python"):
        extract_flow(moving_clip, FlowConfig(method="tvl1"))


def test_too_few_frames_is_an_error_naming_the_file(tmp_path: Path, moving_clip: Path) -> None:
    single = write_mp4(tmp_path / "single_frame.mp4", translated_frames(1, STEP, native=64))
    with pytest.raises(VideoDecodeError, match="single_frame.mp4"):
        extract_flow(single, FlowConfig(frame_stride=1))
    with pytest.raises(VideoDecodeError, match="moving.mp4.*frame_stride 9"):
        extract_flow(moving_clip, FlowConfig(frame_stride=9))  # 9 frames: only frame 0 is sampled
