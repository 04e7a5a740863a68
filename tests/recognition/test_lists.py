from collections import Counter

import pytest

from recognition.lists import ListError, labels_hidden, read_list, read_split
from tests.conftest import SHARED_DATA


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_items_with_body_and_subject(tmp_path):
    path = _write(tmp_path / "l.txt", "0003_01_0001.mp4 9\n0007_02_0010.mp4 49\n\n0012_01_0003.mp4 0\n")
    items = read_list(path)
    assert [(i.file, i.label, i.line) for i in items] == [
        ("0003_01_0001.mp4", 9, 1),
        ("0007_02_0010.mp4", 49, 2),
        ("0012_01_0003.mp4", 0, 4),
    ]
    assert [i.body for i in items] == [1, 6, 0]  # nodding: head; touching legs: leg-hand; shaking body
    assert [i.subject for i in items] == ["0003", "0007", "0012"]
    assert items[0].stem == "0003_01_0001" and items[0].path is None


@pytest.mark.parametrize(
    "action, body",
    [
        (0, 0),
        (4, 0),
        (5, 1),
        (10, 1),
        (11, 2),
        (23, 2),
        (24, 3),
        (31, 3),
        (32, 4),
        (37, 4),
        (38, 5),
        (47, 5),
        (48, 6),
        (51, 6),
    ],
)
def test_body_mapping_at_every_group_boundary(tmp_path, action, body):
    (item,) = read_list(_write(tmp_path / "l.txt", f"a_1_1.mp4 {action}\n"))
    assert item.body == body


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("a.mp4 9\nb.mp4 52\n", r"l\.txt:2: field 'action_idx' is 52, outside 0\.\.51"),
        ("a.mp4 -1\n", r"l\.txt:1: field 'action_idx' is -1"),
        ("a.mp4 nine\n", r"l\.txt:1: field 'action_idx' is 'nine', not an integer"),
        ("a.mp4 9\nb.mp4\n", r"l\.txt:2: expected 2 fields .* got 1"),
        ("a.mp4 9 extra\n", r"l\.txt:1: expected 2 fields .* got 3"),
        (
            "a.mp4 9\nb.mp4 3\na.mp4 4\n",
            r"l\.txt:3: field 'file' 'a\.mp4' is listed again \(first on line 1\)",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, text, pattern):
    with pytest.raises(ListError, match=pattern):
        read_list(_write(tmp_path / "l.txt", text))


def test_missing_video_is_an_error_when_a_folder_is_given(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"x")
    _write(tmp_path / "train_list_videos.txt", "a.mp4 1\nb.mp4 2\n")
    with pytest.raises(
        ListError, match=r"train_list_videos\.txt:2: field 'file': video .*train/b\.mp4 not found"
    ):
        read_split(tmp_path, "train")
    items = read_split(tmp_path, "train", check_videos=False)
    assert [i.file for i in items] == ["a.mp4", "b.mp4"]
    (folder / "b.mp4").write_bytes(b"x")
    assert [i.path for i in read_split(tmp_path, "train")] == [folder / "a.mp4", folder / "b.mp4"]


def test_missing_list_and_hidden_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_list(tmp_path / "nope.txt")
    assert labels_hidden(read_list(_write(tmp_path / "t.txt", "x.mp4 0\ny.mp4 0\n")))
    assert not labels_hidden(read_list(_write(tmp_path / "v.txt", "x.mp4 0\ny.mp4 3\n")))


def test_real_training_list():
    path = SHARED_DATA / "ma52" / "train_list_videos.txt"
    if not path.is_file():
        pytest.skip(f"real MA-52 training list not available at {path}")
    items = read_list(path)
    assert len(items) == 11250
    assert (items[0].file, items[0].label, items[0].body, items[0].subject) == (
        "0003_01_0001.mp4",
        9,
        1,
        "0003",
    )
    assert (items[-1].file, items[-1].label, items[-1].body) == ("0193_06_0004.mp4", 49, 6)
    counts = Counter(i.label for i in items)
    assert set(counts) == set(range(52))
    # facts of the published list: nodding is frequent, index 3 ("turning around") is rare
    assert counts[9] == 1283 and counts[3] == 9 and counts[0] == 309
    assert not labels_hidden(items)
