"""Dense optical flow as a motion cue for micro-action models.

Micro-actions move a few pixels at most, so appearance alone (what a frozen backbone sees)
barely changes; the flow field says directly where and how much the body moved. Flow is
computed on small grey frames (the detector's own resolution), clipped to a few pixels and
stored as int8: a whole video then costs ``2 * size**2`` bytes per sampled frame, and the
clip keeps rare large motions (camera shake, a person walking in) from dominating the scale.

Methods (all from OpenCV; the first two need only opencv-python, TV-L1 needs the contrib
build, ``cv2.optflow``):

- ``dis``: Dense Inverse Search, the fastest, and the default.
- ``farneback``: polynomial expansion, a classic baseline.
- ``tvl1``: Dual TV-L1, the flow of two-stream action recognition papers; about 80x slower than DIS.

Why DIS with ``dis_preset="ultrafast"`` and ``dis_finest_scale=0``: OpenCV's presets are tuned
for VGA-sized frames and stop the coarse-to-fine search at a quarter (ultrafast, fast) or
half (medium) of the resolution, then upsample. At the 64-160 pixel frames used here a hand
is a few pixels wide and micro-motions are sub-pixel, so that last upsampling is where the
accuracy goes. Measured against the ground-truth landmark motions of 20 synthetic videos
(median motion about a third of a pixel at 64), searching down to full resolution cuts the
median endpoint error at 160 px by 2-3x (ultrafast 0.57 -> 0.20 px, medium 0.39 -> 0.23 px);
at 64 px OpenCV already lowers the ultrafast/fast level to full resolution by itself, while
medium stays at half and is 1.5x worse. At full resolution the presets differ by less than
15% (ultrafast has the best median on whole videos, fast/medium are slightly better on
stretches with large action motions at 160) while ultrafast is about twice as fast as the
others, so it is the default. ``dis_finest_scale=None`` keeps the preset's own level. Numbers and the
command to reproduce them: BENCHMARKS.md, "Cue extraction throughput".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from perception.video import ResampledStream, VideoDecodeError, frame_to_rgb, probe_video

METHODS = ("dis", "farneback", "tvl1")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
INT8_MAX = 127  # symmetric quantisation: -128 is never produced, so negation cannot overflow

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FlowConfig:
    """How flow is computed; flow values are in pixels at ``size`` x ``size``."""

    method: str = "dis"  # "dis" | "farneback" | "tvl1"
    size: int = 64  # square grey frames, like perception.video.read_video(size=...)
    frame_stride: int = 2  # flow from frame i to i + frame_stride, i = 0, stride, 2 * stride, ...
    clip: float = 4.0  # |flow| clipped to this many pixels before int8 quantisation
    dis_preset: str = "ultrafast"  # "ultrafast" | "fast" | "medium" (module docstring says why)
    dis_finest_scale: int | None = 0  # DIS pyramid level the search stops at; 0 = full size, None = preset's

    def __call__(self, video_path: str | Path) -> dict[str, np.ndarray]:
        """The config is the extractor: Hydra builds it from ``configs/flow/*.yaml`` and the
        cue cache calls it (and hashes its fields into the cache key)."""
        return extract_flow(video_path, self)

    def for_video(self, video: str | Path, **options) -> FlowConfig:
        """The settings for one predicted video (flow has no per-video choice)."""
        return self

    def clock_stride(self, frame_stride: int) -> int:
        """Native frames between the frames a flow pair needs (``perception.cue_stream``)."""
        return self.frame_stride

    def stream(self, info, rgb_every: int, unit: int, frame_stride: int) -> FlowStream:
        """Streaming flow for predict: one entry per RGB entry (every ``rgb_every`` ticks of a
        clock of ``unit`` native frames), each the pair ``frame_stride`` native frames long."""
        return FlowStream(
            self, every=rgb_every, gap=self.frame_stride // unit, name=str(info.path), rotation=info.rotation
        )


def _dis(preset: str, finest_scale: int | None) -> FlowFn:
    if preset not in DIS_PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; valid: {', '.join(DIS_PRESETS)}")
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    if finest_scale is not None:
        if finest_scale < 0:
            raise ValueError(f"dis_finest_scale must be >= 0 or None, got {finest_scale}")
        dis.setFinestScale(finest_scale)
    return lambda prev, nxt: dis.calc(prev, nxt, None)


def _farneback(size: int) -> FlowFn:
    # Window and pyramid depth follow the frame size: a 15-pixel window (OpenCV's usual
    # choice for VGA) would average a 64-pixel frame's limbs together.
    winsize = int(np.clip(size // 8, 5, 15)) | 1
    levels = int(np.clip(np.log2(size / 16), 1, 5))

    def flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, levels, winsize, 3, 5, 1.1, 0)

    return flow


def _tvl1() -> FlowFn:
    optflow = getattr(cv2, "optflow", None)
    if optflow is None or not hasattr(optflow, "DualTVL1OpticalFlow_create"):
        raise ImportError(
            "flow method 'tvl1' needs cv2.optflow, which only the contrib build of OpenCV has: "
            "pip install opencv-contrib-python (instead of opencv-python / -headless)"
        )
    tvl1 = optflow.DualTVL1OpticalFlow_create()
    return lambda prev, nxt: tvl1.calc(prev, nxt, None)


def make_flow_fn(config: FlowConfig) -> FlowFn:
    """One OpenCV flow object per video, reused for every pair (creating one allocates buffers)."""
    if config.method == "dis":
        return _dis(config.dis_preset, config.dis_finest_scale)
    if config.method == "farneback":
        return _farneback(config.size)
    if config.method == "tvl1":
        return _tvl1()
    raise ValueError(f"unknown flow method {config.method!r}; valid: {', '.join(METHODS)}")


def _check(config: FlowConfig) -> None:
    if config.size < 8:
        raise ValueError(f"flow size must be >= 8 pixels, got {config.size}")
    if config.frame_stride < 1:
        raise ValueError(f"flow frame_stride must be >= 1, got {config.frame_stride}")
    if not config.clip > 0:
        raise ValueError(f"flow clip must be > 0, got {config.clip}")


def quantize_flow(flow: np.ndarray, clip: float) -> np.ndarray:
    """float pixels -> int8, clipped to [-clip, clip]; the step is clip / 127."""
    scaled = np.clip(flow, -clip, clip) * (INT8_MAX / clip)
    return np.rint(scaled).astype(np.int8)


def dequantize_flow(flow_int8: np.ndarray, clip: float) -> np.ndarray:
    """int8 -> float32 pixels at the extraction ``size``; the inverse of the quantisation."""
    return flow_int8.astype(np.float32) * np.float32(clip / INT8_MAX)


def mirror_flow(flow: np.ndarray) -> np.ndarray:
    """The flow of the left-right mirrored video: flip the W axis and negate dx.

    Used for flip augmentation, which must transform the flow exactly as it transforms the
    frames. Works on (..., H, W, 2), int8 or float; int8 -128 (never produced by
    :func:`quantize_flow`) is treated as -127 so the negation cannot overflow.
    """
    out = np.array(flow[..., ::-1, :], copy=True)
    dx = out[..., 0]
    if np.issubdtype(out.dtype, np.signedinteger):
        np.maximum(dx, -np.iinfo(out.dtype).max, out=dx)
    np.negative(dx, out=dx)
    return out


def grey_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) uint8 grey, as OpenCV's flow functions expect."""
    return np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames])


def flow_input(frame, config: FlowConfig, rotation: int = 0, rgb: np.ndarray | None = None) -> np.ndarray:
    """A decoded PyAV frame as the grey ``size`` x ``size`` image flow is computed on: resized by
    :func:`perception.video.frame_to_rgb` (rotation applied) in cached extraction and in predict
    alike. ``rgb``: the frame already converted at ``config.size``, to skip a second resize."""
    if rgb is None:
        rgb = frame_to_rgb(frame, config.size, config.size, rotation)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class FlowStream(contextlib.AbstractContextManager):
    """Optical flow of a video computed as its frames arrive: the one flow extractor, used by
    the cue cache (:func:`extract_flow`) and by predict (:mod:`perception.cue_stream`).

    Frames arrive as ticks of a clock (native frames, or a resampled clock). Entry ``k`` is the
    flow from tick ``k * every`` to tick ``k * every + gap``; only those ticks' grey frames are
    computed and held. When the stream ends (:meth:`finish`), the last entries have no partner
    and repeat the last flow: padding with zeros would put a fake full stop at the end of every
    video, which a detector could learn as an action boundary.
    """

    def __init__(
        self,
        config: FlowConfig,
        every: int | None = None,
        gap: int | None = None,
        name: str = "video",
        rotation: int = 0,
    ):
        _check(config)
        self.config, self.name, self.rotation = config, name, rotation
        self.every = every or config.frame_stride
        self.gap = gap or config.frame_stride
        if self.every < 1 or self.gap < 1:
            raise ValueError(f"flow ticks must be >= 1, got every={self.every}, gap={self.gap}")
        self.calc = make_flow_fn(config)  # a bad method or a missing contrib build fails here
        self.offset = 0  # index of the first entry still held
        self.count = 0  # entries started (ticks k * every seen)
        self.flows: list[np.ndarray] = []
        self.grey: dict[int, np.ndarray] = {}  # tick -> grey frame awaiting its partner
        self.finished = False

    def __exit__(self, *exc) -> None:
        """Nothing to release (a context manager only so cue streams can be used alike)."""

    def needs(self, tick: int) -> bool:
        """Whether the frame at ``tick`` takes part in a pair (the others need not be converted)."""
        start = tick - self.gap
        return tick % self.every == 0 or (start >= 0 and start % self.every == 0)

    def add(self, tick: int, grey: np.ndarray) -> None:
        """The grey frame (:func:`flow_input`) at ``tick``; ticks come in increasing order."""
        start = tick - self.gap
        if start >= 0 and start % self.every == 0 and start in self.grey:
            self.flows.append(quantize_flow(self.calc(self.grey[start], grey), self.config.clip))
        if tick % self.every == 0:
            self.grey[tick] = grey
            self.count += 1
        for old in [t for t in self.grey if t < tick - self.gap]:
            del self.grey[old]

    def push(self, tick: int, sample, rgb: np.ndarray | None = None) -> None:
        """A decoded frame (``perception.video.Sample``) at ``tick``; ``rgb`` is the frame already
        converted at some size, reused when that size is the flow's."""
        if self.needs(tick):
            reuse = rgb if rgb is not None and rgb.shape[:2] == (self.config.size, self.config.size) else None
            self.add(tick, flow_input(sample.frame, self.config, self.rotation, reuse))

    @property
    def ready(self) -> int:
        """Entries whose flow is computed (all of them once finished)."""
        return self.count if self.finished else self.offset + len(self.flows)

    def finish(self) -> None:
        if not self.flows and self.offset == 0:
            raise VideoDecodeError(
                f"{self.name}: too short for optical flow at frame_stride {self.config.frame_stride}: "
                f"it needs two frames {self.gap} tick(s) apart"
            )
        if self.count - self.offset > len(self.flows):
            self.flows += [self.flows[-1]] * (self.count - self.offset - len(self.flows))
        self.grey.clear()
        self.finished = True

    def window(self, start: int, stop: int) -> dict[str, np.ndarray | float]:
        """Entries ``[start, stop)`` in the compact form of the cue cache (int8 flow, clip)."""
        a, b = start - self.offset, stop - self.offset
        if a < 0 or b > len(self.flows):
            raise IndexError(f"flow entries [{start}, {stop}) not held (have [{self.offset}, {self.ready}))")
        return {"flow": np.stack(self.flows[a:b]), "clip": float(self.config.clip)}

    def drop_before(self, index: int) -> None:
        """Forget entries before ``index`` (their windows are done)."""
        cut = max(0, min(index - self.offset, len(self.flows)))
        del self.flows[:cut]
        self.offset += cut


def flow_from_frames(grey: np.ndarray, config: FlowConfig, calc: FlowFn | None = None) -> np.ndarray:
    """Flow between consecutive (already strided) grey frames; one entry per frame, int8:
    entry k is the flow from frame k to frame k + 1, the last repeats the previous pair's."""
    if len(grey) < 2:
        raise ValueError("flow needs at least 2 frames")
    stream = FlowStream(config, every=1, gap=1)
    if calc is not None:
        stream.calc = calc
    for k, frame in enumerate(grey):
        stream.add(k, frame)
    stream.finish()
    return np.stack(stream.flows)


def extract_flow(video_path: str | Path, config: FlowConfig) -> dict[str, np.ndarray]:
    """Flow of a whole video, one entry per ``frame_stride``-th frame (the cue cache's entry).

    Frames are decoded one at a time on the video's own clock (:class:`ResampledStream`) and go
    through :class:`FlowStream`, exactly as predict computes flow. Returns ``flow`` int8
    (N, size, size, 2) [dx, dy] (dequantise with :func:`dequantize_flow` and ``clip``),
    ``frame_indices`` int32 (N,) (first frame of each pair, native numbering; the last entry
    repeats the previous pair's flow) and ``clip`` float32 scalar array.
    """
    stream = FlowStream(config, name=str(video_path))  # checks the settings before decoding
    info = probe_video(video_path)
    frames = ResampledStream(video_path, info.fps or 30.0, info, threads=False)
    indices = []
    for sample in frames:
        if stream.needs(sample.index):
            if sample.index % stream.every == 0:
                indices.append(sample.source_index)
            stream.add(sample.index, flow_input(sample.frame, config, info.rotation))
    stream.finish()
    return {
        "flow": np.stack(stream.flows),
        "frame_indices": np.asarray(indices, dtype=np.int32),
        "clip": np.asarray(config.clip, dtype=np.float32),
    }
