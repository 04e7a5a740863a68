import json
import zipfile

import numpy as np
import pytest

from recognition.evaluate import main as evaluate_main
from recognition.submission import SubmissionError, body_ranked, read_submission, write_submission


def _probabilities():
    """Three clips with hand-set probabilities (rows sum to 1)."""
    p = np.zeros((3, 52))
    p[0, [9, 10, 5, 40, 0, 24]] = [0.30, 0.25, 0.20, 0.15, 0.06, 0.04]  # head actions dominate
    p[1, [41, 43, 46, 45, 33, 11]] = [0.22, 0.21, 0.20, 0.19, 0.10, 0.08]
    p[2, [36, 12, 13, 14, 15, 16]] = [0.30, 0.20, 0.15, 0.15, 0.12, 0.08]  # upper limb summed > body-hand
    return p


IDS = ["0003_01_0005.mp4", "0003_01_0006.mp4", "0004_02_0001.mp4"]


def test_body_rankings_by_hand():
    p = _probabilities()
    # max: groups by their best action; the first is always the group of the action top-1
    np.testing.assert_array_equal(body_ranked(p, "max")[:, 0], [1, 5, 4])
    np.testing.assert_array_equal(body_ranked(p, "max")[0], [1, 5, 0, 3, 2])
    # sum: clip 2 has upper limb 0.70 > body-hand 0.30
    np.testing.assert_array_equal(body_ranked(p, "sum")[2, :2], [2, 4])
    np.testing.assert_array_equal(body_ranked(p, "sum")[0], [1, 5, 0, 3, 2])  # 0.75, 0.15, 0.06, 0.04, 0
    # kit: the body of each action top-5, duplicates kept
    np.testing.assert_array_equal(body_ranked(p, "kit")[0], [1, 1, 1, 5, 0])
    with pytest.raises(ValueError, match="needs probabilities"):
        body_ranked(p * 3, "sum")


@pytest.mark.parametrize("fmt", ["mac2024", "mac2025"])
def test_zip_round_trip_has_no_folder(tmp_path, fmt):
    path = write_submission(tmp_path / "out" / "submission.zip", IDS, _probabilities(), fmt)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["prediction.csv"]
        lines = archive.read("prediction.csv").decode().splitlines()
    parsed = read_submission(path)
    assert parsed.format == fmt and parsed.ids == IDS
    if fmt == "mac2024":
        assert lines[0] == "id,pred_label_1,pred_label_2"
        assert lines[1:] == ["0003_01_0005.mp4,1,9", "0003_01_0006.mp4,5,41", "0004_02_0001.mp4,4,36"]
        np.testing.assert_array_equal(parsed.action[:, 0], [9, 41, 36])
        np.testing.assert_array_equal(parsed.body[:, 0], [1, 5, 4])
    else:
        assert lines[0].split(",")[:2] == ["vid", "action_pred_1"] and lines[0].endswith("body_pred_5")
        assert lines[1] == "0003_01_0005.mp4,9,10,5,40,0,1,5,0,3,2"
        np.testing.assert_array_equal(parsed.action[1], [41, 43, 46, 45, 33])
        np.testing.assert_array_equal(parsed.body, body_ranked(_probabilities(), "max"))
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_bare_csv_round_trip(tmp_path):
    path = write_submission(tmp_path / "prediction.csv", IDS, _probabilities(), "mac2025", body_ranking="kit")
    parsed = read_submission(path)
    np.testing.assert_array_equal(parsed.body[0], [1, 1, 1, 5, 0])


HEADER25 = (
    "vid,"
    + ",".join(f"action_pred_{i}" for i in range(1, 6))
    + ","
    + ",".join(f"body_pred_{i}" for i in range(1, 6))
)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "empty file"),
        ("video,a,b\n", "row 1: header 'video,a,b' is neither"),
        ("id,pred_label_1,pred_label_2\nx.mp4,1\n", "row 2: expected 3 fields, got 2"),
        (
            "id,pred_label_1,pred_label_2\nx.mp4,1,9\ny.mp4,7,9\n",
            "row 3: field 'pred_label_1' is 7, outside 0..6",
        ),
        (
            "id,pred_label_1,pred_label_2\nx.mp4,1,nine\n",
            "row 2: field 'pred_label_2' is 'nine', not an integer",
        ),
        ("id,pred_label_1,pred_label_2\nx.mp4,1,9\nx.mp4,1,9\n", "row 3: field 'id' 'x.mp4' repeats row 2"),
        ("id,pred_label_1,pred_label_2\n,1,9\n", "row 2: field 'id' is empty"),
        (HEADER25 + "\nx.mp4,1,2,3,4,52,0,0,0,0,0\n", "row 2: field 'action_pred_5' is 52"),
    ],
)
def test_reader_errors_name_row_and_field(tmp_path, text, pattern):
    path = tmp_path / "prediction.csv"
    path.write_text(text)
    with pytest.raises(SubmissionError, match=pattern):
        read_submission(path)


def test_zip_with_a_folder_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("results/prediction.csv", "id,pred_label_1,pred_label_2\n")
    with pytest.raises(SubmissionError, match="holds a folder .*results/prediction.csv"):
        read_submission(path)


def _gt(tmp_path):
    path = tmp_path / "val_list_videos.txt"
    path.write_text("0003_01_0005.mp4 9\n0003_01_0006.mp4 43\n0004_02_0001.mp4 13\n")
    return path


def test_evaluator_scores_both_formats(tmp_path, capsys):
    gt = _gt(tmp_path)
    p = _probabilities()
    write_submission(tmp_path / "a.zip", IDS, p, "mac2025")
    assert (
        evaluate_main(
            ["--gt", str(gt), "--pred", str(tmp_path / "a.zip"), "--json", str(tmp_path / "m.json")]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "m.json").read_text())
    # top-1 guesses 9, 41, 36 against 9, 43, 13: one right; all three within top-5
    assert metrics["format"] == "mac2025" and metrics["clips"] == 3
    assert metrics["action_top1"] == pytest.approx(100 / 3)
    assert metrics["action_top5"] == pytest.approx(100.0)
    # body: 1 vs 1, 5 vs 5, 4 vs 2 -> 2 of 3; body top-5 of clip 3 holds 2
    assert metrics["body_top1"] == pytest.approx(200 / 3) and metrics["body_top5"] == pytest.approx(100.0)
    write_submission(tmp_path / "b.zip", IDS, p, "mac2024")
    assert (
        evaluate_main(
            ["--gt", str(gt), "--pred", str(tmp_path / "b.zip"), "--json", str(tmp_path / "n.json")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "top-5: n/a" in out
    metrics24 = json.loads((tmp_path / "n.json").read_text())
    assert metrics24["action_top5"] is None
    assert metrics24["f1_mean"] == pytest.approx(metrics["f1_mean"])


def test_evaluator_rejects_missing_clips_with_a_message(tmp_path, capsys):
    gt = _gt(tmp_path)
    write_submission(tmp_path / "a.csv", IDS[:2], _probabilities()[:2], "mac2025")
    assert evaluate_main(["--gt", str(gt), "--pred", str(tmp_path / "a.csv")]) == 1
    err = capsys.readouterr().err
    assert "no prediction for 1 of 3" in err and "0004_02_0001.mp4" in err
    assert evaluate_main(["--gt", str(gt), "--pred", str(tmp_path / "missing.zip")]) == 1
    assert "missing.zip" in capsys.readouterr().err


def test_evaluator_matches_ids_without_extension_and_warns_on_extras(tmp_path, capsys):
    gt = _gt(tmp_path)
    ids = [i.removesuffix(".mp4") for i in IDS] + ["9999_01_0001"]
    p = np.vstack([_probabilities(), np.eye(52)[:1]])
    write_submission(tmp_path / "a.csv", ids, p, "mac2024")
    assert evaluate_main(["--gt", str(gt), "--pred", str(tmp_path / "a.csv")]) == 0
    captured = capsys.readouterr()
    assert "1 prediction(s) for clips absent" in captured.err
    assert captured.out.splitlines()[2].split()[0] == "33.33"
