"""perception/motion_scale.py: the frame-difference size that model.backbone.difference_std takes."""

from __future__ import annotations

import numpy as np
import pytest

from perception.backbone import PIXEL_STD
from perception.motion_scale import difference_rms, main, measure
from perception.pretrain.data import find_videos
from perception.video import read_video
from tests.conftest import write_test_video


def test_difference_rms_is_the_normalised_change_between_neighbours():
    """A uniform step of 10 grey levels between two frames is 10/255/std per channel; a still
    video is 0; the figure averages the squares over all pairs, not the pairs' rms."""
    still = np.full((3, 4, 4, 3), 100, np.uint8)
    assert difference_rms(still) == 0.0
    step = still.copy()
    step[1:] += 10  # one change (frame 0 -> 1), then none (1 -> 2)
    per_channel = (10 / 255 / np.asarray(PIXEL_STD)) ** 2
    assert difference_rms(step) == pytest.approx(np.sqrt(per_channel.mean() / 2), rel=1e-9)
    # differences, not frames: adding a constant image to every frame changes nothing
    assert difference_rms(step + np.arange(48, dtype=np.uint8).reshape(4, 4, 3)) == pytest.approx(
        difference_rms(step)
    )
    with pytest.raises(ValueError, match="two frames"):
        difference_rms(still[:1])
    with pytest.raises(ValueError, match="time, height, width, 3"):
        difference_rms(still[..., 0])


def test_measure_samples_as_the_detector_does_and_lists_bad_files(tmp_path):
    """Each video is read with the detector's stride and size; frames 4 apart differ more than
    neighbours (the default test video's green rises 8 levels a frame); a broken file is listed
    with its name and the rest are measured."""
    good = write_test_video(tmp_path / "a.mp4", frames=24)
    (tmp_path / "b.mp4").write_bytes(b"not a video")
    (tmp_path / "notes.txt").write_text("ignored: not a video suffix")
    videos = find_videos(tmp_path)
    assert [p.name for p in videos] == ["a.mp4", "b.mp4"]

    neighbours = measure(videos, size=32, stride=1)
    apart = measure(videos, size=32, stride=4)
    expected = difference_rms(np.asarray(read_video(good, stride=4, size=32).frames))
    assert apart.per_video == {str(good): pytest.approx(expected)}
    assert apart.median > 2 * neighbours.median
    assert [video for video, _ in apart.failures] == [str(tmp_path / "b.mp4")]
    assert "FAILED" in apart.describe() and "b.mp4" in apart.describe()


def test_cli_prints_the_override_to_use(tmp_path, capsys):
    write_test_video(tmp_path / "a.mp4", frames=12)
    assert main([str(tmp_path), "--size", "32", "--stride", "2"]) == 0
    out = capsys.readouterr().out
    measured = measure([tmp_path / "a.mp4"], size=32, stride=2).median
    assert f"model.backbone.difference_std={measured:.3g}" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--size", "32", "--stride", "2"]) == 2
    assert f"no video files under {empty}" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), "--size", "32", "--stride", "2"]) == 2
    assert "missing does not exist" in capsys.readouterr().err
