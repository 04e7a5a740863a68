"""Tests of the synthetic MMA-52 generator: format, determinism, statistics and motion."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perception.synthetic import DEFAULT_CLASSES, SyntheticConfig, generate
from perception.synthetic import figure as fig
from perception.synthetic import generator as gen
from perception.synthetic.motions import MOTIONS, SUPPORTED_CLASSES, apply_instance
from perception.synthetic.stats import STATS_PATH, load_stats
from perception.synthetic.timeline import Instance, Timeline, sample_timeline
from perception.taxonomy import NUM_ACTIONS
from tests.conftest import REPO_ROOT

REPO = REPO_ROOT
REAL_CSV = REPO.parent / "shared" / "data" / "mma52" / "train.csv"
HEADER = "id,video_id,start_frame,end_frame,class,total_frames,fps"


def tiny(root: Path, **overrides) -> SyntheticConfig:
    base = dict(
        root=root, num_train=4, num_val=2, num_test=2, seed=7, size=64, videos_per_subject=2, workers=1
    )
    base.update(overrides)
    return SyntheticConfig(**base)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> SyntheticConfig:
    config = tiny(tmp_path_factory.mktemp("synthetic") / "a")
    generate(config, progress=False)
    return config


def _decode(path: Path) -> np.ndarray:
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _split_files(root: Path) -> list[Path]:
    return sorted(p for split in gen.SPLITS for p in (root / split).iterdir())


# --------------------------------------------------------------------------- layout and format


def test_csv_layout(dataset: SyntheticConfig) -> None:
    root = Path(dataset.root)
    for split in gen.SPLITS:
        text = (root / f"{split}.csv").read_text()
        assert text.splitlines()[0] == HEADER
        frame = pd.read_csv(root / f"{split}.csv")
        assert list(frame["id"]) == list(range(len(frame)))
        assert frame["video_id"].str.fullmatch(rf"{split}\d{{4}}").all()
        assert frame["video_id"].nunique() == dataset.count(split)  # every video has >= 1 instance
        assert ((frame.start_frame >= 0) & (frame.start_frame < frame.end_frame)).all()
        assert (frame.end_frame <= frame.total_frames).all()
        assert all(line.endswith(",30.0") for line in text.splitlines()[1:])
        assert set(frame["class"]) <= set(dataset.classes)


def test_videos_and_landmarks_match_csv(dataset: SyntheticConfig) -> None:
    import av

    root = Path(dataset.root)
    frame = pd.concat([pd.read_csv(root / f"{s}.csv").assign(split=s) for s in gen.SPLITS])
    for (split, vid), rows in frame.groupby(["split", "video_id"]):
        total = int(rows.total_frames.iloc[0])
        assert 5.0 <= total / 30.0 <= 15.0
        frames = _decode(root / split / f"{vid}.mp4")
        assert frames.shape == (total, dataset.size, dataset.size, 3)
        landmarks = np.load(root / split / f"{vid}.landmarks.npy")
        assert landmarks.dtype == np.float32 and landmarks.shape == (total, 33, 4)
        assert np.all(landmarks[..., 3] == 1.0)
        assert landmarks[..., :2].min() > 0.0 and landmarks[..., :2].max() < 1.0
    with av.open(str(root / "train" / "train0000.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.format.name == "yuv420p"
        decoded = sum(1 for _ in container.decode(stream))
    first = pd.read_csv(root / "train.csv").query("video_id == 'train0000'")
    assert decoded == int(first.total_frames.iloc[0])


def test_landmarks_follow_mediapipe_order(dataset: SyntheticConfig) -> None:
    lm = np.load(Path(dataset.root) / "train" / "train0001.landmarks.npy")
    x, y = lm[..., 0].mean(0), lm[..., 1].mean(0)
    # The subject faces the camera: their left side appears on the image's right.
    for left, right in ((2, 5), (7, 8), (11, 12), (23, 24), (25, 26)):
        assert x[left] > x[right]
    # Top to bottom: eyes, nose, mouth, shoulders, hips, ankles, heels.
    assert y[2] < y[0] < y[9] < y[11] < y[23] < y[27] < y[29]


def test_subjects_are_disjoint_across_splits(dataset: SyntheticConfig) -> None:
    with open(Path(dataset.root) / "subjects.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == dataset.num_train + dataset.num_val + dataset.num_test
    splits_of: dict[str, set[str]] = {}
    for row in rows:
        assert row["video_id"].startswith(row["split"])
        splits_of.setdefault(row["subject_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    assert len(splits_of) == 2 + 1 + 1  # videos_per_subject=2


# --------------------------------------------------------------------------- determinism and caching


def test_same_seed_is_bit_identical_and_seed_matters(dataset: SyntheticConfig, tmp_path: Path) -> None:
    again = generate(tiny(tmp_path / "b", workers=2), progress=False)  # worker count must not matter
    first = Path(dataset.root)
    for split in gen.SPLITS:
        assert (first / f"{split}.csv").read_bytes() == (again / f"{split}.csv").read_bytes()
    names = [p.name for p in _split_files(first)]
    assert names == [p.name for p in _split_files(again)]
    for a in _split_files(first):
        b = again / a.parent.name / a.name
        if a.name.endswith(".npy"):
            assert np.array_equal(np.load(a), np.load(b))
        else:
            assert np.array_equal(_decode(a), _decode(b))

    other = generate(tiny(tmp_path / "c", seed=8, num_val=0, num_test=0), progress=False)
    assert (other / "train.csv").read_bytes() != (first / "train.csv").read_bytes()
    assert not np.array_equal(
        _decode(other / "train" / "train0000.mp4")[:100], _decode(first / "train" / "train0000.mp4")[:100]
    )


def test_regeneration_is_skipped_only_for_the_same_config(tmp_path: Path, monkeypatch) -> None:
    import perception.synthetic.generator as generator

    config = tiny(tmp_path, num_train=1, num_val=1, num_test=1)
    generate(config, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    with monkeypatch.context() as patch:  # the same config must not plan or render anything
        patch.setattr(generator, "plan", lambda *a: pytest.fail("planned a dataset that exists"))
        patch.setattr(generator, "_make_video", lambda *a: pytest.fail("rendered a video that exists"))
        generate(config, progress=False)
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}

    changed = tiny(tmp_path, num_train=1, num_val=1, num_test=1, seed=99)
    generate(changed, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config_hash"] == changed.config_hash() != config.config_hash()
    assert manifest["config"]["seed"] == 99
    assert (tmp_path / "train" / "train0000.mp4").stat().st_mtime_ns != stamps[
        tmp_path / "train" / "train0000.mp4"
    ]


def test_interrupted_generation_leaves_no_manifest(tmp_path: Path, monkeypatch) -> None:
    config = tiny(tmp_path, num_train=2, num_val=0, num_test=0)
    real = gen._make_video
    calls = []

    def failing(job):
        calls.append(job[1].video_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(gen, "_make_video", failing)
    with pytest.raises(KeyboardInterrupt):
        generate(config, progress=False)
    assert not (tmp_path / "manifest.json").exists() and not gen.is_complete(config)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files behind
    monkeypatch.setattr(gen, "_make_video", real)
    generate(config, progress=False)
    assert gen.is_complete(config)


def test_config_validation(monkeypatch) -> None:
    with pytest.raises(ValueError, match="unknown micro-action classes \\[52\\]"):
        SyntheticConfig(classes=(9, 52))
    with pytest.raises(ValueError, match="even"):
        SyntheticConfig(size=161)
    assert SyntheticConfig(classes=(10, 9, 9)).classes == (9, 10)
    monkeypatch.delitem(MOTIONS, 45)  # a class without a motion is refused, not silently skipped
    with pytest.raises(ValueError, match="no synthetic motion for classes \\[45\\]"):
        SyntheticConfig(classes=(9, 45))


# --------------------------------------------------------------------------- timelines vs real statistics


@pytest.fixture(scope="module")
def many_timelines() -> list[Timeline]:
    rng = np.random.default_rng(0)
    return [sample_timeline(rng, DEFAULT_CLASSES, 30.0) for _ in range(3000)]


def test_durations_and_instance_counts(many_timelines: list[Timeline]) -> None:
    seconds = np.array([t.duration_s for t in many_timelines])
    assert seconds.min() >= 5.0 and seconds.max() <= 15.0
    assert seconds.std() > 1.5  # spread like the real videos, not a constant length
    counts = np.array([len(t.instances) for t in many_timelines])
    assert counts.min() >= 1 and 2.5 < counts.mean() < 3.5  # real mean is 13698/4534 = 3.02


def test_no_same_limb_or_same_class_overlap(many_timelines: list[Timeline]) -> None:
    overlapping_pairs = 0
    for timeline in many_timelines:
        items = timeline.instances
        for i, a in enumerate(items):
            assert 0 <= a.start < a.end <= timeline.total_frames
            for b in items[i + 1 :]:
                if max(a.start, b.start) < min(a.end, b.end):
                    overlapping_pairs += 1
                    assert a.cls != b.cls
                    assert not set(a.limbs) & set(b.limbs), (a, b)
    assert overlapping_pairs > 500  # multi-label: different limbs do overlap


def _spearman(a, b) -> float:
    return float(np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1])


def test_class_frequencies_follow_real_data(many_timelines: list[Timeline]) -> None:
    counts = Counter(inst.cls for t in many_timelines for inst in t.instances)
    real = load_stats().class_counts
    assert set(counts) == set(DEFAULT_CLASSES)
    assert _spearman([real[c] for c in DEFAULT_CLASSES], [counts[c] for c in DEFAULT_CLASSES]) > 0.5


def test_enabled_classes_only_and_all_present() -> None:
    config = SyntheticConfig(num_train=300, num_val=50, num_test=50, classes=(9, 19, 24, 43, 48))
    seen = Counter(inst.cls for video in gen.plan(config) for inst in video.timeline.instances)
    assert set(seen) == {9, 19, 24, 43, 48}


def test_durations_follow_each_class(many_timelines: list[Timeline]) -> None:
    stats = load_stats()
    lengths: dict[int, list[float]] = {}
    for t in many_timelines:
        for inst in t.instances:
            lengths.setdefault(inst.cls, []).append((inst.end - inst.start) / t.fps)
    # Hands touching fingers (21) are long holds in the real data, nodding (9) is short.
    assert np.median(lengths[21]) > 2 * np.median(lengths[9])
    assert abs(np.median(lengths[9]) - stats.class_duration_quantiles[9][10]) < 0.5


# --------------------------------------------------------------------------- motion


def _single_instance(cls: int, subject: int, side: int, idle: float, with_instance: bool = True):
    config = SyntheticConfig(size=160, idle=idle, seed=subject)
    instances = (Instance(cls, 60, 120, side),) if with_instance else ()
    video = gen.VideoPlan("train", subject, "train0000", subject, Timeline(180, 30.0, instances))
    app, cam, _ = gen.subject_appearance(config, subject)
    return fig.landmarks33(cam, gen.animate(config, video, app), config.size)


@pytest.mark.parametrize("cls", SUPPORTED_CLASSES)
def test_peak_displacement_is_small_but_visible(cls: int) -> None:
    spec = MOTIONS[cls]
    for subject in range(4):
        side = subject % 2
        lm = _single_instance(cls, subject, side, idle=0.0)[..., :2]
        rest = lm[0]
        displacement = np.linalg.norm(lm - rest, axis=-1) / fig.figure_height(rest)
        assert displacement.max() <= spec.max_displacement, spec.name
        assert displacement[:, list(spec.landmarks_of(side))].max() > 0.005, spec.name  # >~0.5 px at 160


@pytest.mark.parametrize("cls", DEFAULT_CLASSES)
def test_motion_happens_inside_the_instance_window(cls: int) -> None:
    spec = MOTIONS[cls]
    with_action = _single_instance(cls, 3, 1, idle=1.0)
    without = _single_instance(cls, 3, 1, idle=1.0, with_instance=False)
    # The class motion is confined to frames [60, 120): outside them the two renders agree exactly.
    assert np.array_equal(with_action[:60], without[:60]) and np.array_equal(with_action[120:], without[120:])
    joints = list(spec.landmarks_of(1))
    speed = np.linalg.norm(np.diff(with_action[:, joints, :2], axis=0), axis=-1).mean(axis=1)
    inside, outside = speed[60:119].mean(), np.concatenate([speed[:59], speed[120:]]).mean()
    assert inside > 2.0 * outside, (spec.name, inside, outside)


def test_motions_are_distinguishable() -> None:
    """Every pair of default classes moves some landmark >= 2 px apart (at 160 px) over the
    same instance window, so no two classes are the same motion under different names."""
    signatures = {}
    for cls in DEFAULT_CLASSES:
        rng = np.random.default_rng(0)
        track = fig.PoseTrack(90)
        apply_instance(track, cls, 0, 90, 30.0, 1, 1.0, rng)
        app = fig.sample_appearance(np.random.default_rng(1))
        lm = fig.landmarks33(fig.make_camera(app, 160), fig.skeleton(app, track), 160)[..., :2]
        signatures[cls] = (lm - lm[0]).reshape(90, -1)
    for a in DEFAULT_CLASSES:
        for b in DEFAULT_CLASSES:
            if a < b:
                diff = np.abs(signatures[a] - signatures[b]).max()
                assert diff > 2.0 / 160, (a, b)


# --------------------------------------------------------------------------- statistics file


def test_packaged_statistics_are_small_and_consistent() -> None:
    assert STATS_PATH.stat().st_size < 100_000
    raw = json.loads(STATS_PATH.read_text())
    assert len(raw["class_counts"]) == NUM_ACTIONS and sum(raw["class_counts"]) == raw["num_instances"]
    assert sum(raw["instances_per_video"].values()) == raw["num_videos"]
    co = np.array(raw["cooccurrence_video"])
    assert co.shape == (NUM_ACTIONS, NUM_ACTIONS) and np.array_equal(co, co.T)
    assert np.array_equal(np.array(raw["cooccurrence_overlap"]), np.array(raw["cooccurrence_overlap"]).T)
    for q in raw["class_duration_quantiles_s"]:
        assert q is None or np.all(np.diff(q) >= 0)


@pytest.mark.skipif(not REAL_CSV.exists(), reason="real MMA-52 train.csv not available")
def test_stats_script_reproduces_packaged_json(tmp_path: Path) -> None:
    out = tmp_path / "stats.json"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "derive_mma52_stats.py"),
            "--csv",
            str(REAL_CSV),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == STATS_PATH.read_bytes()
