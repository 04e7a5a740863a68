"""``task=mmad stage=predict`` end to end, as a user runs it: a subprocess of experiments/run.py
on a folder mixing good and broken files, names with spaces and non-ASCII characters."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from detection.data.annotations import read_submission
from tests.conftest import REPO_ROOT, write_test_video

pytestmark = pytest.mark.slow


def _predict(checkpoint, source, run_dir, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "experiments/run.py",
        "task=mmad",
        "stage=predict",
        f"ckpt={checkpoint}",
        f"input='{source}'",  # Hydra's override grammar needs quotes around non-ASCII text
        f"hydra.run.dir={run_dir}",
        "logger=none",
        *extra,
    ]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_folder_run_goes_past_broken_files_lists_them_and_exits_non_zero(predict_checkpoint, tmp_path):
    import av

    folder = tmp_path / "my vidéos"
    write_test_video(folder / "séance 1.mp4", frames=40, size=(48, 32))
    write_test_video(folder / "rotated.mkv", frames=40, size=(48, 32), rotation=90, container="matroska")
    (folder / "broken.mp4").write_text("not a video\n")
    with av.open(str(folder / "empty.mkv"), "w") as output:  # a header and no frame
        stream = output.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        output.start_encoding()
    (folder / "notes.txt").write_text("not looked at\n")

    run = tmp_path / "out put"
    result = _predict(predict_checkpoint, folder, run, "task.predict.threshold=0", "task.predict.top_k=7")
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    for name in ("broken.mp4", "empty.mkv"):
        failure = next(line for line in log.splitlines() if "FAILED" in line and name in line)
        assert str(folder / name) in failure
    assert "2 of 4 video(s) failed" in log and "skipped 1 file(s) without a video suffix: notes.txt" in log

    for vid in ("séance 1", "rotated"):
        for path in (
            f"timelines/{vid}.csv",
            f"timelines/{vid}.json",
            f"timelines/{vid}.eaf",
            f"frames/{vid}.csv",
        ):
            assert (run / path).is_file(), path
    assert sorted(p.name for p in (run / "timelines").iterdir()) == sorted(
        f"{v}.{s}" for v in ("séance 1", "rotated") for s in ("csv", "json", "eaf")
    )  # nothing for the broken files, no temporary files left
    submission = read_submission(run / "predictions.csv")
    assert set(submission["video_id"]) == {"séance 1", "rotated"}
    assert submission.groupby("video_id").size().max() <= 7
    record = json.loads((run / "timelines" / "rotated.json").read_text())
    assert (record["rotation"], record["width"], record["height"]) == (90, 32, 48)
    assert len(pd.read_csv(run / "frames" / "séance 1.csv")) == 40
    page = (run / "report.html").read_text()
    assert page.count('<section class="video"') == 2 and "broken.mp4" in page


def test_settings_the_checkpoint_contradicts_are_refused(predict_checkpoint, tmp_path):
    video = write_test_video(tmp_path / "v.mp4", frames=10)
    result = _predict(predict_checkpoint, video, tmp_path / "r", "cues=rgb", "hydra/job_logging=disabled")
    assert result.returncode != 0
    assert "trained with cues=" in result.stderr and str(predict_checkpoint) in result.stderr
    assert not (tmp_path / "r" / "predictions.csv").exists()
