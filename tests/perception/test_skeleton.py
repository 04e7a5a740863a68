"""Skeletons: body normalisation, mirroring, smoothing, ground truth and MediaPipe."""

from __future__ import annotations

import gzip
import shutil
from glob import glob
from pathlib import Path

import numpy as np
import pytest

from perception.skeleton import (
    SkeletonConfig,
    extract_skeleton,
    landmarks_path,
    mirror_skeleton,
    normalize_to_body,
    smooth_present,
)
from perception.synthetic.figure import LANDMARK_NAMES
from perception.video import VideoDecodeError
from tests.conftest import write_mp4

MEGAMIND_GLOBS = (
    "/usr/share/doc/opencv-doc/examples/data/Megamind.avi*",  # Debian/Ubuntu opencv-doc
    "/usr/share/opencv*/samples/data/Megamind.avi*",
    "/usr/local/share/opencv*/samples/data/Megamind.avi*",
    "/usr/share/doc/opencv*/examples/data/Megamind.avi*",
)


def megamind(tmp_path: Path) -> Path:
    """The real video with a human-like figure (DESIGN §8), decompressed if shipped gzipped."""
    found = sorted(p for pattern in MEGAMIND_GLOBS for p in glob(pattern))
    if not found:
        pytest.skip("Megamind.avi not found (apt-get install -y opencv-doc ships it)")
    path = Path(found[0])
    if path.suffix == ".gz":
        plain = tmp_path / path.stem
        with gzip.open(path) as source, open(plain, "wb") as target:
            shutil.copyfileobj(source, target)
        return plain
    return path


def body_landmarks(n: int = 3) -> np.ndarray:
    """(n, 33, 4) landmarks of an upright figure: shoulders (0.4|0.6, 0.3), hips (0.42|0.58, 0.7),
    so the torso centre is (0.5, 0.5) and the torso length 0.4; the rest sit on the centre."""
    lm = np.zeros((n, 33, 4), dtype=np.float32)
    lm[..., :2] = 0.5
    lm[..., 3] = 1.0
    lm[:, 11, :2], lm[:, 12, :2] = (0.4, 0.3), (0.6, 0.3)
    lm[:, 23, :2], lm[:, 24, :2] = (0.42, 0.7), (0.58, 0.7)
    lm[:, 0, :3] = (0.5, 0.1, -0.2)  # nose: one torso length above the centre, nearer the camera
    return lm


# --------------------------------------------------------------------------- normalize_to_body


def test_body_coordinates_are_centred_on_the_torso_and_scaled_by_its_length() -> None:
    lm = body_landmarks()
    lm[1, :, :2] += (0.1, -0.05)  # the whole body moves: body coordinates must not
    lm[2, 15, :2] = (0.52, 0.46)  # a wrist moves by 0.02 = 0.05 torso lengths in x
    present = np.array([True, True, True])
    body = normalize_to_body(lm, present)
    assert body.shape == (3, 33, 3) and body.dtype == np.float32
    np.testing.assert_allclose(body[:, 0], [[0.0, -1.0, -0.5]] * 3, atol=1e-6)
    np.testing.assert_allclose(body[:, 11], [[-0.25, -0.5, 0.0]] * 3, atol=1e-6)
    np.testing.assert_allclose(body[:, 24], [[0.2, 0.5, 0.0]] * 3, atol=1e-6)
    np.testing.assert_allclose(body[2, 15], [0.05, -0.1, 0.0], atol=1e-6)


def test_absent_frames_stay_nan() -> None:
    lm = body_landmarks()
    lm[1] = np.nan
    body = normalize_to_body(lm, np.array([True, False, True]))
    assert np.isnan(body[1]).all()
    assert np.isfinite(body[[0, 2]]).all()
    assert np.isnan(normalize_to_body(lm, np.zeros(3, dtype=bool))).all()


def test_scale_is_one_robust_value_per_video() -> None:
    lm = body_landmarks(3)
    lm[2, :, :2] = 0.5 + (lm[2, :, :2] - 0.5) * 1.5  # one frame 1.5x larger (e.g. a bad detection)
    body = normalize_to_body(lm, np.ones(3, dtype=bool))
    np.testing.assert_allclose(body[0, 0, :2], [0.0, -1.0], atol=1e-6)  # median torso length 0.4
    np.testing.assert_allclose(body[2, 0, :2], [0.0, -1.5], atol=1e-6)  # not divided away per frame


def test_shoulder_width_is_the_fallback_scale_when_hips_are_never_visible() -> None:
    lm = body_landmarks()
    lm[:, [23, 24], 3] = 0.1
    body = normalize_to_body(lm, np.ones(3, dtype=bool))
    # scale = shoulder width 0.2; centre = shoulder midpoint (0.5, 0.3); nose at (0.5, 0.1)
    np.testing.assert_allclose(body[:, 0, :2], [[0.0, -1.0]] * 3, atol=1e-6)
    np.testing.assert_allclose(body[:, 12, :2], [[0.5, 0.0]] * 3, atol=1e-6)


def test_frames_with_hidden_hips_use_the_median_torso_for_the_centre() -> None:
    lm = body_landmarks()
    lm[1, [23, 24], 1] = 0.9  # guessed, wrong hip positions in a frame where they are not visible
    lm[1, [23, 24], 3] = 0.2
    body = normalize_to_body(lm, np.ones(3, dtype=bool))
    np.testing.assert_allclose(body[1, 0], body[0, 0], atol=1e-6)


def test_aspect_ratio_makes_axes_isotropic() -> None:
    """A 2:1 frame: x in units of the width, so horizontal distances double in height units."""
    lm = body_landmarks()
    lm[..., 0] = 0.5 + (lm[..., 0] - 0.5) / 2  # the same body filmed in a frame twice as wide
    lm[..., 2] /= 2
    body = normalize_to_body(lm, np.ones(3, dtype=bool), aspect=2.0)
    np.testing.assert_allclose(body, normalize_to_body(body_landmarks(), np.ones(3, dtype=bool)), atol=1e-6)


# --------------------------------------------------------------------------- mirroring


def test_mirror_skeleton_swaps_left_and_right_and_negates_x() -> None:
    body = np.random.default_rng(0).normal(size=(4, 33, 3)).astype(np.float32)
    mirrored = mirror_skeleton(body)
    names = list(LANDMARK_NAMES)  # the synthetic figure's independent list of MediaPipe names

    def partner(name: str) -> str:
        for a, b in (("left", "right"), ("right", "left")):
            if a in name:
                return name.replace(a, b)
        return name

    for i, name in enumerate(names):
        j = names.index(partner(name))
        np.testing.assert_array_equal(mirrored[:, i, 0], -body[:, j, 0])
        np.testing.assert_array_equal(mirrored[:, i, 1:], body[:, j, 1:])
    np.testing.assert_array_equal(mirror_skeleton(mirrored), body)


# --------------------------------------------------------------------------- smoothing


def test_smoothing_averages_present_frames_only() -> None:
    values = np.array([0.0, 3.0, np.nan, 6.0, 9.0], dtype=np.float32)[:, None]
    present = np.array([True, True, False, True, True])
    out = smooth_present(values, present, window=3)
    np.testing.assert_allclose(out[:, 0], [1.5, 1.5, np.nan, 7.5, 7.5])
    np.testing.assert_array_equal(smooth_present(values, present, window=0), values)


# --------------------------------------------------------------------------- ground truth


def test_groundtruth_source_reads_landmarks_and_honours_the_stride(tmp_path: Path) -> None:
    lm = np.repeat(body_landmarks(1), 7, axis=0)
    lm[:, 0, 0] += np.arange(7, dtype=np.float32) * 0.01  # nose moves right, 0.025 torso/frame
    lm[5] = np.nan  # no person in frame 5
    video = tmp_path / "clip.mp4"  # the video itself need not exist for ground truth
    np.save(landmarks_path(video), lm)
    out = extract_skeleton(video, SkeletonConfig(source="groundtruth", frame_stride=2, holistic=True))
    assert set(out) == {"landmarks", "present", "frame_indices", "body"}
    np.testing.assert_array_equal(out["frame_indices"], [0, 2, 4, 6])
    assert out["frame_indices"].dtype == np.int32
    np.testing.assert_array_equal(out["present"], [True, True, True, True])
    np.testing.assert_array_equal(out["landmarks"], lm[::2])
    np.testing.assert_allclose(out["body"][:, 0, 0], [0.0, 0.05, 0.1, 0.15], atol=1e-6)

    every = extract_skeleton(video, SkeletonConfig(source="groundtruth"))
    np.testing.assert_array_equal(every["present"], [True] * 5 + [False, True])
    assert np.isnan(every["landmarks"][5]).all() and np.isnan(every["body"][5]).all()


def test_groundtruth_smoothing_skips_absent_frames(tmp_path: Path) -> None:
    lm = np.repeat(body_landmarks(1), 5, axis=0)
    lm[:, 15, 0] = [0.40, 0.44, np.nan, 0.52, 0.56]
    lm[2] = np.nan
    np.save(tmp_path / "v.landmarks.npy", lm)
    out = extract_skeleton(tmp_path / "v.mp4", SkeletonConfig(source="groundtruth", smoothing=3))
    np.testing.assert_allclose(out["landmarks"][:, 15, 0], [0.42, 0.42, np.nan, 0.54, 0.54], atol=1e-6)


def test_missing_groundtruth_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nothing.landmarks.npy")):
        extract_skeleton(tmp_path / "nothing.mp4", SkeletonConfig(source="groundtruth"))


def test_invalid_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bundles only the model_complexity=1"):
        extract_skeleton(tmp_path / "x.mp4", SkeletonConfig(model_complexity=2))
    with pytest.raises(ValueError, match="mediapipe, groundtruth"):
        extract_skeleton(tmp_path / "x.mp4", SkeletonConfig(source="openpose"))
    with pytest.raises(VideoDecodeError, match="x.mp4"):
        extract_skeleton(tmp_path / "x.mp4", SkeletonConfig())


# --------------------------------------------------------------------------- MediaPipe


def test_mediapipe_finds_nobody_in_a_plain_gradient(tmp_path: Path) -> None:
    ramp = np.linspace(40, 210, 96, dtype=np.float32)
    frame = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1).astype(np.uint8)
    video = write_mp4(tmp_path / "empty.mp4", np.repeat(frame[None], 6, axis=0))
    for holistic in (False, True):
        out = extract_skeleton(video, SkeletonConfig(holistic=holistic))
        assert not out["present"].any() and len(out["present"]) == 6
        assert np.isnan(out["landmarks"]).all() and np.isnan(out["body"]).all()
        assert ("hands" in out) == holistic
    assert out["hands"].shape == (6, 2, 21, 3) and np.isnan(out["hands"]).all()


def test_mediapipe_finds_the_figure_in_megamind(tmp_path: Path) -> None:
    out = extract_skeleton(megamind(tmp_path), SkeletonConfig(frame_stride=2))
    assert out["landmarks"].shape == (135, 33, 4) and out["landmarks"].dtype == np.float32
    np.testing.assert_array_equal(out["frame_indices"], np.arange(0, 270, 2))
    assert out["present"].mean() >= 0.9
    # Head and shoulders only: the hips are out of view, so the scale is the shoulder width.
    shoulders = np.linalg.norm(
        out["body"][out["present"], 11, :2] - out["body"][out["present"], 12, :2], axis=-1
    )
    assert np.median(shoulders) == pytest.approx(1.0, abs=1e-3)
    assert np.isnan(out["body"][~out["present"]]).all()
