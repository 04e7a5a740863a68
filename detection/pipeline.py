"""``task=mmad``: data -> detector -> training -> evaluation -> outputs, in one run directory.

Outputs (all in the Hydra run directory): ``checkpoint.pt``, ``predictions.csv``
(submission format), ``metrics.json`` (percent), ``timelines/<video_id>.csv`` and
``timelines.png``. The same mAP table is printed at the end of the run.

Under ``torchrun --nproc_per_node=N`` every rank runs this function: rank 0 prepares the data
and the cue cache first, all ranks train together (``detection.train``), each predicts its
shard of the test split, and rank 0 gathers the predictions, evaluates and writes everything
into its run directory.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from detection import distributed
from detection.annotations import annotations_to_frame, read_mma52_csv, write_submission
from detection.checkpoint import load_checkpoint
from detection.dataset import MMADataset
from detection.error_analysis import analyze
from detection.inference import predict_dataset
from detection.metrics import evaluate_detection, format_table
from detection.timelines import plot_timelines, write_timelines
from detection.train import TrainerConfig, train
from perception.atomic import atomic_write_text
from perception.cue_cache import CueCache
from perception.dataset_root import prepare_data
from perception.extract import ExtractionFailed, build_caches, extract_cues


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_split(
    root: Path,
    split: str,
    data_cfg: DictConfig,
    tubelet: int,
    image_size: int,
    caches: Mapping[str, CueCache] | None = None,
) -> MMADataset:
    """One split's videos, with their non-RGB cues extracted into the cache first (in
    parallel, failures listed together) and then loaded beside the frames."""
    videos = read_mma52_csv(root / f"{split}.csv", video_root=root, split=split)
    if caches:
        paths = [a.path or root / split / f"{a.video_id}.mp4" for a in videos.values()]
        with distributed.main_process_first():  # the other ranks then find every cue cached
            summary = extract_cues(
                paths, caches, workers=data_cfg.get("cue_workers", 2), desc=f"cues {split}"
            )
        if summary.failures:
            raise ExtractionFailed(summary.describe())
    return MMADataset(
        videos,
        root / split,
        frame_stride=data_cfg.frame_stride,
        image_size=image_size,
        tubelet=tubelet,
        workers=data_cfg.get("decode_workers", 2),
        desc=f"decoding {split}",
        cues=caches,
    )


def permuted_label_control(gt, predictions, seed: int, protocol: str) -> float:
    """Action-level Avg mAP after randomly permuting the predicted class labels among the
    classes present in the ground truth: the score a model with right timing but no class
    knowledge would get. Learning is real only when the true mAP is well above it."""
    rng = np.random.default_rng(seed)
    present = np.unique(gt["class"].to_numpy())
    permutation = np.arange(max(int(present.max()), int(predictions["class"].to_numpy().max(initial=0))) + 1)
    shuffled = rng.permutation(present)
    while len(present) > 1 and np.any(shuffled == present):  # a derangement: every class moves
        shuffled = rng.permutation(present)
    permutation[present] = shuffled
    permuted = predictions.copy()
    permuted["class"] = permutation[permuted["class"].to_numpy()]
    return evaluate_detection(gt, permuted, protocol=protocol)["action"]["avg"]


def predict_gathered(model, dataset: MMADataset, batch_size: int, device: str):
    """Predictions for the whole dataset on rank 0 (None on the others): each rank predicts
    every N-th video and rank 0 concatenates the shards."""
    shard = torch.utils.data.Subset(dataset, distributed.shard_indices(len(dataset)))
    local = predict_dataset(model, shard, batch_size=batch_size, device=device)
    shards = distributed.gather_objects(local)
    if not distributed.is_main_process():
        return None
    order = {s.video_id: i for i, s in enumerate(dataset.samples)}
    table = pd.concat(shards, ignore_index=True)
    return table.sort_values("video_id", key=lambda ids: ids.map(order), kind="stable").reset_index(drop=True)


def run_mmad(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    if cfg.get("stage", "train") == "predict":  # a trained checkpoint on your own videos
        from detection.predict import run_predict

        return run_predict(cfg, run_dir, logger)
    device = distributed.setup(cfg.trainer.device)
    try:
        return train_and_evaluate(cfg, run_dir, logger, device)
    finally:
        distributed.teardown()


def train_and_evaluate(cfg: DictConfig, run_dir: Path, logger: Any, device: str) -> dict[str, Any]:
    seed_everything(cfg.seed)
    run_dir = Path(distributed.broadcast_object(str(run_dir)))  # rank 0's folder is the run's
    with distributed.main_process_first():
        root = prepare_data(cfg.data)

    model = instantiate(cfg.model)
    tubelet, image_size = model.step_frames, model.image_size
    trainable, total = model.trainable_parameters(), model.total_parameters()
    caches = build_caches(cfg)
    if distributed.is_main_process():
        print(f"detector ({'+'.join(model.cues)}): {trainable:,} trainable / {total:,} parameters")
    logger.summary({"params/trainable": trainable, "params/total": total})

    splits = cfg.data.splits
    checkpoint_path = run_dir / "checkpoint.pt"
    trainer_options = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_options.pop("augment", None)
    trainer_options["device"] = device
    trainer_cfg = TrainerConfig(**trainer_options)
    augment = instantiate(cfg.trainer.augment) if cfg.trainer.get("augment") else None
    train_seconds = None
    if cfg.get("ckpt"):  # evaluate a trained checkpoint instead of training
        model.load_state_dict(load_checkpoint(to_absolute_path(cfg.ckpt))["model"])
    else:
        train_set = load_split(root, splits.train, cfg.data, tubelet, image_size, caches)
        config_record = OmegaConf.to_container(cfg, resolve=True)
        started = time.perf_counter()
        train(
            model,
            train_set,
            trainer_cfg,
            checkpoint_path,
            seed=cfg.seed,
            resume=cfg.resume,
            logger=logger,
            extra_state={"config": json.dumps(config_record)},
            augment=augment,
        )
        train_seconds = time.perf_counter() - started
        del train_set

    test_set = load_split(root, splits.test, cfg.data, tubelet, image_size, caches)
    predictions = predict_gathered(model, test_set, trainer_cfg.batch_size, trainer_cfg.device)
    if predictions is None:  # ranks above 0 are done: rank 0 evaluates and writes
        return {}
    write_submission(run_dir / "predictions.csv", predictions)

    gt = annotations_to_frame(
        {s.video_id: a for s, a in zip(test_set.samples, test_set.annotations, strict=True)}
    )
    protocol = cfg.task.eval.protocol
    metrics = evaluate_detection(gt, predictions, protocol=protocol)
    control = permuted_label_control(gt, predictions, cfg.seed, protocol)
    report = {
        "action": {k: metrics["action"][k] for k in ("per_tiou", "avg")},
        "body": {k: metrics["body"][k] for k in ("per_tiou", "avg")},
        "avg": metrics["avg"],
        "protocol": protocol,
        "split": splits.test,
        "num_videos": len(test_set),
        "permuted_labels_action_avg": control,
        "params": {"trainable": trainable, "total": total},
        "cues": model.cues,
        "train_seconds": train_seconds,
    }
    atomic_write_text(run_dir / "metrics.json", json.dumps(report, indent=2))

    video_ids = [s.video_id for s in test_set.samples]
    durations = {s.video_id: s.duration for s in test_set.samples}
    write_timelines(predictions, run_dir / "timelines", video_ids)
    figure = plot_timelines(
        gt,
        predictions,
        video_ids[: cfg.task.eval.figure_videos],
        run_dir / "timelines.png",
        durations=durations,
    )
    for level in ("action", "body"):  # the MMAD paper's false-positive / false-negative analysis
        analyze(gt, predictions, durations, run_dir / "analysis", level, protocol=protocol)

    logger.log({f"test/action_map@{k}": v for k, v in metrics["action"]["per_tiou"].items()})
    logger.log(
        {
            "test/action_avg": metrics["action"]["avg"],
            "test/body_avg": metrics["body"]["avg"],
            "test/avg": metrics["avg"],
            "test/permuted_labels_action_avg": control,
        }
    )
    logger.summary(
        {"action_avg": metrics["action"]["avg"], "body_avg": metrics["body"]["avg"], "avg": metrics["avg"]}
    )
    logger.log_image("timelines", figure)
    for chart in sorted((run_dir / "analysis").glob("*.png")):
        logger.log_image(f"analysis/{chart.stem}", chart)

    print(f"\nDetection-mAP (%) on {splits.test} ({len(test_set)} videos, {protocol} protocol):")
    print(format_table(metrics))
    print(f"control: action Avg with permuted class labels = {control:.2f}")
    print(f"outputs in {run_dir}")
    return report
