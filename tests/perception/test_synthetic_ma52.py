"""Synthetic MA-52: the real list layout, hidden test labels, subject-disjoint splits, class
frequencies from the real list, determinism, manifest reuse and atomic writing."""

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

from perception.synthetic import SyntheticMA52Config, generate_ma52, ma52
from perception.synthetic import __main__ as cli
from perception.synthetic import figure as fig
from perception.taxonomy import NUM_ACTIONS

REPO = Path(__file__).resolve().parents[2]
REAL_LIST = REPO.parent / "shared" / "data" / "ma52" / "train_list_videos.txt"
CLASSES = (9, 19, 24, 43)
NAME = r"\d{4}_\d{2}_\d{4}\.mp4"


def tiny(root: Path, **overrides) -> SyntheticMA52Config:
    base = dict(
        root=root,
        num_train=8,
        num_val=4,
        num_test=4,
        seed=3,
        classes=CLASSES,
        size=64,
        clips_per_subject=3,
        min_per_class=1,
        workers=1,
    )
    base.update(overrides)
    return SyntheticMA52Config(**base)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> SyntheticMA52Config:
    config = tiny(tmp_path_factory.mktemp("ma52") / "a")
    generate_ma52(config, progress=False)
    return config


def read_list(path: Path) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text().splitlines():
        name, label = line.split(" ")
        rows.append((name, int(label)))
    return rows


def _decode(path: Path) -> np.ndarray:
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def _spearman(a, b) -> float:
    return float(np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1])


# --------------------------------------------------------------------------- layout


def test_layout_and_list_format(dataset: SyntheticMA52Config) -> None:
    root = Path(dataset.root)
    names = sorted(p.name for p in root.iterdir())
    assert names == sorted(
        [f"{s}_list_videos.txt" for s in ma52.SPLITS]
        + list(ma52.SPLITS)
        + ["manifest.json", "subjects.csv", "test_labels.txt"]
    )
    for split in ma52.SPLITS:
        text = (root / f"{split}_list_videos.txt").read_text()
        assert text.endswith("\n") and "\r" not in text
        rows = read_list(root / f"{split}_list_videos.txt")
        assert len(rows) == dataset.count(split)
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # sorted like the real lists
        files = sorted(p.name for p in (root / split).iterdir())
        stems = [name[: -len(".mp4")] for name, _ in rows]
        assert files == sorted([f"{s}.mp4" for s in stems] + [f"{s}.landmarks.npy" for s in stems])
        for name, label in rows:
            assert pd.Series([name]).str.fullmatch(NAME).all(), name
            assert label in CLASSES or (split == "test" and label == 0)


def test_test_labels_are_hidden_and_kept_aside(dataset: SyntheticMA52Config) -> None:
    root = Path(dataset.root)
    listed = read_list(root / "test_list_videos.txt")
    hidden = read_list(root / "test_labels.txt")
    assert all(label == 0 for _, label in listed)  # as in the real release
    assert [n for n, _ in hidden] == [n for n, _ in listed]
    assert set(label for _, label in hidden) == set(CLASSES)  # min_per_class=1: every class
    truth = {c.file: c.label for c in ma52.plan(dataset) if c.split == "test"}
    assert dict(hidden) == truth


def test_clips_show_one_action_and_match_their_landmarks(dataset: SyntheticMA52Config) -> None:
    import av

    root = Path(dataset.root)
    by_file = {c.file: c for c in ma52.plan(dataset)}
    for split in ma52.SPLITS:
        for name, _ in read_list(root / f"{split}_list_videos.txt"):
            clip = by_file[name]
            total = clip.timeline.total_frames
            assert 1.0 <= total / dataset.fps <= 4.0
            (instance,) = clip.timeline.instances  # exactly one micro-action
            assert instance.cls == clip.label
            assert instance.start > 0 and instance.end < total  # a little idle before and after
            assert (instance.end - instance.start) / total >= 0.4  # the action fills most of the clip
            frames = _decode(root / split / name)
            assert frames.shape == (total, dataset.size, dataset.size, 3)
            landmarks = np.load(root / split / name.replace(".mp4", ".landmarks.npy"))
            assert landmarks.dtype == np.float32 and landmarks.shape == (total, 33, 4)
            assert landmarks[..., :2].min() > 0.0 and landmarks[..., :2].max() < 1.0
            # the figure moves inside the action and (up to idle life) rests outside it
            rest = landmarks[0, :, :2]
            move = np.linalg.norm(landmarks[..., :2] - rest, axis=-1).max(axis=1) / fig.figure_height(rest)
            assert move[instance.start : instance.end].max() > 2 * move[: instance.start].max()
    with av.open(str(next((root / "train").glob("*.mp4")))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.format.name == "yuv420p"


def test_subjects_are_disjoint_and_named_like_the_real_clips(dataset: SyntheticMA52Config) -> None:
    root = Path(dataset.root)
    with open(root / "subjects.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "subject_id", "split"]
    assert len(rows) == dataset.num_train + dataset.num_val + dataset.num_test
    splits_of: dict[str, set[str]] = {}
    for row in rows:
        assert row["file"].split("_")[0] == row["subject_id"]  # the subject is the first field
        assert row["file"] in dict(read_list(root / f"{row['split']}_list_videos.txt"))
        splits_of.setdefault(row["subject_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    assert len(splits_of) == 3 + 2 + 2  # ceil(8 / 3) + ceil(4 / 3) + ceil(4 / 3)
    per_subject = Counter(row["subject_id"] for row in rows if row["split"] == "train")
    assert sorted(per_subject.values()) == [2, 3, 3]


# --------------------------------------------------------------------------- class counts


def test_every_class_in_every_split_with_the_minimum_and_exact_totals() -> None:
    config = SyntheticMA52Config(min_per_class=3)
    counts = {s: Counter(c.label for c in ma52.plan(config) if c.split == s) for s in ma52.SPLITS}
    for split, counter in counts.items():
        assert set(counter) == set(range(NUM_ACTIONS)), split
        assert min(counter.values()) >= 3
        assert sum(counter.values()) == config.count(split)


def test_class_frequencies_follow_the_real_training_list() -> None:
    stats = json.loads(ma52.MA52_STATS_PATH.read_text())
    real = stats["class_counts"]
    config = SyntheticMA52Config()
    train = Counter(c.label for c in ma52.plan(config) if c.split == "train")
    synthetic = [train[c] for c in range(NUM_ACTIONS)]
    assert _spearman(real, synthetic) > 0.95
    assert train[9] > 50 * train[45]  # nodding (1,283 real clips) vs covering face (6)
    uniform = ma52.split_class_counts(config.num_train, SyntheticMA52Config(balance=1.0))
    assert max(uniform.values()) - min(uniform.values()) <= 1
    halfway = ma52.split_class_counts(config.num_train, SyntheticMA52Config(balance=0.5))
    assert train[9] > halfway[9] > uniform[9]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="num_val=10 cannot hold min_per_class=1 clips of each of 52"):
        SyntheticMA52Config(num_val=10, min_per_class=1)
    with pytest.raises(ValueError, match="unknown micro-action classes"):
        SyntheticMA52Config(classes=(3, 60))
    with pytest.raises(ValueError, match="even"):
        SyntheticMA52Config(size=99)
    with pytest.raises(ValueError, match="do not fit <subject:4>_<session:2>_<clip:4> names"):
        SyntheticMA52Config(clips_per_subject=1000)
    assert SyntheticMA52Config(classes=[9, 3, 3]).classes == (3, 9)  # lists, as Hydra passes them
    assert SyntheticMA52Config(num_val=0).count("val") == 0  # an empty split needs no minimum


def test_hydra_builds_the_config() -> None:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    node = OmegaConf.create(
        {
            "_target_": "perception.synthetic.ma52.SyntheticMA52Config",
            "classes": None,
            "num_train": 200,
            "size": 96,
        }
    )
    config = instantiate(node)
    assert isinstance(config, SyntheticMA52Config) and config.classes == tuple(range(NUM_ACTIONS))
    assert config.num_train == 200 and config.size == 96


# --------------------------------------------------------------------------- determinism, caching, atomicity


def test_same_config_is_identical_for_any_worker_count(dataset: SyntheticMA52Config, tmp_path: Path) -> None:
    again = generate_ma52(tiny(tmp_path / "b", workers=2), progress=False)
    first = Path(dataset.root)
    for name in [f"{s}_list_videos.txt" for s in ma52.SPLITS] + ["test_labels.txt", "subjects.csv"]:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    for split in ma52.SPLITS:
        for a in sorted((first / split).iterdir()):
            b = again / split / a.name
            if a.name.endswith(".npy"):
                assert np.array_equal(np.load(a), np.load(b)), a.name
            else:
                assert np.array_equal(_decode(a), _decode(b)), a.name
    other = tiny(tmp_path / "c", seed=4)
    assert other.config_hash() != tiny(tmp_path / "x").config_hash()
    assert [c.label for c in ma52.plan(other)] != [c.label for c in ma52.plan(dataset)]


def test_manifest_reuse_and_regeneration(tmp_path: Path) -> None:
    config = tiny(tmp_path, num_train=4, num_val=4, num_test=4, clips_per_subject=2)
    generate_ma52(config, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    generate_ma52(config, progress=False)  # same config: nothing is rewritten
    assert stamps == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert ma52.is_complete(config)

    smaller = tiny(tmp_path, num_train=4, num_val=4, num_test=4, clips_per_subject=2, seed=9, classes=(9, 19))
    assert not ma52.is_complete(smaller)
    generate_ma52(smaller, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config_hash"] == smaller.config_hash() and manifest["config"]["classes"] == [9, 19]
    assert manifest["class_counts"]["train"][9] + manifest["class_counts"]["train"][19] == 4
    listed = {n for s in ma52.SPLITS for n, _ in read_list(tmp_path / f"{s}_list_videos.txt")}
    on_disk = {p.name for s in ma52.SPLITS for p in (tmp_path / s).glob("*.mp4")}
    assert listed == on_disk  # clips of the old config that the new one does not make are gone


def _fail_at_frame(monkeypatch, frame: int) -> None:
    """Make rendering raise at the ``frame``-th frame drawn (in the middle of some clip's encoding)."""
    real_draw = fig.draw_frame
    calls = []

    def failing_draw(background, parts, t):
        calls.append(t)
        if len(calls) == frame:
            raise KeyboardInterrupt
        return real_draw(background, parts, t)

    monkeypatch.setattr(fig, "draw_frame", failing_draw)


def test_interrupted_generation_leaves_only_complete_clips(tmp_path: Path, monkeypatch) -> None:
    config = tiny(tmp_path, num_train=4, num_val=4, num_test=4)
    clips = ma52.plan(config)
    ends = np.cumsum([c.timeline.total_frames for c in clips])
    _fail_at_frame(monkeypatch, 50)
    with pytest.raises(KeyboardInterrupt):
        generate_ma52(config, progress=False)
    broken = int(np.searchsorted(ends, 50))  # the clip being encoded when it failed (workers=1)
    assert not (tmp_path / "manifest.json").exists() and not ma52.is_complete(config)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files behind
    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.mp4"))
    assert on_disk == sorted(f"{c.split}/{c.file}" for c in clips[:broken])  # no partial mp4
    for clip in clips[:broken]:
        assert len(_decode(tmp_path / clip.split / clip.file)) == clip.timeline.total_frames
    monkeypatch.undo()
    generate_ma52(config, progress=False)
    assert ma52.is_complete(config)


def test_interrupted_regeneration_leaves_no_manifest_or_stale_lists(tmp_path: Path, monkeypatch) -> None:
    generate_ma52(tiny(tmp_path, num_train=4, num_val=4, num_test=4), progress=False)
    changed = tiny(tmp_path, num_train=4, num_val=4, num_test=4, seed=11)
    _fail_at_frame(monkeypatch, 100)
    with pytest.raises(KeyboardInterrupt):
        generate_ma52(changed, progress=False)
    assert not (tmp_path / "manifest.json").exists()
    assert not any((tmp_path / name).exists() for name in ("train_list_videos.txt", "test_labels.txt"))
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.undo()
    generate_ma52(changed, progress=False)
    assert ma52.is_complete(changed)
    assert dict(read_list(tmp_path / "test_labels.txt")) == {
        c.file: c.label for c in ma52.plan(changed) if c.split == "test"
    }


# --------------------------------------------------------------------------- command line and statistics


def test_command_line_writes_ma52_and_keeps_the_mma52_form(tmp_path: Path, capsys) -> None:
    args = ["ma52", "--root", str(tmp_path / "m"), "--num-train", "4", "--num-val", "2", "--num-test", "2"]
    args += ["--classes", "9,19", "--size", "64", "--min-per-class", "1", "--workers", "1", "--quiet"]
    cli.main(args)
    assert "wrote synthetic MA-52" in capsys.readouterr().out
    assert len(read_list(tmp_path / "m" / "train_list_videos.txt")) == 4
    cli.main(args)
    assert "already up to date" in capsys.readouterr().out
    old = cli.make_config(cli.build_parser().parse_args(["--root", "x", "--train", "3", "--classes", "9,24"]))
    assert old.num_train == 3 and old.classes == (9, 24)
    with pytest.raises(SystemExit):
        cli.main(["ma52", "--num-val", "5"])  # too few clips for one of each class: a clear error
    assert "cannot hold min_per_class" in capsys.readouterr().err


def test_packaged_ma52_statistics() -> None:
    raw = json.loads(ma52.MA52_STATS_PATH.read_text())
    assert ma52.MA52_STATS_PATH.stat().st_size < 5_000
    assert len(raw["class_counts"]) == NUM_ACTIONS and sum(raw["class_counts"]) == raw["num_clips"]
    assert min(raw["class_counts"]) >= 1 and sum(raw["sessions_per_subject"].values()) == raw["num_subjects"]
    assert ma52.load_ma52_stats().clips_per_session >= 1


@pytest.mark.skipif(not REAL_LIST.exists(), reason="real MA-52 train_list_videos.txt not available")
def test_stats_script_reproduces_packaged_json(tmp_path: Path) -> None:
    out = tmp_path / "stats.json"
    script = REPO / "scripts" / "derive_ma52_stats.py"
    subprocess.run([sys.executable, str(script), "--list", str(REAL_LIST), "--out", str(out)], check=True)
    assert out.read_bytes() == ma52.MA52_STATS_PATH.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_text("0003_01_0001.mp4 9\n0003_01_0002.mp4 nine\n")
    result = subprocess.run(
        [sys.executable, str(script), "--list", str(bad), "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and f"{bad}:2: field 'action_idx' is 'nine'" in result.stderr
