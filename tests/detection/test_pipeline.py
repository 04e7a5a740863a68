"""Training on the default split plus ``data.extra_train`` folders (detection/pipeline.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from detection import pipeline
from detection.data.annotations import AnnotationError
from detection.pipeline import read_training_videos

HEADER = "id,video_id,start_frame,end_frame,class,total_frames,fps\n"


def make_root(folder: Path, rows: list[tuple[str, int, int, int]], with_files: bool = True) -> Path:
    """An MMA-52-layout folder with a train split of ``(video_id, start, end, class)`` rows."""
    (folder / "train").mkdir(parents=True)
    lines = [f"{k},{vid},{start},{end},{cls},300,30.0\n" for k, (vid, start, end, cls) in enumerate(rows)]
    (folder / "train.csv").write_text(HEADER + "".join(lines))
    if with_files:
        for vid in {row[0] for row in rows}:
            (folder / "train" / f"{vid}.mp4").write_bytes(b"")
    return folder


def test_extra_folders_join_training_with_ids_qualified_by_folder(tmp_path):
    main = make_root(tmp_path / "main", [("train0000", 0, 30, 5), ("train0001", 30, 90, 7)])
    extra = make_root(tmp_path / "more", [("train0000", 60, 120, 9), ("train0000", 150, 180, 2)])
    videos = read_training_videos(main, "train", [extra])
    assert list(videos) == ["train0000", "train0001", "more/train0000"]
    joined = videos["more/train0000"]
    assert joined.video_id == "more/train0000"
    assert joined.path == extra / "train" / "train0000.mp4"
    assert [(i.start, i.end, i.label) for i in joined.instances] == [(2.0, 4.0, 9), (5.0, 6.0, 2)]
    # the main root's video of the same id keeps its own file and labels
    assert videos["train0000"].path == main / "train" / "train0000.mp4"
    assert [i.label for i in videos["train0000"].instances] == [5]
    assert read_training_videos(main, "train") == read_training_videos(main, "train", [])


def test_a_folder_listed_twice_or_the_root_itself_is_refused(tmp_path):
    main = make_root(tmp_path / "main", [("a", 0, 30, 1)])
    extra = make_root(tmp_path / "more", [("b", 0, 30, 1)])
    with pytest.raises(ValueError, match="listed twice"):
        read_training_videos(main, "train", [extra, extra])
    with pytest.raises(ValueError, match="data.root itself"):
        read_training_videos(main, "train", [main])


def test_two_extra_folders_of_one_name_are_refused(tmp_path):
    main = make_root(tmp_path / "main", [("a", 0, 30, 1)])
    first = make_root(tmp_path / "x" / "more", [("b", 0, 30, 1)])
    second = make_root(tmp_path / "y" / "more", [("b", 0, 30, 1)])
    with pytest.raises(ValueError, match="share the folder name 'more'"):
        read_training_videos(main, "train", [first, second])


def test_a_missing_video_of_an_extra_folder_names_its_csv(tmp_path):
    main = make_root(tmp_path / "main", [("a", 0, 30, 1)])
    extra = make_root(tmp_path / "more", [("b", 0, 30, 1)], with_files=False)
    with pytest.raises(AnnotationError, match=r"more/train\.csv: line 2, field 'video_id'"):
        read_training_videos(main, "train", [extra])


def test_the_training_split_of_a_run_reads_data_extra_train(tmp_path, monkeypatch):
    main = make_root(tmp_path / "main", [("a", 0, 30, 1)])
    make_root(tmp_path / "more", [("b", 0, 30, 1)])
    monkeypatch.chdir(tmp_path)  # extra_train entries are relative to the launch folder, like data.root
    built = {}
    monkeypatch.setattr(pipeline, "build_dataset", lambda videos, *args: built.update(videos) or "dataset")
    data_cfg = OmegaConf.create({"splits": {"train": "train"}, "extra_train": ["more"]})
    assert pipeline.load_training_split(main, data_cfg, model=None) == "dataset"
    assert sorted(built) == ["a", "more/b"]
    del data_cfg["extra_train"]  # older configs without the key train on the root alone
    built.clear()
    pipeline.load_training_split(main, data_cfg, model=None)
    assert sorted(built) == ["a"]


def test_a_qualified_id_already_used_by_the_root_is_refused(tmp_path):
    main = make_root(tmp_path / "main", [("more/b", 0, 30, 1)], with_files=False)
    (main / "train" / "more").mkdir()
    (main / "train" / "more" / "b.mp4").write_bytes(b"")
    extra = make_root(tmp_path / "more", [("b", 0, 30, 1)])
    with pytest.raises(ValueError, match="'more/b' is already in"):
        read_training_videos(main, "train", [extra])
