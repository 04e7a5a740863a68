"""Cues: cached arrays resampled to the decoded frames, model inputs mirrored consistently
with the frames, and each cue building its own stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detection.data.cues import FlowCue, RGBCue, SkeletonCue, nearest_entries
from perception.flow import FlowConfig
from perception.skeleton import SkeletonConfig

FLOW = FlowCue(FlowConfig(), encoder=None)
SKELETON = SkeletonCue(SkeletonConfig(), encoder=None)


def test_nearest_entries_picks_the_closest_frame_index():
    entries = np.array([0, 2, 4, 6])
    assert nearest_entries(entries, np.array([0, 1, 3, 5, 6, 9])).tolist() == [0, 0, 1, 2, 3, 3]


def test_flow_at_a_finer_stride_is_subsampled_to_the_decoded_frames():
    flow = np.arange(10, dtype=np.int8).reshape(10, 1, 1, 1).repeat(2, axis=-1)
    arrays = {"flow": flow, "frame_indices": np.arange(10), "clip": np.float32(4.0)}
    aligned = FLOW.align(arrays, frame_count=4, frame_stride=3)  # frames 0, 3, 6, 9
    assert aligned["flow"][:, 0, 0, 0].tolist() == [0, 3, 6, 9]


def test_skeleton_tensor_carries_presence_and_zeroes_absent_frames():
    body = np.ones((3, 33, 3), dtype=np.float32)
    body[1] = np.nan
    arrays = {"body": body, "present": np.array([True, False, True]), "frame_indices": np.arange(3)}
    tensor = SKELETON.model_input(SKELETON.align(arrays, 3, 1))
    assert tensor.shape == (3, 33, 4)
    assert tensor[:, 0, 3].tolist() == [1.0, 0.0, 1.0]
    assert torch.all(tensor[1] == 0) and torch.all(tensor[0, :, :3] == 1)


def test_mirroring_flips_flow_direction_and_swaps_left_right_joints():
    flow = np.zeros((1, 4, 4, 2), dtype=np.int8)
    flow[0, :, 0, 0] = 100  # rightward motion in the left column
    stored = {"flow": flow, "clip": 4.0}
    mirrored = FLOW.model_input(stored, mirror=True)
    assert float(mirrored[0, 0, 3, 0]) < 0 and float(mirrored[0, 0, 0, 0]) == 0  # leftward, right column

    body = np.zeros((1, 33, 3), dtype=np.float32)
    body[0, 11] = [0.5, 0.1, 0.0]  # left shoulder
    skeleton = SKELETON.model_input({"body": body, "present": np.array([True])}, mirror=True)
    assert skeleton[0, 12, :3].tolist() == pytest.approx([-0.5, 0.1, 0.0])  # now the right shoulder
    assert skeleton[0, 11, :3].tolist() == pytest.approx([0.0, 0.0, 0.0])


def test_collate_mirrors_frames_and_cues_together():
    from detection.data.augment import ClipAugmentation
    from detection.data.dataset import Collate, VideoSample

    frames = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    frames[:, :, 0] = 255  # a bright left column
    flow = np.zeros((4, 8, 8, 2), dtype=np.int8)
    flow[:, :, 0, 0] = 50
    sample = VideoSample(
        "v",
        frames,
        30.0,
        1.0,
        2 / 30,
        np.zeros((0, 2), np.float32),
        np.zeros(0, np.int64),
        {"flow": {"flow": flow, "clip": 4.0}},
    )
    augment = ClipAugmentation(channel_shuffle=0, gain=0, grayscale=0, hflip=1.0)
    batch = Collate(2, 4, augment, np.random.default_rng(0), cues={"rgb": RGBCue(), "flow": FLOW})([sample])
    rgb, moved = batch.inputs["rgb"][0], batch.inputs["flow"][0]
    assert int(rgb[0, 0, -1, 0]) == 255 and int(rgb[0, 0, 0, 0]) == 0
    assert float(moved[0, 0, -1, 0]) < 0 and float(moved[0, 0, 0, 0]) == 0


def test_rgb_is_the_backbone_and_encoded_cues_build_their_encoder_with_the_time_axis():
    class Backbone(torch.nn.Module):
        tubelet = 2

    backbone = Backbone()
    built = []

    def encoder(step_frames, dim):
        built.append((step_frames, dim))
        return torch.nn.Identity()

    assert RGBCue().build_stream(backbone, 16) is backbone
    FlowCue(FlowConfig(), encoder).build_stream(backbone, 16)
    SkeletonCue(SkeletonConfig(), encoder).build_stream(backbone, 24)
    assert built == [(2, 16), (2, 24)]


def test_random_resized_crop_cuts_one_box_per_clip_and_resizes_it_back():
    import cv2

    from detection.data.augment import ClipAugmentation, random_resized_box

    ys, xs = np.mgrid[0:32, 0:32]
    base = np.stack([xs * 8, ys * 8, (xs + ys) * 4], axis=-1).astype(np.uint8)  # every pixel distinct
    frames = np.stack([base, base, base])
    crop = ClipAugmentation(channel_shuffle=0, gain=0, grayscale=0, hflip=0, crop_area=(0.25, 0.25), crop_aspect=(1, 1))
    out = crop(frames, np.random.default_rng(3))
    assert out.shape == frames.shape
    assert (out[0] == out[1]).all() and (out[1] == out[2]).all()  # same box for every frame
    x0, y0, w, h = random_resized_box(32, 32, np.random.default_rng(3), (0.25, 0.25), (1, 1))
    assert (w, h) == (16, 16)
    expected = cv2.resize(base[y0 : y0 + h, x0 : x0 + w], (32, 32), interpolation=cv2.INTER_LINEAR)
    assert (out[0] == expected).all() and not (out[0] == base).all()


def test_random_resized_box_areas_and_aspects_stay_in_their_ranges():
    from detection.data.augment import random_resized_box

    rng = np.random.default_rng(0)
    for _ in range(200):
        x0, y0, w, h = random_resized_box(90, 160, rng, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 <= x0 and x0 + w <= 160 and 0 <= y0 and y0 + h <= 90
        if (w, h) != (160, 90):  # the fallback is the whole frame
            assert 0.07 <= w * h / (90 * 160) <= 1.01 and 0.7 <= w / h <= 1.4


def test_random_resized_crop_rejects_impossible_ranges():
    from detection.data.augment import ClipAugmentation

    with pytest.raises(ValueError, match="crop_area"):
        ClipAugmentation(crop_area=(0.5, 1.5))
    with pytest.raises(ValueError, match="crop_aspect"):
        ClipAugmentation(crop_area=(0.5, 1.0), crop_aspect=(2.0, 1.0))
