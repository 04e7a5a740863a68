"""Decoding videos into frame arrays for the models.

Whole videos (training): decord is the fast path (it seeks and resizes inside FFmpeg); PyAV
is the fallback for files or platforms decord cannot handle. Both return the same thing:
uint8 RGB frames of the requested size, every ``stride``-th frame, plus the video's fps and
frame count, so the caller can convert frame indices to seconds exactly as the annotations do.

Any video (prediction): :func:`probe_video` describes a file or says in one line, naming it,
why it cannot be read; :class:`ResampledStream` decodes it one frame at a time (PyAV) onto a
fixed clock by timestamps, so any frame rate, variable timing and long files work in bounded
memory; :func:`frame_to_rgb` resizes a frame and applies its rotation metadata.
"""

from __future__ import annotations

import heapq
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class VideoDecodeError(RuntimeError):
    """A video could not be decoded; the message names the file and the reason."""


class TruncatedVideo(UserWarning):
    """A video ends before its header says it does (a cut download, a crashed recorder): it is
    used as far as it decodes, and the warning names the file and how much was read."""


@dataclass(frozen=True)
class DecodedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, every ``stride``-th frame
    fps: float
    total_frames: int
    stride: int


def _decode_size(path: Path, size: int | None, fit: str) -> tuple[int, int] | None:
    """(width, height) the decoder scales to: ``size`` squared, or for ``center_crop`` the
    short side at ``size`` (the crop follows), from the file's header."""
    if not size:
        return None
    if fit == "squash":
        return size, size
    info = probe_video(path)
    factor = size / min(info.width, info.height)
    return max(size, round(info.width * factor)), max(size, round(info.height * factor))


def _read_with_decord(
    path: Path, stride: int, size: int | None, fit: str, window: tuple[int, int] | None
) -> DecodedVideo:
    import decord

    scaled = _decode_size(path, size, fit)
    kwargs = {"width": scaled[0], "height": scaled[1]} if scaled else {}
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1, **kwargs)
    total = len(reader)
    if total == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    sampled = range(0, total, stride)
    if window is not None:
        sampled = sampled[window[0] : window[1]]
    frames = reader.get_batch(list(sampled)).asnumpy()
    if size:
        frames = fit_frames(frames, size, fit)
    return DecodedVideo(frames, float(reader.get_avg_fps()), total, stride)


def _read_with_pyav(
    path: Path, stride: int, size: int | None, fit: str, window: tuple[int, int] | None
) -> DecodedVideo:
    import av

    first, stop = window if window is not None else (0, None)
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        total = 0
        for index, frame in enumerate(container.decode(stream)):
            total += 1
            if index % stride or not first <= index // stride < (stop if stop is not None else total + 1):
                continue
            image = frame.to_ndarray(format="rgb24")
            frames.append(fit_frames(image[None], size, fit)[0] if size else image)
    if not frames:
        raise VideoDecodeError(f"{path}: the video has no frames")
    return DecodedVideo(np.stack(frames), fps, total, stride)


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) -> short side ``size``, aspect kept (no-op when it already is)."""
    height, width = frames.shape[1:3]
    if min(height, width) == size:
        return frames
    factor = size / min(height, width)
    new = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(frame, new, interpolation=interpolation) for frame in frames])


def center_crop_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(x0, y0, crop_w, crop_h) of the centred ``size`` x ``size`` crop (clipped to the frame)."""
    size_w, size_h = min(size, width), min(size, height)
    return (width - size_w) // 2, (height - size_h) // 2, size_w, size_h


FITS = ("squash", "center_crop")


def fit_frames(frames: np.ndarray, size: int, fit: str = "squash") -> np.ndarray:
    """(T, H, W, 3) frames -> (T, size, size, 3): ``squash`` resizes the whole frame (aspect
    not kept); ``center_crop`` resizes the short side to ``size`` and keeps the centre, as
    AdaTAD's test pipeline does (frames already the right size are returned as they are)."""
    if fit not in FITS:
        raise ValueError(f"unknown frame fit {fit!r}; valid: {', '.join(FITS)}")
    if frames.shape[1:3] == (size, size):
        return frames
    if fit == "squash":
        return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
    frames = resize_short_side(frames, size)
    x0, y0, w, h = center_crop_box(frames.shape[1], frames.shape[2], size)
    return np.ascontiguousarray(frames[:, y0 : y0 + h, x0 : x0 + w])


def read_video(
    path: str | Path,
    stride: int = 1,
    size: int | None = None,
    fit: str = "squash",
    window: tuple[int, int] | None = None,
) -> DecodedVideo:
    """Decode every ``stride``-th frame of ``path``, resized to ``size`` x ``size`` if given.

    ``fit`` (:func:`fit_frames`): ``squash`` resizes without keeping the aspect ratio (the
    detector sees the whole frame; the synthetic videos are square anyway); ``center_crop``
    resizes the short side and keeps the centre, AdaTAD's test geometry for real videos.
    ``window=(a, b)`` decodes only the sampled frames ``a <= i < b`` (of those every-``stride``
    frames): the same frames as the whole decode gives there, for streaming clips from disk.
    """
    path = Path(path)
    if stride < 1:
        raise ValueError(f"frame stride must be >= 1, got {stride}")
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    errors = []
    if fit not in FITS:
        raise ValueError(f"unknown frame fit {fit!r}; valid: {', '.join(FITS)}")
    for reader in (_read_with_decord, _read_with_pyav):
        try:
            return reader(path, stride, size, fit, window)
        except VideoDecodeError:
            raise
        except Exception as error:  # decoder libraries raise many types; try the next one
            errors.append(f"{reader.__name__.removeprefix('_read_with_')}: {error}")
    raise VideoDecodeError(f"{path}: cannot decode ({'; '.join(errors)})")


# --------------------------------------------------------------------------- streaming, resampled

# Browsers play these containers and codecs; other files get a preview copy in the HTML report.
BROWSER_CONTAINERS = ("mp4", "mov", "webm", "matroska", "ogg")
BROWSER_CODECS = ("h264", "vp8", "vp9", "av1", "theora")
REORDER_FRAMES = 8  # frames held to put mislabelled timestamps back in display order


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about a video's first video stream.

    ``width`` and ``height`` are as displayed, after the ``rotation`` (degrees counterclockwise,
    from the display matrix) that phones record instead of rotating the pixels.
    """

    path: Path
    width: int
    height: int
    rotation: int
    fps: float  # average rate; 0 when the header has none
    duration: float | None  # declared length in seconds, None when unknown
    codec: str
    container: str
    pix_fmt: str
    frames: int | None = None  # frame count from the header, None when it does not say

    @property
    def browser_playable(self) -> bool:
        """Whether a web browser can play the file itself (else the report shows a preview copy)."""
        container = self.container.split(",")[0]
        return container in BROWSER_CONTAINERS and self.codec in BROWSER_CODECS and self.pix_fmt == "yuv420p"


def _open_failure(path: Path, error: Exception) -> VideoDecodeError:
    """One line naming the file: what FFmpeg said, in words a user can act on."""
    import av

    if isinstance(error, av.error.EOFError):
        return VideoDecodeError(f"{path}: the file ends before any video frame (empty or truncated)")
    if isinstance(error, av.error.InvalidDataError):
        return VideoDecodeError(f"{path}: not a video FFmpeg can read (corrupt, truncated or another format)")
    return VideoDecodeError(f"{path}: cannot open ({type(error).__name__}: {error})")


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path`` and describe its first video stream; decodes one frame to learn the rotation.

    Raises :class:`VideoDecodeError` with a one-line message naming the file for a missing
    file, a file FFmpeg cannot open, a file without a video stream or without any frame.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream (an audio or data file?)")
            stream = container.streams.video[0]
            context = stream.codec_context
            first = next(container.decode(stream), None)
            if first is None:
                raise VideoDecodeError(f"{path}: the video has no frames")
            rotation = int(round((first.rotation or 0) / 90.0)) * 90 % 360
            rotation = rotation - 360 if rotation > 180 else rotation
            width, height = first.width, first.height
            if rotation % 180:
                width, height = height, width
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            return VideoInfo(
                path=path,
                width=width,
                height=height,
                rotation=rotation,
                fps=float(stream.average_rate or stream.guessed_rate or 0.0),
                duration=duration,
                codec=context.name,
                container=container.format.name,
                pix_fmt=str(first.format.name),
                frames=int(stream.frames) or None,
            )
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise _open_failure(path, error) from error


def rotate_image(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counterclockwise, quarter turns) to an (H, W, ...) image."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def frame_to_rgb(
    frame, width: int, height: int, rotation: int, interpolation: str = "BILINEAR"
) -> np.ndarray:
    """A decoded PyAV frame as (height, width, 3) uint8 RGB *as displayed* (rotation applied).

    FFmpeg scales before the rotation, so for a quarter turn it is asked for the swapped size.
    BILINEAR is the swscale filter closest to what decord (the training decoder) produces:
    0.5 grey levels mean difference at 64 px, against 1.3 for AREA and 1.6 for BICUBIC.
    """
    scaled = (height, width) if rotation % 180 else (width, height)
    image = frame.reformat(width=scaled[0], height=scaled[1], format="rgb24", interpolation=interpolation)
    return rotate_image(image.to_ndarray(), rotation)


@dataclass
class Sample:
    """One resampled frame: the ``index``-th tick of the target clock."""

    index: int
    time: float  # the tick's time, seconds since the video's first frame
    source_index: int  # which decoded frame was taken (native numbering)
    frame: object  # the av.VideoFrame


class ResampledStream:
    """Iterate a video at a fixed ``rate`` (ticks per second), one decoded frame at a time.

    Tick ``k`` (time ``k / rate`` after the first frame) takes the decoded frame whose
    timestamp is nearest (ties: the earlier), so variable-frame-rate video lands on the right
    instants and a 25 or 60 fps video gives the same clock as the 30 fps training data. Ticks
    run up to the last frame's timestamp: a constant-rate video of ``N`` frames sampled at
    ``fps / s`` gives ``ceil(N / s)`` ticks, the frames ``0, s, 2s, ...`` that training decodes.

    After iteration: ``frame_times`` (every decoded frame's time), ``duration`` (last frame's
    time plus one frame), ``frames_decoded`` and ``truncation``. A truncated or partly corrupt
    file is decoded as far as it goes: the stream then ends early with a :class:`TruncatedVideo`
    warning naming the file and how much of its declared length was read, and ``truncation``
    records it (None for a whole video). A file with no decodable frame at all raises
    :class:`VideoDecodeError` naming it.
    """

    def __init__(self, path: str | Path, rate: float, info: VideoInfo | None = None, threads: bool = True):
        if not rate > 0:
            raise ValueError(f"sampling rate must be > 0, got {rate}")
        self.path, self.rate = Path(path), float(rate)
        self.info = info or probe_video(self.path)
        self.threads = threads
        self.frame_times: list[float] = []
        self.duration = 0.0
        self.truncation: dict[str, float | str] | None = None
        self.decode_error: str | None = None  # what FFmpeg said when decoding stopped early

    @property
    def frames_decoded(self) -> int:
        return len(self.frame_times)

    def _decoded(self):
        """(seconds since the first frame, frame) for every decoded frame, in display order.

        Decoders output frames in display order, but some files (AVI with packed B-frames,
        such as Megamind.avi) label them with their packets' timestamps, which follow decode
        order: 1, 2, 3, 5, 4. Sorting the timestamps through a small reorder buffer gives each
        frame its display time again; a well-labelled stream passes through unchanged.
        """
        import av

        frames: deque = deque()
        stamps: list[float] = []
        start = None
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                if self.threads:
                    stream.thread_type = "AUTO"
                for count, frame in enumerate(container.decode(stream)):
                    # no timestamp: fall back to the frame count
                    stamp = float(frame.time) if frame.time is not None else count / (self.info.fps or 30.0)
                    heapq.heappush(stamps, stamp)
                    frames.append(frame)
                    if len(frames) > REORDER_FRAMES:
                        stamp = heapq.heappop(stamps)
                        start = stamp if start is None else start
                        yield stamp - start, frames.popleft()
        except av.error.FFmpegError as error:
            if not frames and not self.frame_times:
                raise VideoDecodeError(
                    f"{self.path}: corrupt or truncated video, no frame decodes ({error})"
                ) from error
            self.decode_error = str(error)  # keep what decoded; __iter__ reports how much
        while frames:
            stamp = heapq.heappop(stamps)
            start = stamp if start is None else start
            yield stamp - start, frames.popleft()

    def __iter__(self):
        tick = 0
        previous: tuple[float, object] | None = None
        for stamp, frame in self._decoded():
            if self.frame_times and stamp <= self.frame_times[-1]:
                continue  # a repeated or out-of-order timestamp: keep the clock monotonic
            self.frame_times.append(stamp)
            index = len(self.frame_times) - 1
            # Every tick up to this frame's time lies between the previous frame and this one.
            while tick / self.rate <= stamp + 1e-9:
                target = tick / self.rate
                if previous is not None and target - previous[0] <= stamp - target + 1e-9:
                    yield Sample(tick, target, index - 1, previous[1])
                else:
                    yield Sample(tick, target, index, frame)
                tick += 1
            previous = (stamp, frame)
        if not self.frame_times:
            raise VideoDecodeError(f"{self.path}: the video has no frames")
        step = 1.0 / self.info.fps if self.info.fps > 0 else 0.0
        self.duration = self.frame_times[-1] + step
        declared = self.info.duration
        short = bool(declared) and self.duration < declared - max(1.0, 0.1 * declared)
        if short or self.decode_error:
            self.truncation = {
                "read_seconds": round(self.duration, 3),
                "declared_seconds": round(declared, 3) if declared else None,
                "reason": self.decode_error or "the file ends early",
            }
            of = f" of the {declared:.2f} s its header declares" if declared else ""
            percent = f" ({100 * self.duration / declared:.0f}%)" if declared else ""
            warnings.warn(
                f"{self.path}: truncated video, decoded {self.duration:.2f} s{of}{percent}; using what was read",
                TruncatedVideo,
                stacklevel=2,
            )
