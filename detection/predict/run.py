"""``task=predict``: a trained detector on your own videos.

    python experiments/run.py task=predict ckpt=run/checkpoint.pt input=VIDEO_OR_FOLDER

(``task=mmad stage=predict``, the old spelling, still works with a deprecation message; its
options are then read from ``task.predict.*``.)

For each video (a file, or every file with a video suffix directly inside a folder), in the
run directory:

    timelines/<id>.csv  .json  .eaf     detections (seconds), JSON for programs, ELAN for annotators
    frames/<id>.csv                     per-frame class scores (OpenFace layout)
    media/<id>.mp4                      a browser-playable copy, only when the original is not
    predictions.csv                     every detection in the MMAD submission format
    report.html                         players + timelines (+ mAP when task.gt is given)
    metrics.json                        with task.gt: mAP of these predictions, percent

A video that cannot be read is reported in one line naming the file, the others go on,
and the run lists the failures at the end and exits non-zero. A video's files are written
only once it has been predicted, each atomically, so a failure or a kill never leaves a
half-written output behind.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from detection.data.annotations import annotations_to_frame, read_mma52_csv, write_submission
from detection.evaluation.metrics import evaluate_detection, format_table
from detection.predict.elan import write_eaf
from detection.predict.exports import write_frame_scores, write_timeline_csv, write_timeline_json
from detection.predict.model import load_predictor
from detection.predict.report import ReportVideo, write_report
from detection.predict.video import PredictOptions, VideoPrediction, predict_video
from perception.atomic import atomic_write_text
from perception.extract import VIDEO_SUFFIXES
from perception.video import TruncatedVideo
from perception.video_preview import write_preview


class PredictFailed(RuntimeError):
    """Some inputs could not be predicted; the message lists each with its reason."""


def list_inputs(target: Path) -> tuple[list[Path], list[Path]]:
    """(videos to predict, files skipped): a file is predicted whatever its suffix (a wrong
    one is then reported); a folder contributes its files with a video suffix, sorted."""
    if target.is_file():
        return [target], []
    if not target.is_dir():
        raise FileNotFoundError(f"input not found: {target}")
    files = sorted(p for p in target.iterdir() if p.is_file() and not p.name.startswith("."))
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    if not videos:
        raise FileNotFoundError(f"{target}: no video files (suffixes {', '.join(VIDEO_SUFFIXES)})")
    return videos, [p for p in files if p not in videos]


def video_ids(paths: list[Path]) -> list[str]:
    """File stems, or whole names where two files share a stem (``a.mp4`` and ``a.avi``)."""
    stems = [p.stem for p in paths]
    return [p.stem if stems.count(p.stem) == 1 else p.name for p in paths]


def one_line(error: BaseException, path: Path) -> str:
    """The error as one line that names the file."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if str(path) in text else f"{path}: {text}"


def predict_settings(cfg: DictConfig) -> DictConfig:
    """The predict options: ``task.*`` of ``task=predict``, or ``task.predict.*`` of the
    deprecated ``task=mmad stage=predict``."""
    return cfg.task.predict if "predict" in cfg.task else cfg.task


def predict_options(cfg: DictConfig) -> PredictOptions:
    node = OmegaConf.to_container(predict_settings(cfg), resolve=True)
    names = {f.name for f in fields(PredictOptions)}
    return PredictOptions(**{k: v for k, v in node.items() if k in names})


def command_line_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def write_video_outputs(prediction: VideoPrediction, run_dir: Path, preview: str) -> ReportVideo:
    """Every per-video file, all or none: if one cannot be written, those already written for
    this video are removed again. Returns what the report shows of the video."""
    vid = prediction.video_id
    timelines = run_dir / "timelines"
    written = [timelines / f"{vid}.csv", timelines / f"{vid}.json", timelines / f"{vid}.eaf"]
    written += [run_dir / "frames" / f"{vid}.csv", run_dir / "media" / f"{vid}.mp4"]
    media, notes = prediction.path, []
    if prediction.truncation:
        cut = prediction.truncation
        declared = (
            f" of the {cut['declared_seconds']:.2f} s its header declares" if cut["declared_seconds"] else ""
        )
        notes.append(
            f"truncated video: only {cut['read_seconds']:.2f} s{declared} could be decoded ({cut['reason']})"
        )
    try:
        write_timeline_csv(prediction, written[0])
        write_timeline_json(prediction, written[1])
        write_eaf(prediction.detections, prediction.path, written[2])
        write_frame_scores(prediction, written[3])
        if preview == "always" or (preview == "auto" and not prediction.info.browser_playable):
            media = write_preview(prediction.path, written[4])
            notes.append(f"the player shows a preview copy (media/{vid}.mp4) of {prediction.path.name}")
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return ReportVideo(vid, media, prediction.duration, prediction.detections, notes=notes)


def evaluate(gt_path: Path, predictions: pd.DataFrame, ids: list[str], protocol: str):
    """Ground truth of the predicted videos and the mAP of the predictions against it."""
    truth = annotations_to_frame(read_mma52_csv(gt_path))
    truth = truth[truth["video_id"].isin(ids)]
    if truth.empty:
        raise ValueError(f"{gt_path}: none of the predicted videos ({', '.join(ids)}) is annotated there")
    return truth, evaluate_detection(truth, predictions, protocol=protocol)


def run_predict(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    """Predict every input video; see the module docstring for the outputs."""
    if not cfg.get("ckpt"):
        raise ValueError("task=predict needs ckpt=PATH (a checkpoint.pt written by task=mmad)")
    if not cfg.get("input"):
        raise ValueError("task=predict needs input=VIDEO_OR_FOLDER")
    settings = predict_settings(cfg)
    options = predict_options(cfg)
    if settings.get("torch_threads"):
        torch.set_num_threads(int(settings.torch_threads))
    predictor = load_predictor(
        to_absolute_path(cfg.ckpt),
        run_cfg=cfg,
        overrides=command_line_overrides(),
        train_fps=settings.get("train_fps"),
        device=settings.get("device", "cpu"),
    )
    videos, skipped = list_inputs(Path(to_absolute_path(cfg.input)))
    print(f"predicting {len(videos)} video(s) with {predictor.describe()}")
    if skipped:
        names = ", ".join(p.name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(f"  skipped {len(skipped)} file(s) without a video suffix: {names}")

    done: list[ReportVideo] = []
    tables, failures, truncated = [], [], []
    started = time.perf_counter()
    seconds_of_video = 0.0
    for path, vid in tqdm(list(zip(videos, video_ids(videos), strict=True)), desc="videos", unit="video"):
        try:
            with warnings.catch_warnings():  # reported per video below, not once per process
                warnings.simplefilter("ignore", TruncatedVideo)
                prediction = predict_video(path, predictor, options, video_id=vid)
            done.append(write_video_outputs(prediction, run_dir, settings.get("preview", "auto")))
        except Exception as error:  # one bad file must not stop the rest (as in task=extract)
            failures.append((str(path), one_line(error, path)))
            tqdm.write(f"FAILED {failures[-1][1]}")
            continue
        tables.append(prediction.detections)
        if prediction.truncation:
            truncated.append({"video": str(path), **prediction.truncation})
            tqdm.write(
                f"WARNING {path}: truncated, used the {prediction.truncation['read_seconds']:.2f} s that decode"
            )
        seconds_of_video += prediction.duration
        tqdm.write(f"{vid}: {len(prediction.detections)} detections in {prediction.duration:.1f} s of video")
    elapsed = time.perf_counter() - started

    columns = ["video_id", "t_start", "t_end", "class", "score"]
    predictions = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    if done:
        write_submission(run_dir / "predictions.csv", predictions)
    metrics = None
    if settings.get("gt") and done:
        truth, metrics = evaluate(
            Path(to_absolute_path(settings.gt)), predictions, [v.video_id for v in done], settings.protocol
        )
        for video in done:
            video.truth = truth[truth["video_id"] == video.video_id]
        atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
        print(format_table(metrics))
    summary = [
        f"checkpoint: {predictor.describe(cfg.ckpt)}",
        f"threshold {options.threshold:g}, top-k {options.top_k}, {len(done)} video(s) predicted, "
        f"{len(failures)} failed; {seconds_of_video:.1f} s of video in {elapsed:.1f} s",
    ]
    write_report(run_dir / "report.html", done, summary=summary, metrics=metrics, failures=failures)
    result = {
        "videos": len(done),
        "failed": len(failures),
        "detections": len(predictions),
        "video_seconds": seconds_of_video,
        "seconds": elapsed,
    }
    logger.summary({f"predict/{k}": v for k, v in result.items()})
    listed = [{"video": video, "reason": reason} for video, reason in failures]
    summary_record = {**result, "failures": listed, "truncated": truncated}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary_record, indent=2))
    print(f"{len(done)} predicted, {len(failures)} failed; outputs in {run_dir}")
    if failures:
        listing = "\n".join(f"  FAILED {reason}" for _, reason in failures)
        raise PredictFailed(f"{len(failures)} of {len(videos)} video(s) failed:\n{listing}")
    return result
