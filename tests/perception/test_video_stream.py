"""Streaming, resampled decoding of arbitrary videos (perception/video.py) and preview copies,
on files the tests make: frame rates, variable timing, rotation, grey, broken files."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from perception.video import ResampledStream, TruncatedVideo, VideoDecodeError, frame_to_rgb, probe_video
from perception.video_preview import write_preview
from tests.conftest import write_test_video


def _green_levels(samples, size=(16, 16)) -> list[int]:
    """The frame number each sample shows (test videos encode 8 * i in the green channel)."""
    return [round(frame_to_rgb(s.frame, *size, 0)[12:, 12:, 1].mean() / 8) for s in samples]


def test_constant_rate_resampling_takes_the_frames_training_decodes(tmp_path):
    video = write_test_video(
        tmp_path / "a.mkv", frames=30, codec="ffv1", pix_fmt="yuv444p", container="matroska"
    )
    stream = ResampledStream(video, rate=30 / 4)
    samples = list(stream)
    assert [s.source_index for s in samples] == list(range(0, 30, 4))  # ceil(30 / 4) = 8 ticks
    assert _green_levels(samples) == list(range(0, 30, 4))
    assert stream.frames_decoded == 30
    assert stream.duration == pytest.approx(1.0, abs=1e-3)  # matroska stores milliseconds


def test_a_25_fps_video_is_resampled_to_the_model_clock_by_time(tmp_path):
    video = write_test_video(tmp_path / "b.mkv", frames=25, rate=25, codec="ffv1", pix_fmt="yuv444p")
    samples = list(ResampledStream(video, rate=7.5))
    times = np.arange(25) / 25
    expected = [int(np.argmin(np.abs(times - k / 7.5))) for k in range(len(samples))]
    assert [s.source_index for s in samples] == expected
    assert len(samples) == int(24 / 25 * 7.5) + 1  # ticks up to the last frame's time


def test_variable_frame_rate_uses_timestamps_not_frame_counts(tmp_path):
    stamps = [0, 33, 66, 400, 433, 466, 1000, 1033, 1066, 1100]  # bursts with gaps
    video = write_test_video(
        tmp_path / "vfr.mkv",
        frames=10,
        codec="ffv1",
        pix_fmt="yuv444p",
        container="matroska",
        times_ms=stamps,
    )
    stream = ResampledStream(video, rate=5.0)  # ticks at 0, 0.2, ..., 1.0 s
    samples = list(stream)
    # nearest frame to each tick: 0.2 s -> 66 ms, 0.6 s -> 466 ms, 0.8 and 1.0 s -> 1000 ms
    expected = [0, 2, 3, 5, 6, 6]
    assert [s.source_index for s in samples] == expected
    assert _green_levels(samples) == expected
    assert np.allclose(stream.frame_times, np.array(stamps) / 1000, atol=2e-3)  # 1/30 s encoder clock


def test_rotation_metadata_is_applied(tmp_path):
    plain = write_test_video(tmp_path / "plain.mp4", frames=4, size=(64, 32))
    turned = write_test_video(tmp_path / "turned.mp4", frames=4, size=(64, 32), rotation=90)
    info = probe_video(turned)
    assert (info.rotation, info.width, info.height) == (90, 32, 64)
    upright = frame_to_rgb(next(iter(ResampledStream(plain, 30))).frame, 64, 32, 0)
    rotated = frame_to_rgb(next(iter(ResampledStream(turned, 30))).frame, 32, 64, info.rotation)
    assert rotated.shape == (64, 32, 3)
    # the white block (top-left when stored) is where a counterclockwise quarter turn puts it
    assert np.abs(rotated.astype(int) - np.rot90(upright, 1).astype(int)).mean() < 3


def test_grayscale_video_gives_grey_rgb_frames(tmp_path):
    video = write_test_video(
        tmp_path / "grey.mkv", frames=6, codec="ffv1", pix_fmt="gray", container="matroska"
    )
    assert probe_video(video).pix_fmt == "gray"
    image = frame_to_rgb(next(iter(ResampledStream(video, 30))).frame, 32, 32, 0)
    assert image.shape == (32, 32, 3) and np.array_equal(image[..., 0], image[..., 2])


def _assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert str(path) in message and "\n" not in message


def test_zero_frame_file_is_a_clear_error(tmp_path):
    import av

    path = tmp_path / "zero frames.mkv"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        output.start_encoding()
    with pytest.raises(VideoDecodeError) as error:
        probe_video(path)
    _assert_one_line_naming(error, path)


@pytest.mark.parametrize("content", [b"just some text, not a video\n", bytes(range(256)) * 64])
def test_non_video_and_corrupt_files_are_clear_errors(tmp_path, content):
    path = tmp_path / "ñot a vídeo.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError) as error:
        probe_video(path)
    _assert_one_line_naming(error, path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.wav"
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 800)
    with pytest.raises(VideoDecodeError, match="no video stream") as error:
        probe_video(path)
    _assert_one_line_naming(error, path)


def test_a_truncated_file_decodes_what_it_can_and_says_how_much(tmp_path):
    whole = write_test_video(tmp_path / "whole.mkv", frames=90, container="matroska")
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.5)])  # the header still declares 3 s
    stream = ResampledStream(cut, 7.5)
    with pytest.warns(TruncatedVideo, match="truncated video") as caught:
        samples = list(stream)
    message = str(caught[0].message)
    assert str(cut) in message and "of the 3.00 s its header declares" in message
    assert 0 < stream.duration < 2.0 and len(samples) == len({s.index for s in samples}) > 0
    assert stream.truncation["declared_seconds"] == pytest.approx(3.0)
    assert stream.truncation["read_seconds"] == pytest.approx(stream.duration, abs=1e-3)
    assert f"{stream.duration:.2f} s" in message

    full = ResampledStream(whole, 7.5)
    list(full)
    assert full.truncation is None

    mp4 = write_test_video(tmp_path / "whole.mp4", frames=30)  # index at the end of the file
    short = tmp_path / "cut.mp4"
    short.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    with pytest.raises(VideoDecodeError) as error:
        probe_video(short)
    _assert_one_line_naming(error, short)


def test_preview_copy_is_h264_with_the_rotation_applied(tmp_path):
    source = write_test_video(
        tmp_path / "src.mkv", frames=12, size=(64, 32), rotation=-90, container="matroska"
    )
    preview = write_preview(source, tmp_path / "media" / "src.mp4", max_side=32)
    info = probe_video(preview)
    assert (info.codec, info.rotation, info.width, info.height) == ("h264", 0, 16, 32)
    assert info.browser_playable
    avi = write_test_video(tmp_path / "old.avi", frames=2, codec="mpeg4", container="avi")
    assert not probe_video(avi).browser_playable  # MPEG-4 part 2 in AVI, like Megamind.avi
    assert len(list(ResampledStream(preview, info.fps))) == 12
