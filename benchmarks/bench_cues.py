"""Benchmark of motion-cue extraction (optical flow and skeletons) in video frames per second.

Times perception/flow.py and perception/skeleton.py on this machine's CPU.

    python benchmarks/bench_cues.py                       # synthetic video + Megamind.avi if installed
    python benchmarks/bench_cues.py --video a.mp4 --frames 60

Why: cues are extracted once per video before training, so their cost decides whether a
dataset can be preprocessed on a laptop CPU, and which flow method is worth it. Each video is
first cut to ``--frames`` frames (re-encoded with x264 crf 17, the synthetic generator's own
setting), so slow methods such as TV-L1 finish: the first frames of a video, or, for a video
with ground-truth landmarks, the stretch in which they move most (so the flow quality below
is measured on actions, not on a still subject). The rates are whole-pipeline rates
(decoding, resizing, extraction, quantisation), as a preprocessing job would see them, and
are given per *video* frame: with the flow default ``frame_stride=2`` one flow field covers
two video frames. Each cell is the fastest of ``--repeat`` runs.

Flow quality on the synthetic video: the median endpoint error (pixels at the extraction
size) of the flow, sampled at the ground-truth landmarks, against the landmarks' own motion
between the two frames of each pair, over landmarks that moved more than 0.1 px (scaled to
64). Occlusions and landmarks on limb edges make it an upper bound on the true error, the
same for every method, so compare the rows rather than read it as an absolute figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from perception.flow import FlowConfig, dequantize_flow, extract_flow
from perception.skeleton import SkeletonConfig, extract_skeleton, landmarks_path
from perception.video import ResampledStream, frame_to_rgb, probe_video, read_video

SYNTHETIC = Path("data/synthetic_mma/test/test0000.mp4")
MEGAMIND = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
SIZES = (64, 160)
FLOW_ROWS: list[tuple[str, FlowConfig]] = [
    ("dis ultrafast, finest scale 0 (default)", FlowConfig()),
    ("dis fast, finest scale 0", FlowConfig(dis_preset="fast")),
    ("dis medium, finest scale 0", FlowConfig(dis_preset="medium")),
    ("dis ultrafast, preset's scale", FlowConfig(dis_finest_scale=None)),
    ("dis fast, preset's scale", FlowConfig(dis_preset="fast", dis_finest_scale=None)),
    ("dis medium, preset's scale", FlowConfig(dis_preset="medium", dis_finest_scale=None)),
    ("farneback", FlowConfig(method="farneback")),
    ("tvl1", FlowConfig(method="tvl1")),
]
SKELETON_ROWS: list[tuple[str, SkeletonConfig]] = [
    ("mediapipe pose (complexity 1)", SkeletonConfig()),
    ("mediapipe holistic (complexity 1)", SkeletonConfig(holistic=True)),
    ("ground truth (.landmarks.npy)", SkeletonConfig(source="groundtruth")),
]


def busiest_start(landmarks: np.ndarray, frames: int) -> int:
    """First frame of the ``frames``-long window in which the ground-truth landmarks move most,
    so the flow quality is measured on actions rather than on a still stretch."""
    if len(landmarks) <= frames:
        return 0
    motion = np.nan_to_num(np.linalg.norm(np.diff(landmarks[:, :, :2], axis=0), axis=-1)).sum(axis=1)
    return int(np.argmax(np.convolve(motion, np.ones(frames - 1), mode="valid")))


def truncate(source: Path, start: int, frames: int, folder: Path) -> Path:
    """Frames [start, start + frames) of ``source`` as a new mp4 (plus its landmarks, cut alike)."""
    import av

    target = folder / f"{source.stem}.mp4"
    with av.open(str(source)) as inp, av.open(str(target), mode="w", format="mp4") as out:
        video = inp.streams.video[0]
        fps = Fraction(video.average_rate or 25).limit_denominator(1001)
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = video.codec_context.width // 2 * 2, video.codec_context.height // 2 * 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17", "preset": "veryfast"}
        for index, frame in enumerate(inp.decode(video)):
            if index < start:
                continue
            if index == start + frames:
                break
            image = frame.to_ndarray(format="rgb24")[: stream.height, : stream.width]
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    if landmarks_path(source).is_file():
        np.save(landmarks_path(target), np.load(landmarks_path(source))[start : start + frames])
    return target


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Fastest of ``repeat`` runs (the least disturbed by other load); one run if it is slow."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if times[-1] > 10.0:
            break
    return min(times), result


def landmark_errors(out: dict[str, np.ndarray], landmarks: np.ndarray, size: int) -> np.ndarray:
    """Flow endpoint errors at the moving ground-truth landmarks of every pair (module docstring)."""
    flow = dequantize_flow(out["flow"], float(out["clip"]))
    index = out["frame_indices"]
    errors = []
    for k in range(len(index) - 1):  # the last entry repeats the previous pair
        start = (landmarks[index[k], :, :2] * size).astype(np.float32)
        motion = (landmarks[index[k + 1], :, :2] - landmarks[index[k], :, :2]) * size
        sampled = cv2.remap(flow[k], start[:, None, 0], start[:, None, 1], cv2.INTER_LINEAR)[:, 0]
        moving = np.linalg.norm(motion, axis=1) > 0.1 * size / 64
        errors.append(np.linalg.norm(sampled - motion, axis=1)[moving])
    return np.concatenate(errors)


@dataclass(frozen=True)
class Video:
    name: str  # the source file's name, for the table
    path: Path  # the truncated copy that is timed
    start: int  # its first frame in the source
    frames: int
    shape: str  # width x height

    @property
    def has_groundtruth(self) -> bool:
        return landmarks_path(self.path).is_file()


def iter_frames(path: Path, stride: int = 1, max_side: int | None = None):
    """(index, RGB image as displayed) of every ``stride``-th frame, the longer side scaled to
    at most ``max_side``: the decoding the skeleton extractor does (perception.skeleton's old
    helper, gone with the streaming extractors)."""
    info = probe_video(path)
    scale = min(1.0, max_side / max(info.width, info.height)) if max_side else 1.0
    width, height = round(info.width * scale) // 2 * 2, round(info.height * scale) // 2 * 2
    for sample in ResampledStream(path, (info.fps or 30.0) / stride, info):
        yield sample.index, frame_to_rgb(sample.frame, width, height, info.rotation)


def prepare(source: Path, frames: int, folder: Path) -> Video:
    folder.mkdir(parents=True, exist_ok=True)
    gt = landmarks_path(source)
    start = busiest_start(np.load(gt), frames) if gt.is_file() else 0
    path = truncate(source, start, frames, folder)
    count, shape = 0, ""
    for _, image in iter_frames(path):
        count, shape = count + 1, f"{image.shape[1]}x{image.shape[0]}"
    return Video(source.name, path, start, count, shape)


def bench_flow(videos: list[Video], repeat: int) -> list[list[str]]:
    rows = []
    for size in SIZES:
        cells = []
        for video in videos:
            seconds, _ = best_time(lambda v=video, s=size: read_video(v.path, stride=2, size=s), repeat)
            cells.append(f"{video.frames / seconds:,.0f}")
        rows.append(["decoding only (read_video, stride 2)", str(size), *cells, "—"])
        for name, base in FLOW_ROWS:
            config = replace(base, size=size)
            cells, epe = [], "—"
            for video in videos:
                seconds, out = best_time(lambda v=video, c=config: extract_flow(v.path, c), repeat)
                cells.append(f"{video.frames / seconds:,.0f}")
                if video.has_groundtruth and epe == "—":
                    errors = landmark_errors(out, np.load(landmarks_path(video.path)), size)
                    epe = f"{np.median(errors):.3f}"
            rows.append([name, str(size), *cells, epe])
            print(f"  flow {name} @ {size}: {cells}, EPE {epe}", flush=True)
    return rows


def bench_quality(paths: list[Path]) -> list[list[str]]:
    """Flow error over whole synthetic videos (idle life and actions alike); TV-L1 is left out
    because it would take many minutes."""
    rows = []
    for size in SIZES:
        for name, base in FLOW_ROWS:
            if base.method == "tvl1":
                continue
            config = replace(base, size=size)
            errors = np.concatenate(
                [landmark_errors(extract_flow(p, config), np.load(landmarks_path(p)), size) for p in paths]
            )
            rows.append(
                [name, str(size), f"{len(errors):,}", f"{np.median(errors):.3f}", f"{errors.mean():.3f}"]
            )
            print(f"  quality {name} @ {size}: median {np.median(errors):.3f}", flush=True)
    return rows


def _decode_all(path: Path, max_side: int) -> int:
    return sum(1 for _ in iter_frames(path, 1, max_side))


def bench_skeleton(videos: list[Video], repeat: int) -> list[list[str]]:
    cells = []
    for video in videos:
        seconds, _ = best_time(lambda v=video: _decode_all(v.path, SkeletonConfig().max_side), repeat)
        cells.append(f"{video.frames / seconds:,.0f}")
    rows = [["decoding only (iter_frames, max side 480)", *cells, *["—"] * len(videos)]]
    for name, config in SKELETON_ROWS:
        cells, present = [], []
        for video in videos:
            if config.source == "groundtruth" and not video.has_groundtruth:
                cells.append("—")
                present.append("—")
                continue
            seconds, out = best_time(lambda v=video, c=config: extract_skeleton(v.path, c), repeat)
            cells.append(f"{video.frames / seconds:,.0f}")
            present.append(f"{out['present'].mean():.0%}")
        rows.append([name, *cells, *present])
        print(f"  skeleton {name}: {cells}, present {present}", flush=True)
    return rows


def markdown(header: list[str], rows: list[list[str]], text_columns: int) -> str:
    align = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    return (
        f"{model}, nproc {os.cpu_count()}, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )


def synthetic_video(folder: Path) -> Path:
    """One synthetic test video, generated when the dataset is not on disk (about 10 s)."""
    from perception.synthetic import SyntheticConfig, generate

    config = SyntheticConfig(root=folder / "synthetic", num_train=0, num_val=0, num_test=1, workers=1)
    generate(config, progress=False)
    return folder / "synthetic" / "test" / "test0000.mp4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench_cues.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--video", type=Path, action="append", help="a video to time (repeatable)")
    parser.add_argument(
        "--frames",
        type=int,
        default=120,
        help="N frames of each video (from 0, or the busiest stretch of a video with ground truth)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the fastest is reported")
    parser.add_argument(
        "--quality-videos",
        type=int,
        default=0,
        help="also measure flow error on K whole synthetic test videos",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = args.video or [p for p in (SYNTHETIC, Path(MEGAMIND)) if p.is_file()]
        if not sources:
            sources = [synthetic_video(folder)]
        videos = [prepare(source, args.frames, folder / f"v{i}") for i, source in enumerate(sources)]
        print(f"machine: {machine()}")
        print(
            "videos: "
            + ", ".join(f"{v.name} (frames {v.start}-{v.start + v.frames - 1}, {v.shape})" for v in videos)
        )
        flow = bench_flow(videos, args.repeat)
        skeleton = bench_skeleton(videos, args.repeat)

    paths = sorted(SYNTHETIC.parent.glob("test*.mp4"))[: args.quality_videos]
    quality = bench_quality(paths) if paths else []

    names = [v.name for v in videos]
    print("\nOptical flow, video frames/s (frame_stride 2, clip 4):\n")
    print(markdown(["method", "size", *names, "landmark EPE (px)"], flow, 1))
    print("\nSkeletons, video frames/s (frame_stride 1), and the fraction of frames with a person:\n")
    print(markdown(["source", *names, *(f"present, {n}" for n in names)], skeleton, 1))
    if quality:
        print(f"\nFlow error on {len(paths)} whole synthetic test videos ({SYNTHETIC.parent}):\n")
        header = ["method", "size", "landmark motions", "median EPE (px)", "mean EPE (px)"]
        print(markdown(header, quality, 1))
    elif args.quality_videos:
        print(f"\n--quality-videos: no synthetic test videos in {SYNTHETIC.parent} (make demo writes them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
