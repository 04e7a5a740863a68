import numpy as np
import pytest
import torch

from perception.skeleton import SkeletonConfig
from recognition.dataset import ClipDataset, read_sampled, sample_indices
from recognition.lists import read_split
from recognition.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransform, multiscale_crop_box


def test_tsn_sampling():
    np.testing.assert_array_equal(sample_indices(20, 4, train=False), [2, 7, 12, 17])  # segment centres
    np.testing.assert_array_equal(sample_indices(3, 8, train=False), [0, 0, 0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(sample_indices(3, 8, train=True), [0, 0, 0, 1, 1, 1, 2, 2])
    rng = np.random.default_rng(0)
    draws = np.stack([sample_indices(23, 4, True, rng) for _ in range(200)])  # segments of 5 frames
    for i in range(4):
        assert set(draws[:, i]) == set(range(5 * i, 5 * i + 5))


def test_multiscale_crop_uses_the_fixed_grid():
    rng = np.random.default_rng(0)
    sides = [72, 63, 54, 47]  # int(72 * s) for s in 1, .875, .75, .66
    allowed = {(w, h) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= 1}
    grid = {
        (0, 0),
        (4, 0),
        (0, 4),
        (4, 4),
        (2, 2),
        (0, 2),
        (4, 2),
        (2, 4),
        (2, 0),
        (1, 1),
        (3, 1),
        (1, 3),
        (3, 3),
    }
    positions = set()
    for _ in range(3000):
        x0, y0, w, h = multiscale_crop_box(72, 96, rng)
        assert (w, h) in allowed and x0 + w <= 96 and y0 + h <= 72
        ws, hs = (96 - w) // 4, (72 - h) // 4
        assert x0 in {0, ws, 2 * ws, 3 * ws, 4 * ws} and y0 in {0, hs, 2 * hs, 3 * hs, 4 * hs}
        if (w, h) == (54, 47):  # both steps non-zero: the position on the grid is unambiguous
            assert (x0 // ws, y0 // hs) in grid
            positions.add((x0 // ws, y0 // hs))
    assert positions == grid  # corners, centre, edge midpoints and quarter points


def _marker_clip(x, y, height=80, width=120, frames=2):
    clip = np.zeros((frames, height, width, 3), np.uint8)
    clip[:, y - 2 : y + 2, x - 2 : x + 2] = 255
    landmarks = np.full((frames, 33, 4), 0.5, np.float32)
    landmarks[:, 15, :2] = [x / width, y / height]  # subject's left wrist on the marker
    landmarks[:, 16, :2] = [0.1, 0.1]
    return clip, landmarks


def _bright_centre(image):
    ys, xs = np.nonzero(image.mean(axis=0) > 0)
    return xs.mean() + 0.5, ys.mean() + 0.5


@pytest.mark.parametrize("train, flip", [(False, 0.0), (True, 0.0), (True, 1.0)])
def test_landmarks_follow_the_pixels(train, flip):
    clip, landmarks = _marker_clip(90, 30)
    transform = ClipTransform(train=train, crop_size=48, scale_size=56, flip_prob=flip)
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(8):
        pixels, mapped, flipped = transform(clip, landmarks, rng if train else None)
        assert pixels.shape == (2, 3, 48, 48) and flipped == (flip == 1.0)
        raw = pixels[0].numpy() * IMAGENET_STD[:, None, None] + IMAGENET_MEAN[:, None, None]
        wrist = 16 if flipped else 15  # after a mirror the subject's left wrist is listed as right
        if (raw.mean(axis=0) > 128).any():
            hits += 1
            cx, cy = _bright_centre(raw > 128)
            assert mapped[0, wrist, 0].item() == pytest.approx(cx, abs=1.0)
            assert mapped[0, wrist, 1].item() == pytest.approx(cy, abs=1.0)
        else:  # the crop missed the marker: so must the landmark
            x, y = mapped[0, wrist, :2].tolist()
            assert not (1 < x < 47 and 1 < y < 47)
    assert hits >= 4
    if not train:
        # test: short side 80 -> 56 (width 84), centre crop 48 at x0 = 18, y0 = 4
        assert mapped[0, 15, 0].item() == pytest.approx(90 / 120 * 84 - 18, abs=1e-4)
        assert mapped[0, 15, 1].item() == pytest.approx(30 / 80 * 56 - 4, abs=1e-4)


def test_decoding_picks_the_sampled_frames(clip_root):
    frames, indices = read_sampled(
        clip_root / "train" / "0001_01_0001.mp4", lambda n: np.array([n - 1, 0, 7])
    )
    np.testing.assert_array_equal(indices, [19, 0, 7])
    # the test video's green level is 8 x frame index (x264 at crf 10 keeps it within a few levels)
    np.testing.assert_allclose(frames[:, 40, 40, 1], [152, 0, 56], atol=4)


@pytest.mark.parametrize("cache_decoded", [False, True])
def test_clip_dataset_test_mode(clip_root, cache_decoded):
    items = read_split(clip_root, "train")
    dataset = ClipDataset(
        items,
        num_segments=4,
        transform=ClipTransform(train=False, crop_size=40, scale_size=44),
        skeleton=SkeletonConfig(source="groundtruth"),
        cache_decoded=cache_decoded,
    )
    sample = dataset[0]
    assert sample["frames"].shape == (4, 3, 40, 40) and sample["landmarks"].shape == (4, 33, 4)
    assert (sample["label"], sample["body"], sample["file"]) == (9, 1, "0001_01_0001.mp4")
    np.testing.assert_array_equal(sample["frame_indices"], [2, 7, 12, 17])
    green = sample["frames"][:, 1, 30, 30] * IMAGENET_STD[1] + IMAGENET_MEAN[1]
    np.testing.assert_allclose(green.numpy(), [16, 56, 96, 136], atol=5)
    # landmarks of the same frames: the nose x encodes the frame index (44 / 48 resize, 40-crop offset)
    nose_x = sample["landmarks"][:, 0, 0].numpy()
    width = round(64 * 44 / 48)
    np.testing.assert_allclose(nose_x, np.array([2, 7, 12, 17]) / 100 * width - (width - 40) // 2, atol=1e-4)
    assert dataset[1]["label"] == 43 and dataset[1]["body"] == 5


def test_clip_dataset_training_is_seeded_per_epoch_and_masks_absent_frames(clip_root, tmp_path):
    items = read_split(clip_root, "train")
    dataset = ClipDataset(
        items,
        num_segments=20,
        transform=ClipTransform(train=True, crop_size=32, scale_size=40),
        skeleton=SkeletonConfig(source="groundtruth"),
        cue_cache=tmp_path / "cache",
        seed=7,
    )
    first, again = dataset[0], dataset[0]
    torch.testing.assert_close(first["frames"], again["frames"])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0]["frames"], first["frames"])  # another crop or flip
    # 20 segments of a 20-frame clip: every frame once, frame 5 has no person
    np.testing.assert_array_equal(first["frame_indices"], np.arange(20))
    assert torch.isnan(first["landmarks"][5]).all() and torch.isfinite(first["landmarks"][4, :, :2]).all()
    assert list((tmp_path / "cache" / "skeleton").glob("0001_01_0001.*.npz"))  # the shared cue cache
