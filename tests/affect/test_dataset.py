"""The emotion format's reader: a valid folder loads, and each kind of bad input stops with
the file, line and field named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from affect.dataset import load_emotion_dataset, read_label_file
from detection.data.annotations import AnnotationError


@pytest.fixture
def copy(tmp_path, tiny_emotion_root) -> Path:
    root = tmp_path / "emotion"
    shutil.copytree(tiny_emotion_root, root)
    return root


def rewrite_rows(root: Path, edit) -> pd.DataFrame:
    """Apply ``edit`` to emotion.csv as a table of strings and write it back."""
    table = pd.read_csv(root / "emotion.csv", dtype=str, keep_default_na=False)
    table = edit(table)
    table.to_csv(root / "emotion.csv", index=False)
    return table


def test_synthetic_set_loads_with_labels_splits_and_annotations(tiny_emotion_root):
    dataset = load_emotion_dataset(tiny_emotion_root)
    assert dataset.label_names == ("calm", "stressed", "engaged")
    assert [len(dataset.split(s)) for s in ("train", "val", "test")] == [6, 3, 6]
    assert dataset.annotated == {v.video_id for v in dataset.videos}  # the generator annotates every video
    csv = pd.read_csv(tiny_emotion_root / "emotion.csv")
    assert [dataset.label_names[v.label] for v in dataset.videos] == list(csv["label"])
    for video in dataset.videos:
        assert video.path == tiny_emotion_root / video.split / f"{video.video_id}.mp4"
        assert video.annotation.instances and 5.0 <= video.duration <= 15.0


def test_splits_are_subject_disjoint(tiny_emotion_root):
    dataset = load_emotion_dataset(tiny_emotion_root)
    subjects = {s: {v.subject_id for v in dataset.split(s)} for s in ("train", "val", "test")}
    assert all(subjects.values())
    assert not subjects["train"] & subjects["val"] and not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]


def test_a_video_without_annotations_gets_its_length_from_the_file(copy):
    first = pd.read_csv(copy / "train.csv")
    video_id = first["video_id"].iloc[0]
    first[first["video_id"] != video_id].to_csv(copy / "train.csv", index=False)
    dataset = load_emotion_dataset(copy)
    video = next(v for v in dataset.videos if v.video_id == video_id)
    assert video_id not in dataset.annotated and not video.annotation.instances
    frames = int(first.loc[first["video_id"] == video_id, "total_frames"].iloc[0])
    assert video.annotation.total_frames == frames and video.annotation.fps == pytest.approx(30.0)


def expect(root: Path, line: int, field: str, words: str) -> None:
    with pytest.raises(AnnotationError) as caught:
        load_emotion_dataset(root)
    error = caught.value
    assert (error.line, error.field) == (line, field), str(error)
    assert words in str(error) and error.path.endswith(("emotion.csv", "labels.yaml", ".csv")), str(error)


def test_missing_column(copy):
    rewrite_rows(copy, lambda t: t.drop(columns=["subject_id"]))
    expect(copy, 1, "subject_id", "missing column")


def test_unknown_label_names_the_line_and_the_valid_labels(copy):
    rewrite_rows(copy, lambda t: t.assign(label=t["label"].where(t.index != 4, "happy")))
    expect(copy, 6, "label", "unknown label 'happy' (labels.yaml has calm, stressed, engaged)")


def test_unknown_split(copy):
    rewrite_rows(copy, lambda t: t.assign(split=t["split"].where(t.index != 0, "dev")))
    expect(copy, 2, "split", "unknown split 'dev'")


def test_duplicate_video(copy):
    rewrite_rows(copy, lambda t: pd.concat([t, t.iloc[[1]]], ignore_index=True))
    expect(copy, 17, "video_id", "already listed on line 3")


def test_empty_cell(copy):
    rewrite_rows(copy, lambda t: t.assign(subject_id=t["subject_id"].where(t.index != 2, "")))
    expect(copy, 4, "subject_id", "missing value")


def test_subject_in_two_splits_is_refused(copy):
    table = rewrite_rows(copy, lambda t: t)
    test_row = int(table.index[table["split"] == "test"][0])
    train_subject = table.loc[0, "subject_id"]
    rewrite_rows(
        copy, lambda t: t.assign(subject_id=t["subject_id"].where(t.index != test_row, train_subject))
    )
    expect(
        copy, test_row + 2, "split", f"subject {train_subject!r} is in 'test' here but in 'train' on line 2"
    )


def test_missing_video_file(copy):
    (copy / "val" / "val0001.mp4").unlink()
    line = int(pd.read_csv(copy / "emotion.csv").query("video_id == 'val0001'").index[0]) + 2
    # the micro-action reader checks its own rows first and names val.csv
    with pytest.raises(AnnotationError, match="val0001.mp4 not found"):
        load_emotion_dataset(copy)
    (copy / "val.csv").unlink()
    expect(copy, line, "video_id", "val0001.mp4 not found")


def test_annotated_video_missing_from_emotion_csv(copy):
    rewrite_rows(copy, lambda t: t[t["video_id"] != "test0002"])
    with pytest.raises(AnnotationError, match="'test0002' has micro-action annotations but no row") as caught:
        load_emotion_dataset(copy)
    assert caught.value.path.endswith("test.csv") and caught.value.line >= 2


def test_label_file_problems(tmp_path):
    path = tmp_path / "labels.yaml"
    with pytest.raises(AnnotationError, match="label file not found"):
        read_label_file(path)
    path.write_text("labels: [calm]\n")
    with pytest.raises(AnnotationError, match="at least two label names"):
        read_label_file(path)
    path.write_text("labels: [low, high, low]\n")
    with pytest.raises(AnnotationError, match="'low' is listed twice"):
        read_label_file(path)
    path.write_text("labels: [low, high\n")
    with pytest.raises(AnnotationError, match="not valid YAML"):
        read_label_file(path)
    path.write_text('{"labels": ["negative valence", "neutral", "positive valence"]}')  # JSON is YAML
    assert read_label_file(path) == ("negative valence", "neutral", "positive valence")


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="emotion dataset root not found"):
        load_emotion_dataset(tmp_path / "nowhere")
