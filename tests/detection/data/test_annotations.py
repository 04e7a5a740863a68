"""Tests for the MMA-52 annotation and MMAD submission formats (detection/data/annotations.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detection.data.annotations import (
    SUBMISSION_COLUMNS,
    AnnotationError,
    Instance,
    VideoAnnotation,
    annotations_to_frame,
    read_mma52_csv,
    read_submission,
    read_submission_checked,
    write_mma52_csv,
    write_submission,
)

REAL_TRAIN = Path("/work/shared/data/mma52/train.csv")
HEADER = "id,video_id,start_frame,end_frame,class,total_frames,fps"


def _write(tmp_path: Path, lines: list[str], name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _expect_error(path: Path, line: int, field: str, *, fragment: str = "", **kwargs) -> AnnotationError:
    """Read and require an AnnotationError whose message names file, line and field."""
    with pytest.raises(AnnotationError) as info:
        read_mma52_csv(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert f"line {line}," in message
    assert f"'{field}'" in message
    assert fragment in message
    assert (info.value.line, info.value.field) == (line, field)
    return info.value


GOOD = [HEADER, "0,v1,23,71,9,168,30.0", "1,v1,68,125,21,168,30.0", "2,v2,0,29,1,100,29.0"]


def test_good_file_converts_frames_to_seconds(tmp_path):
    videos = read_mma52_csv(_write(tmp_path, GOOD))
    assert list(videos) == ["v1", "v2"]
    v1 = videos["v1"]
    assert (v1.fps, v1.total_frames, v1.split, v1.path) == (30.0, 168, "train", None)
    assert v1.duration == pytest.approx(168 / 30)
    assert v1.instances == [Instance(23 / 30, 71 / 30, 9), Instance(68 / 30, 125 / 30, 21)]
    assert videos["v2"].instances == [Instance(0.0, 1.0, 1)]


@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ("2,v2,abc,29,1,100,29.0", "start_frame", "'abc' is not a number"),
        ("2,v2,0,29,x1,100,29.0", "class", "not a number"),
        ("2,v2,0,29,1,100,fast", "fps", "not a number"),
        ("2,v2,0,,1,100,29.0", "end_frame", "missing value"),
        ("2,v2,0.5,29,1,100,29.0", "start_frame", "not an integer"),
        ("2,v2,29,29,1,100,29.0", "end_frame", "greater than start_frame"),
        ("2,v2,30,29,1,100,29.0", "end_frame", "greater than start_frame"),
        ("2,v2,0,101,1,100,29.0", "end_frame", "beyond total_frames 100"),
        ("2,v2,-3,29,1,100,29.0", "start_frame", "negative start"),
        ("2,v2,0,29,52,100,29.0", "class", "unknown class 52"),
        ("2,v2,0,29,-1,100,29.0", "class", "unknown class -1"),
        ("2,v2,0,29,1,100,0", "fps", "fps must be > 0"),
        ("2,v2,0,29,1,100,-30", "fps", "fps must be > 0"),
        ("2,v2,0,29,1,100,nan", "fps", "nan"),
        ("2,v2,0,29,1,100,29.0,extra", "<row>", "malformed"),
        ("2,,0,29,1,100,29.0", "video_id", "missing value"),
    ],
)
def test_row_errors_name_file_line_and_field(tmp_path, row, field, fragment):
    # The bad row is the 4th line of the file (header, two good rows, then it).
    path = _write(tmp_path, GOOD[:3] + [row])
    _expect_error(path, 4, field, fragment=fragment)


def test_missing_column_is_reported_on_the_header_line(tmp_path):
    path = _write(tmp_path, ["id,video_id,start_frame,end_frame,class,total_frames", "0,v1,0,10,1,100"])
    _expect_error(path, 1, "fps", fragment="missing column")


def test_unexpected_column_is_not_dropped_silently(tmp_path):
    path = _write(tmp_path, [HEADER + ",subject", "0,v1,0,10,1,100,30.0,s3"])
    _expect_error(path, 1, "subject", fragment="unexpected")


def test_inconsistent_fps_for_one_video(tmp_path):
    path = _write(tmp_path, GOOD + ["3,v1,0,10,3,168,29.0"])
    err = _expect_error(path, 5, "fps", fragment="'v1'")
    assert "line 2" in err.problem  # points back at the row it disagrees with


def test_inconsistent_total_frames_for_one_video(tmp_path):
    path = _write(tmp_path, [HEADER, "0,v1,0,10,3,168,30.0", "1,v2,0,10,3,50,30.0", "2,v1,0,10,3,170,30.0"])
    _expect_error(path, 4, "total_frames", fragment="170")


def test_line_numbers_count_blank_lines(tmp_path):
    path = _write(tmp_path, [HEADER, "0,v1,0,10,3,168,30.0", "", "1,v1,10,5,3,168,30.0"])
    _expect_error(path, 4, "end_frame")


def test_earlier_problem_reported_first_with_count_of_others(tmp_path):
    path = _write(tmp_path, [HEADER, "0,v1,0,10,99,168,30.0", "1,v1,0,10,98,168,30.0"])
    err = _expect_error(path, 2, "class")
    assert "1 more row" in str(err)


def test_missing_video_file_under_root(tmp_path):
    root = tmp_path / "videos"
    (root / "train").mkdir(parents=True)
    (root / "train" / "v1.mp4").write_bytes(b"")
    path = _write(tmp_path, GOOD)
    err = _expect_error(path, 4, "video_id", fragment="v2.mp4", video_root=root)
    assert str(root / "train" / "v2.mp4") in str(err)
    # With both files present the paths are recorded, split taken from the file stem.
    (root / "train" / "v2.mp4").write_bytes(b"")
    videos = read_mma52_csv(path, video_root=root)
    assert videos["v2"].path == root / "train" / "v2.mp4"


def test_explicit_split_overrides_stem(tmp_path):
    root = tmp_path / "videos"
    (root / "val").mkdir(parents=True)
    for vid in ("v1", "v2"):
        (root / "val" / f"{vid}.mp4").write_bytes(b"")
    path = _write(tmp_path, GOOD, name="anything.csv")
    videos = read_mma52_csv(path, video_root=root, split="val")
    assert videos["v1"].split == "val"
    assert videos["v1"].path == root / "val" / "v1.mp4"
    with pytest.raises(AnnotationError, match="anything/v1.mp4"):
        read_mma52_csv(path, video_root=root)  # default split = stem 'anything'


def test_mma52_round_trip(tmp_path):
    videos = {
        "a": VideoAnnotation("a", 30.0, 300, [Instance(0.0, 1.5, 3), Instance(1.0, 10.0, 51)], None, None),
        "b": VideoAnnotation("b", 29.0, 145, [Instance(29 / 29, 145 / 29, 0)], None, None),
    }
    path = tmp_path / "out" / "val.csv"
    write_mma52_csv(path, videos)
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER
    assert lines[1] == "0,a,0,45,3,300,30.0"
    assert [p.name for p in path.parent.iterdir()] == ["val.csv"]  # temp file replaced, none left
    back = read_mma52_csv(path)
    assert list(back) == ["a", "b"]
    for vid, video in videos.items():
        assert back[vid].fps == video.fps and back[vid].total_frames == video.total_frames
        assert back[vid].split == "val"
        for got, want in zip(back[vid].instances, video.instances, strict=True):
            assert got.label == want.label
            assert got.start == pytest.approx(want.start, abs=1e-12)
            assert got.end == pytest.approx(want.end, abs=1e-12)


def test_write_refuses_instances_that_would_not_read_back(tmp_path):
    bad = VideoAnnotation("a", 30.0, 30, [Instance(0.5, 2.0, 3)], None, None)  # ends at frame 60 > 30
    with pytest.raises(ValueError, match="total_frames 30"):
        write_mma52_csv(tmp_path / "x.csv", [bad])
    assert not (tmp_path / "x.csv").exists()


def test_annotations_to_frame(tmp_path):
    frame = annotations_to_frame(read_mma52_csv(_write(tmp_path, GOOD)))
    assert list(frame.columns) == ["video_id", "t_start", "t_end", "class"]
    assert frame["video_id"].tolist() == ["v1", "v1", "v2"]
    assert frame["class"].tolist() == [9, 21, 1]
    assert frame["t_end"].tolist() == [71 / 30, 125 / 30, 1.0]
    assert frame["class"].dtype == np.int64


# --------------------------------------------------------------------------------- submissions

PREDS = pd.DataFrame(
    {
        "video_id": ["v1", "v1", "0012"],
        "t_start": [0.1, 1 / 3, 2.0],
        "t_end": [0.2, 2 / 3, 2.0],
        "class": [0, 51, 7],
        "score": [0.9, 1e-7, 0.5],
    }
)


def test_submission_round_trip(tmp_path):
    path = tmp_path / "sub" / "prediction.csv"
    write_submission(path, PREDS)
    lines = path.read_text().splitlines()
    assert lines[0] == ",video_id,t_start,t_end,class,score"
    assert lines[1].startswith("0,v1,")
    back = read_submission(path)
    assert tuple(back.columns) == SUBMISSION_COLUMNS
    assert back["video_id"].tolist() == ["v1", "v1", "0012"]  # ids stay text
    for column in ("t_start", "t_end", "score"):
        assert back[column].tolist() == PREDS[column].tolist()  # exact float round trip
    assert back["class"].tolist() == [0, 51, 7]
    assert [p.name for p in path.parent.iterdir()] == ["prediction.csv"]


def test_submission_without_index_column_reads(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("video_id,t_start,t_end,class,score\nv1,0.0,1.0,3,0.5\n")
    back = read_submission(path)
    assert back.iloc[0].tolist() == ["v1", 0.0, 1.0, 3, 0.5]


@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ("1,v1,nan,1.0,3,0.5", "t_start", "non-finite"),
        ("1,v1,0.0,inf,3,0.5", "t_end", "non-finite"),
        ("1,v1,0.0,1.0,3,nan", "score", "non-finite"),
        ("1,v1,0.0,1.0,3,-inf", "score", "non-finite"),
        ("1,v1,2.0,1.0,3,0.5", "t_end", "< t_start"),
        ("1,v1,0.0,1.0,52,0.5", "class", "unknown class 52"),
        ("1,v1,0.0,1.0,2.5,0.5", "class", "not an integer"),
        ("1,v1,zero,1.0,3,0.5", "t_start", "not a number"),
    ],
)
def test_submission_errors_name_the_row(tmp_path, row, field, fragment):
    path = tmp_path / "p.csv"
    path.write_text(",video_id,t_start,t_end,class,score\n0,v1,0.0,1.0,3,0.5\n" + row + "\n")
    with pytest.raises(AnnotationError) as info:
        read_submission(path)
    message = str(info.value)
    assert str(path) in message and "line 3," in message and f"'{field}'" in message
    assert fragment in message


def test_submission_missing_column(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(",video_id,t_start,t_end,class\n0,v1,0.0,1.0,3\n")
    with pytest.raises(AnnotationError, match=r"line 1, field 'score'"):
        read_submission(path)


def test_write_submission_validates_before_writing(tmp_path):
    bad = PREDS.copy()
    bad.loc[1, "score"] = math.nan
    path = tmp_path / "p.csv"
    with pytest.raises(AnnotationError, match=r"line 3, field 'score'"):
        write_submission(path, bad)
    assert not path.exists()
    with pytest.raises(AnnotationError, match="'class'"):
        write_submission(path, PREDS.drop(columns="class"))


# --------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_train():
    if not REAL_TRAIN.is_file():
        pytest.skip("real MMA-52 train.csv not available")
    return read_mma52_csv(REAL_TRAIN)


def test_real_train_csv(real_train):
    videos = real_train
    assert len(videos) == 4534
    assert sum(len(v.instances) for v in videos.values()) == 13698
    assert {v.fps for v in videos.values()} == {29.0, 30.0}
    assert all(v.split == "train" for v in videos.values())
    raw = pd.read_csv(REAL_TRAIN)
    flat = annotations_to_frame(videos)
    assert len(flat) == len(raw)
    for row in (0, 1, 5000, 13697):
        r = raw.iloc[row]
        video = videos[r["video_id"]]
        match = flat.iloc[row]  # file order is kept inside and across videos here
        assert match["video_id"] == r["video_id"]
        assert match["t_start"] == r["start_frame"] / r["fps"]
        assert match["t_end"] == r["end_frame"] / r["fps"]
        assert match["class"] == r["class"]
        assert video.total_frames == r["total_frames"]
    first = videos["train0000"].instances[0]
    assert (first.start, first.end, first.label) == (23 / 30, 71 / 30, 9)


def test_fast_submission_reader_agrees_with_the_careful_one(tmp_path):
    """The fast path (pandas' number parsing, vectorised checks) must return exactly what the
    careful text reader returns, padded ids and blank lines included."""
    rng = np.random.default_rng(0)
    n = 500
    start = rng.uniform(0, 10, n)
    table = pd.DataFrame(
        {
            "video_id": [f"v{i % 7:03d}" for i in range(n)],
            "t_start": start,
            "t_end": start + rng.uniform(0, 3, n),
            "class": rng.integers(0, 52, n),
            "score": rng.random(n),
        }
    )
    path = tmp_path / "sub.csv"
    write_submission(path, table)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(",v", ", v")  # a padded id
    path.write_text("\n".join(lines[:10] + [""] + lines[10:]) + "\n")  # and a blank line
    fast = read_submission(path)
    pd.testing.assert_frame_equal(fast, read_submission_checked(path))
    assert len(fast) == n and fast["video_id"].str.startswith("v").all()


def test_a_bad_cell_still_gets_the_careful_readers_line_and_field(tmp_path):
    path = tmp_path / "sub.csv"
    path.write_text(",video_id,t_start,t_end,class,score\n0,a,0,1,3,0.5\n1,b,0,abc,3,0.5\n")
    with pytest.raises(AnnotationError, match="line 3, field 't_end'"):
        read_submission(path)
