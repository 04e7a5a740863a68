"""RGB frames and extracted cues of any video, computed as its frames stream past.

Training decoded every ``data.frame_stride``-th frame of its (30 fps) videos and cached flow
and skeletons per video. Predict must see any video (any length, frame rate, rotation) the
same way in bounded memory: the video is resampled to the training clock
(:class:`perception.video.ResampledStream`) and every cue is computed by the same streaming
extractor the cache uses (:class:`perception.flow.FlowStream`,
:class:`perception.skeleton.SkeletonStream`), holding only the entries of the window being
predicted.

The clock ticks at ``fps / unit`` with ``unit = gcd(frame_stride, each cue's stride)``; RGB
entries are every ``frame_stride / unit``-th tick, and each cue keeps one entry per RGB entry
(flow pairs span the flow's own stride). Which cues exist is whatever extractors the caller
passes: this module never asks for a cue by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from perception.video import FITS, Sample, VideoDecodeError, VideoInfo, center_crop_box, frame_to_rgb

Clock = Callable[[str], AbstractContextManager]


class EntryStream(Protocol):
    """What a cue's streaming extractor offers (entries aligned with the RGB entries)."""

    def push(self, tick: int, sample: Sample, rgb: np.ndarray | None) -> None: ...
    @property
    def ready(self) -> int: ...
    def finish(self) -> None: ...
    def window(self, start: int, stop: int) -> Any: ...
    def drop_before(self, index: int) -> None: ...


class StreamingExtractor(Protocol):
    """A cue's extractor settings (``perception.flow.FlowConfig``, ``SkeletonConfig``)."""

    def clock_stride(self, frame_stride: int) -> int: ...
    def stream(self, info: VideoInfo, rgb_every: int, unit: int, frame_stride: int) -> EntryStream: ...


@dataclass
class Window:
    """The inputs of entries ``[start, stop)``: RGB frames and each cue's compact arrays, the
    shape a decoded training video has (``detection.data.dataset.VideoSample``)."""

    frames: np.ndarray
    cues: dict[str, Any] = field(default_factory=dict)


class CueStream(ExitStack):
    """Per-RGB-entry inputs of one video; a context manager (cue extractors may own models).

    Feed every tick of a :class:`ResampledStream` at :attr:`grid_rate` to :meth:`add`; entry
    ``k`` of every cue is complete once :attr:`ready` exceeds ``k``. :meth:`window` builds the
    inputs of entries ``[a, b)``; :meth:`drop_before` frees older ones.
    """

    def __init__(
        self,
        info: VideoInfo,
        image_size: int,
        frame_stride: int,
        train_fps: float,
        extractors: Mapping[str, StreamingExtractor],
        clock: Clock | None = None,
        fit: str = "squash",
    ) -> None:
        super().__init__()
        self.info, self.size = info, image_size
        # the frame geometry training used (perception.video.fit_frames): the whole frame
        # squashed, or the short side at image_size and the centre crop of it
        self.scaled, self.crop = (image_size, image_size), None
        if fit == "center_crop":
            factor = image_size / min(info.width, info.height)
            self.scaled = (
                max(image_size, round(info.width * factor)),
                max(image_size, round(info.height * factor)),
            )
            self.crop = center_crop_box(self.scaled[1], self.scaled[0], image_size)
        elif fit != "squash":
            raise ValueError(f"unknown frame fit {fit!r}; valid: {', '.join(FITS)}")
        self.clock = clock or (lambda _stage: nullcontext())
        self.unit = math.gcd(frame_stride, *[e.clock_stride(frame_stride) for e in extractors.values()])
        self.grid_rate = train_fps / self.unit
        self.rgb_every = frame_stride // self.unit
        self.streams: dict[str, EntryStream] = {}
        for name, extractor in extractors.items():
            stream = extractor.stream(info, self.rgb_every, self.unit, frame_stride)
            self.streams[name] = self.enter_context(stream) if hasattr(stream, "__enter__") else stream
        self.offset = 0  # index of the first entry still held
        self.rgb: list[np.ndarray] = []
        self.source_index: list[int] = []
        self.finished = False
        self.peak_held = 0  # most entries held at once: the memory bound, checked by the tests

    @property
    def count(self) -> int:
        """RGB entries seen so far, including dropped ones."""
        return self.offset + len(self.rgb)

    @property
    def ready(self) -> int:
        """Entries whose every cue is computed."""
        if self.finished:
            return self.count
        return min([self.count] + [stream.ready for stream in self.streams.values()])

    def add(self, sample: Sample) -> None:
        rgb = None
        if sample.index % self.rgb_every == 0:
            with self.clock("rgb"):
                rgb = frame_to_rgb(sample.frame, *self.scaled, self.info.rotation)
                if self.crop is not None:
                    x0, y0, w, h = self.crop
                    rgb = np.ascontiguousarray(rgb[y0 : y0 + h, x0 : x0 + w])
            self.rgb.append(rgb)
            self.source_index.append(sample.source_index)
            self.peak_held = max(self.peak_held, len(self.rgb))
        for name, stream in self.streams.items():
            with self.clock(name):
                stream.push(sample.index, sample, rgb)

    def finish(self) -> None:
        if self.count == 0:
            raise VideoDecodeError(f"{self.info.path}: the video has no frames")
        for stream in self.streams.values():
            stream.finish()
        self.finished = True

    def window(self, start: int, stop: int) -> Window:
        a, b = start - self.offset, stop - self.offset
        if a < 0 or b > len(self.rgb):
            raise IndexError(f"entries [{start}, {stop}) not held (have [{self.offset}, {self.count}))")
        cues = {name: stream.window(start, stop) for name, stream in self.streams.items()}
        return Window(np.stack(self.rgb[a:b]), cues)

    def drop_before(self, index: int) -> None:
        """Forget entries before ``index`` (they belong to windows already predicted)."""
        cut = max(0, min(index - self.offset, len(self.rgb)))
        if not cut:
            return
        del self.rgb[:cut], self.source_index[:cut]
        for stream in self.streams.values():
            stream.drop_before(index)
        self.offset += cut

    def presence(self) -> np.ndarray | None:
        """Per RGB entry of the whole video, whether a person was found; None when no cue
        looks for one (``present_history`` of a skeleton stream)."""
        for stream in self.streams.values():
            history = getattr(stream, "present_history", None)
            if history is not None:
                return np.asarray(history, dtype=bool)
        return None
