"""Rendering and writing shared by the synthetic dataset writers (MMA-52 videos, MA-52 clips).

Both writers turn "a subject and a timeline" into an mp4 and its ground-truth landmarks the
same way, store every file atomically, skip a folder whose manifest already matches the
config, and render in a spawn pool. Keeping that here means a fix to the figure, the encoder
or the atomic writes reaches both datasets.

Determinism: a subject's look comes from ``SeedSequence([seed, SUBJECT_KEY, subject])`` and a
clip's randomness from seed sequences its writer derives from the clip's identity, never from
the order in which workers finish; x264 runs single-threaded with settings that make its
output bit-exact (see :func:`encode_mp4`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.atomic import atomic_path, atomic_write_bytes
from perception.synthetic import figure
from perception.synthetic.motions import apply_instance
from perception.synthetic.timeline import Timeline

SUBJECT_KEY = 97  # separates subject streams from clip streams in the SeedSequence space
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RenderSettings:
    """How clips look and move, whichever dataset they belong to."""

    size: int  # square frames
    fps: float
    amplitude: float  # scales every class motion
    noise: float  # camera noise std in 8-bit levels
    idle: float  # scales class-independent sway, breathing and fidgeting
    noise_bank: int = 12  # noise fields drawn per clip (figure.CameraNoise); fewer suit short clips


@dataclass(frozen=True)
class ClipStreams:
    """The independent random streams of one clip's rendering."""

    motion: np.random.SeedSequence  # per-instance jitter of the class motions
    idle: np.random.SeedSequence  # idle life
    noise: np.random.SeedSequence  # camera noise


def subject_scene(seed: int, subject: int, size: int) -> tuple[figure.Appearance, figure.Camera, np.ndarray]:
    """A subject's look, camera and background; the same in every clip of that subject."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SUBJECT_KEY, subject]))
    app = figure.sample_appearance(rng)
    cam = figure.make_camera(app, size)
    background = figure.render_background(app, cam, size, rng)
    return app, cam, background


def pose(
    timeline: Timeline, app: figure.Appearance, settings: RenderSettings, streams: ClipStreams
) -> dict[str, np.ndarray]:
    """A clip's per-frame skeleton: idle life plus every instance's motion."""
    track = figure.PoseTrack(timeline.total_frames)
    figure.add_idle(track, settings.fps, np.random.default_rng(streams.idle), settings.idle)
    motion_rng = np.random.default_rng(streams.motion)
    for inst in timeline.instances:
        apply_instance(
            track, inst.cls, inst.start, inst.end, settings.fps, inst.side, settings.amplitude, motion_rng
        )
    return figure.skeleton(app, track)


def render(
    scene: tuple[figure.Appearance, figure.Camera, np.ndarray],
    timeline: Timeline,
    settings: RenderSettings,
    streams: ClipStreams,
) -> tuple[Iterator[np.ndarray], np.ndarray]:
    """Lazily rendered frames ((H, W, 3) uint8 RGB each) and landmarks (T, 33, 4) of one clip."""
    app, cam, background = scene
    joints = pose(timeline, app, settings, streams)
    landmarks = figure.landmarks33(cam, joints, settings.size)
    parts = figure.build_parts(app, cam, joints)
    n = timeline.total_frames
    noise = figure.CameraNoise(
        settings.size,
        n,
        settings.fps,
        settings.noise,
        np.random.default_rng(streams.noise),
        settings.noise_bank,
    )
    frames = (noise.apply(figure.draw_frame(background, parts, t), t) for t in range(n))
    return frames, landmarks


# --------------------------------------------------------------------------- atomic writing


def encode_mp4(
    path: Path, frames: Iterable[np.ndarray], size: int, fps: float, crf: int, preset: str = "veryfast"
) -> int:
    """Encode RGB frames to H.264/yuv420p atomically; returns the number of frames written."""
    import av
    import cv2

    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        # mbtree=0: with macroblock-tree rate control this x264 build gave different
        # bitstreams for identical input depending on the process's heap history (an
        # uninitialised read); without it output is bit-exact. aq-mode=0: adaptive
        # quantisation only spent bits on the flat noisy background (measured: same
        # fidelity to the clean render, a third less encode time). One thread per
        # encoder because the pool already uses every core.
        params = "mbtree=0:aq-mode=0"
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": params}
        stream.codec_context.thread_count = 1
        for frame_array in frames:
            # OpenCV's I420 is BT.601 limited range, what decoders assume for untagged video.
            yuv = cv2.cvtColor(frame_array, cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = count
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode())
    return count


def write_clip(
    folder: Path,
    stem: str,
    frames: Iterable[np.ndarray],
    landmarks: np.ndarray,
    settings: RenderSettings,
    crf: int,
    preset: str = "veryfast",
) -> None:
    """``<stem>.mp4`` and ``<stem>.landmarks.npy``; checks every frame was written."""
    written = encode_mp4(folder / f"{stem}.mp4", frames, settings.size, settings.fps, crf, preset)
    if written != len(landmarks):
        raise RuntimeError(f"{folder / stem}.mp4: wrote {written} frames, expected {len(landmarks)}")
    save_npy(folder / f"{stem}.landmarks.npy", landmarks)


def save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())


def write_lines(path: Path, lines: Iterable[str]) -> None:
    atomic_write_bytes(path, "".join(f"{line}\n" for line in lines).encode())


# --------------------------------------------------------------------------- folders and manifests


def manifest_hash(root: Path) -> str | None:
    """The config hash recorded in ``root``'s manifest; None when there is no readable one."""
    try:
        return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8")).get("config_hash")
    except (OSError, ValueError, AttributeError):
        return None


def start_folder(root: Path, splits: Sequence[str]) -> None:
    """Prepare ``root`` for a fresh generation: the old manifest goes first, so an interrupted
    run leaves no manifest (which is how a half-finished dataset is recognised)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)
    for split in splits:
        (root / split).mkdir(exist_ok=True)


def write_manifest(root: Path, manifest: dict) -> None:
    """Written last: its presence (with the right hash) marks the folder complete."""
    atomic_write_bytes(root / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())


def remove_stale(root: Path, splits: Sequence[str], own_file: re.Pattern, keep: set[str]) -> None:
    """Delete our own files (by name pattern) whose stem the current config no longer produces."""
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if own_file.match(path.name) and path.name.split(".")[0] not in keep:
                path.unlink()


def _init_worker() -> None:
    """Pool workers draw single-threaded: the pool already uses every core."""
    import cv2

    cv2.setNumThreads(1)


def run_jobs(
    fn: Callable, jobs: Sequence, workers: int, desc: str, unit: str, progress: bool, chunksize: int = 1
) -> None:
    """Run ``fn`` over ``jobs`` in a spawn pool of ``workers`` processes, with a progress bar.

    spawn, not fork: a process that has already used OpenCV's (or MediaPipe's) thread pool
    deadlocks in a forked child's first OpenCV call, as a test session does.
    """
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress) as bar:
        if workers > 1 and len(jobs) > 1:
            with get_context("spawn").Pool(min(workers, len(jobs)), _init_worker) as pool:
                for _ in pool.imap_unordered(fn, jobs, chunksize=chunksize):
                    bar.update()
        else:
            for job in jobs:
                fn(job)
                bar.update()
