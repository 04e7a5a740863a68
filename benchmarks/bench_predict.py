"""Throughput of ``stage=predict`` on CPU, per stage, in seconds of video per second.

    python -m benchmarks.bench_predict --ckpt outputs/mmad/<run>/checkpoint.pt
    python -m benchmarks.bench_predict                 # an untrained default model (same cost)
    python -m benchmarks.bench_predict --cues rgb      # an untrained RGB-only model (task=distill's student)

Why: predict is what users run on their own, often long, videos; the target is the default
model (tiny VideoMAE at 64 px + DSTA, flow + skeleton, late fusion, frame_stride 4) keeping
up with 30 fps video in real time on a 2-core CPU with all cues on. The rate of each stage
is the video's length divided by that stage's wall time inside
:func:`detection.predict.video.predict_video` (stages: decoding and resampling, RGB
resizing, flow, skeleton (MediaPipe Pose on every model frame), each model stream, and the
head: fusion, pyramid, heads and soft-NMS); "end to end" is the whole call (one video,
model already loaded), so a rate above 1.0 is faster than real time.

Videos: Debian's ``Megamind.avi`` (720x528, 23.98 fps, MPEG-4 part 2) as shipped, and
re-encoded here to H.264 at 30 fps (the same frames with 30 fps timestamps) at 720x528 and
upscaled to 1280x720, plus a 135 s H.264 30 fps 720x528 loop of it, predicted in 60 s windows
with 8 s of context (the defaults: three windows), for the window and memory behaviour
("frames held" is the most model frames in memory at once). Each row is the fastest of ``--repeat``
runs. With no Megamind.avi, a synthetic test video stands in.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from benchmarks.bench_cues import MEGAMIND, machine, markdown, synthetic_video
from detection.predict.model import Predictor, load_predictor
from detection.predict.video import PredictOptions, VideoPrediction, predict_video

STAGES = ["decode", "rgb", "flow", "skeleton", "model.rgb", "model.flow", "model.skeleton", "head"]


def reencode(source: Path, target: Path, size: tuple[int, int] | None, loops: int = 1) -> Path:
    """``source``'s frames as H.264 at 30 fps (crf 18), optionally resized and looped."""
    import av
    import numpy as np

    with av.open(str(source)) as reader:
        frames = [f.to_ndarray(format="rgb24") for f in reader.decode(video=0)]
    height, width = frames[0].shape[:2]
    width, height = size or (width // 2 * 2, height // 2 * 2)
    with av.open(str(target), "w") as writer:
        stream = writer.add_stream("libx264", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for _ in range(loops):
            for image in frames:
                if image.shape[:2] != (height, width):
                    import cv2

                    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                writer.mux(stream.encode(frame))
        writer.mux(stream.encode())
    return target


def default_checkpoint(folder: Path, cues: str = "rgb_flow_skeleton") -> Path:
    """The default model (``task=mmad`` defaults, with the ``cues`` group given) with untrained
    weights: the same cost as trained ones."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from engine.checkpoint import save_checkpoint

    configs = Path(__file__).resolve().parents[1] / "configs"
    with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
        cfg = compose("config", overrides=["task=mmad", "logger=none", f"cues={cues}"])
    model = instantiate(cfg.model)
    path = folder / f"default_{cues}.pt"
    config = json.dumps(OmegaConf.to_container(cfg, resolve=True))
    save_checkpoint(path, {"model": model.state_dict(), "config": config})
    return path


def best_run(video: Path, predictor: Predictor, options: PredictOptions, repeat: int):
    best: tuple[float, VideoPrediction] | None = None
    for _ in range(repeat):
        start = time.perf_counter()
        prediction = predict_video(video, predictor, options, progress=False)
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, prediction)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_predict", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--ckpt", type=Path, help="checkpoint.pt (default: an untrained default model)")
    parser.add_argument(
        "--cues", default="rgb_flow_skeleton", help="cues group of the untrained model (without --ckpt)"
    )
    parser.add_argument("--video", type=Path, action="append", help="time this video instead (repeatable)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per video; the fastest is reported")
    parser.add_argument("--no-long", action="store_true", help="skip the 135 s looped video")
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="PyTorch threads, as task.predict.torch_threads (1)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.torch_threads)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = args.ckpt or default_checkpoint(folder, args.cues)
        predictor = load_predictor(checkpoint)
        options = PredictOptions()
        if args.video:
            videos = [(v.name, v) for v in args.video]
        elif Path(MEGAMIND).is_file():
            source = Path(MEGAMIND)
            videos = [
                ("Megamind.avi (720x528, 23.98 fps, MPEG-4)", source),
                ("H.264 720x528 30 fps", reencode(source, folder / "m30.mp4", None)),
                ("H.264 1280x720 30 fps", reencode(source, folder / "m720p.mp4", (1280, 720))),
            ]
            if not args.no_long:
                videos.append(
                    ("H.264 720x528 30 fps, 135 s loop", reencode(source, folder / "long.mp4", None, 15))
                )
        else:
            videos = [("synthetic test video (160x160, 30 fps)", synthetic_video(folder))]

        print(f"machine: {machine()}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
        print(f"model: {predictor.describe()}")
        predict_video(videos[0][1], predictor, options, progress=False)  # warm-up: lazy inits, caches
        header = ["video", "length (s)", *STAGES, "end to end", "frames held"]
        rows = []
        for name, video in videos:
            seconds, prediction = best_run(video, predictor, options, args.repeat)
            length = prediction.duration
            cells = [
                f"{length / prediction.timings[s]:,.1f}" if prediction.timings.get(s) else "—" for s in STAGES
            ]
            rows.append(
                [
                    name,
                    f"{length:.1f}",
                    *cells,
                    f"**{length / seconds:.2f}**",
                    str(prediction.peak_frames_held),
                ]
            )
            print(
                f"  {name}: {length / seconds:.2f} x real time ({seconds:.2f} s for {length:.1f} s)",
                flush=True,
            )
            print("    " + json.dumps({k: round(v, 3) for k, v in prediction.timings.items()}), flush=True)
    print(
        f"\nPredict throughput, seconds of video per second (OpenCV threads {os.cpu_count()}, "
        f"Python {platform.python_version()}):\n"
    )
    print(markdown(header, rows, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
