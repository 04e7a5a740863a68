"""One video of any length through a trained detector, in windows, with bounded memory.

The detector was trained on whole 5-15 s clips; a long video is cut into windows of
``window_seconds`` (a whole number of backbone chunks), each seen with ``context_seconds``
of video on either side, and a window keeps the detections whose centre lies in its own
core, so every instant is predicted by the window that sees it with the most context and
an action is reported once. A video that fits in one window is predicted in one pass, as
the evaluation of ``task=mmad`` predicts a test video. Only the frames of the current
window (plus its context) are held, at the model's input size.

Per-stage wall time (decode, rgb, flow, skeleton, each model stream, head) is recorded for
the throughput benchmark and the run summary.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from detection.data.annotations import SUBMISSION_COLUMNS
from detection.data.dataset import steps_to_seconds
from detection.predict.model import Predictor
from perception.cue_stream import CueStream, Window
from perception.video import ResampledStream, VideoInfo, probe_video


@dataclass(frozen=True)
class PredictOptions:
    """How predictions are made and filtered (``task.predict`` in the config)."""

    threshold: float = 0.0  # detections below this score are dropped
    top_k: int | None = None  # at most this many detections per video, best first
    window_seconds: float = 60.0  # core length of one window
    context_seconds: float = 8.0  # extra video seen on each side of a window's core
    skeleton_source: str = (
        "auto"  # auto | mediapipe | groundtruth (perception.skeleton.SkeletonConfig.for_video)
    )

    def __post_init__(self) -> None:
        if not self.window_seconds > 0 or self.context_seconds < 0:
            raise ValueError(
                f"need window_seconds > 0 and context_seconds >= 0, got {self.window_seconds}, "
                f"{self.context_seconds}"
            )
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 or null, got {self.top_k}")


@dataclass
class VideoPrediction:
    """Everything the exports need about one predicted video."""

    video_id: str
    info: VideoInfo
    detections: pd.DataFrame  # submission columns, seconds of the video, best first
    duration: float  # seconds, last frame's time plus one frame
    frame_times: np.ndarray  # every decoded frame's time (seconds since the first frame)
    sample_rate: float  # model frames per second
    present: np.ndarray | None  # per model frame: a person found (None without a skeleton cue)
    skeleton_source: str | None  # where this video's skeletons came from (None without a skeleton cue)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    truncation: dict | None = None  # a truncated file: seconds read, seconds declared, why (else None)
    peak_frames_held: int = 0  # most model frames in memory at once (bounded by the window)

    @property
    def path(self) -> Path:
        return self.info.path


class StageClock:
    """Wall time per named stage; ``with clock("flow"): ...`` adds to "flow"."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    @contextlib.contextmanager
    def streams(self, model: torch.nn.Module) -> Iterator[None]:
        """Time each cue stream of the model (``model.<cue>``) through forward hooks."""
        handles, started = [], {}
        for name, stream in model.streams.items():

            def before(_module, _inputs, name=name):
                started[name] = time.perf_counter()

            def after(_module, _inputs, _output, name=name):
                self.seconds[f"model.{name}"] += time.perf_counter() - started.pop(name)

            handles += [stream.register_forward_pre_hook(before), stream.register_forward_hook(after)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def detect_window(predictor: Predictor, window: Window, clock: StageClock):
    """Detections of one window: (segments in seconds from the window's start, scores, labels).
    Each cue turns the window's arrays into its input exactly as it does a training video's."""
    model = predictor.model
    inputs = {name: cue.model_input(cue.stored(window, name)) for name, cue in model.cue_specs.items()}
    frames = len(window.frames)
    steps = -(-frames // predictor.step_frames)
    padded = -(-steps // model.length_multiple) * model.length_multiple
    mask = torch.zeros(1, padded, dtype=torch.bool)
    mask[0, :steps] = True
    start = time.perf_counter()
    before = sum(v for k, v in clock.seconds.items() if k.startswith("model."))
    with torch.no_grad(), clock.streams(model):
        found = model.predict({cue: [tensor] for cue, tensor in inputs.items()}, mask)[0]
    streams = sum(v for k, v in clock.seconds.items() if k.startswith("model.")) - before
    clock.seconds["head"] += time.perf_counter() - start - streams
    seconds = steps_to_seconds(found.segments.double(), predictor.step_seconds)
    return seconds.numpy(), found.scores.numpy(), found.labels.numpy()


class _Windows:
    """Runs the model on windows as soon as their frames (and context) are in."""

    def __init__(self, predictor: Predictor, options: PredictOptions, cues: CueStream, clock: StageClock):
        self.predictor, self.cues, self.clock = predictor, cues, clock
        chunk = predictor.chunk_frames
        rate = predictor.sample_rate
        self.core = max(chunk, round(options.window_seconds * rate / chunk) * chunk)
        self.context = math.ceil(options.context_seconds * rate / chunk) * chunk
        self.next_core = 0
        self.rows: list[tuple[float, float, int, float]] = []

    def _run(self, core_start: int, core_end: int, last: bool) -> None:
        rate = self.predictor.sample_rate
        first = max(0, core_start - self.context)
        stop = min(self.cues.count, core_end + self.context)
        segments, scores, labels = detect_window(self.predictor, self.cues.window(first, stop), self.clock)
        segments = segments + first / rate
        centres = segments.mean(axis=1)
        # a window keeps what is centred in its core; the first keeps everything before it too
        # (a segment reaching back past the video's start), the last everything after
        keep = centres >= core_start / rate if core_start > 0 else np.ones(len(centres), dtype=bool)
        if not last:
            keep &= centres < core_end / rate
        for (begin, end), score, label in zip(segments[keep], scores[keep], labels[keep], strict=True):
            self.rows.append((float(begin), float(end), int(label), float(score)))

    def poll(self) -> None:
        """Predict every window whose core and right context are complete."""
        while self.cues.ready >= self.next_core + self.core + self.context:
            self._run(self.next_core, self.next_core + self.core, last=False)
            self.next_core += self.core
            self.cues.drop_before(self.next_core - self.context)

    def finish(self) -> None:
        self.cues.finish()
        self.poll()
        if self.next_core < self.cues.count or self.next_core == 0:
            self._run(self.next_core, self.cues.count, last=True)


def finalize(rows: list[tuple], video_id: str, duration: float, options: PredictOptions) -> pd.DataFrame:
    """Clamp to the video, drop empty segments, apply the threshold and top-k, best first."""
    table = pd.DataFrame(rows, columns=["t_start", "t_end", "class", "score"])
    table["t_start"] = table["t_start"].clip(0.0, duration)
    table["t_end"] = table["t_end"].clip(0.0, duration)
    table = table[(table["t_end"] > table["t_start"]) & (table["score"] >= options.threshold)]
    table = table.sort_values("score", ascending=False, kind="stable")
    if options.top_k is not None:
        table = table.head(options.top_k)
    table.insert(0, "video_id", video_id)
    table = table.astype({"t_start": float, "t_end": float, "class": int, "score": float})
    return table[list(SUBMISSION_COLUMNS)].reset_index(drop=True)


def predict_video(
    path: str | Path,
    predictor: Predictor,
    options: PredictOptions,
    video_id: str | None = None,
    progress: bool = True,
) -> VideoPrediction:
    """Detections for one video file. Raises ``VideoDecodeError`` (one line, naming the file)
    for anything FFmpeg cannot read, and writes nothing."""
    path = Path(path)
    clock = StageClock()
    with clock("decode"):
        info = probe_video(path)
    extractors = {
        name: extractor.for_video(path, skeleton_source=options.skeleton_source)
        for name, extractor in predictor.extractors.items()
    }
    source = next((getattr(e, "source", None) for e in extractors.values() if hasattr(e, "source")), None)
    bar = tqdm(total=info.duration, desc=path.name, unit="s", leave=False, disable=not progress)
    cue_stream = CueStream(
        info,
        predictor.image_size,
        predictor.frame_stride,
        predictor.train_fps,
        extractors,
        clock,
        predictor.fit,
    )
    with bar, cue_stream as cues:
        stream = ResampledStream(path, cues.grid_rate, info)
        windows = _Windows(predictor, options, cues, clock)
        samples = iter(stream)
        while True:
            with clock("decode"):
                sample = next(samples, None)
            if sample is None:
                break
            cues.add(sample)
            windows.poll()
            if info.duration:
                bar.update(max(0.0, min(sample.time, info.duration) - bar.n))
        windows.finish()
    table = finalize(windows.rows, video_id or path.stem, stream.duration, options)
    return VideoPrediction(
        video_id=video_id or path.stem,
        info=info,
        detections=table,
        duration=stream.duration,
        frame_times=np.asarray(stream.frame_times),
        sample_rate=predictor.sample_rate,
        present=cues.presence(),
        skeleton_source=source,
        timings=dict(clock.seconds),
        peak_frames_held=cues.peak_held,
        truncation=stream.truncation,
    )
