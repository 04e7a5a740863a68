"""``task=recognition``: data -> model -> training -> control -> metrics and submissions.

Outputs in the Hydra run directory:

- ``checkpoint.pt`` (and ``control/checkpoint.pt``): model, optimizer, scheduler and RNG state
  after every epoch; ``resume=true`` with the same run directory continues a killed run;
- ``metrics.json``: the scored split's action top-1/top-5, body top-1, the four F1s and F1_mean
  (percent, :mod:`recognition.metrics`) at the top level, the permuted-label control's under
  ``control``, the two chance rates under ``chance``, clip counts, parameters and timings;
- ``confusion.png``: per-class (52) and per-body-group (7) row-normalised confusion;
- ``prediction_mac2024.zip`` and ``prediction_mac2025.zip``: the scored split in both challenge
  formats (:mod:`recognition.submission`), and ``submission_<split>_mac20xx.zip`` for
  ``data.submit_split`` (the real test split, whose labels are hidden).

The control trains a fresh model (same initial weights, same recipe and epochs) on the training
clips with their labels shuffled among themselves (a seeded permutation of the label column, so
class frequencies stay and only the clip-label link breaks). It can learn the class prior and
nothing else: a result above it is learned from the clips. ``task.control=false`` skips it.

Chance: ``uniform`` = 100 / 52 (a uniform random guess), ``majority_class`` = the top-1 of always
answering the most frequent training class; on the imbalanced sets the latter is the bar.

Under ``torchrun`` every rank trains; rank 0 prepares the data first, then predicts, scores and
writes alone while the other ranks wait.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from engine import distributed
from engine.seeding import seed_everything
from perception.atomic import atomic_write_text
from perception.dataset_root import prepare_data
from perception.skeleton import SkeletonConfig, source_label
from perception.taxonomy import NUM_ACTIONS
from recognition.confusion import plot_confusion
from recognition.dataset import ClipDataset
from recognition.engine import Predictions, predict
from recognition.lists import ClipItem, labels_hidden, read_list, read_split
from recognition.metrics import METRIC_NAMES, format_row, metrics_from_scores
from recognition.submission import FORMATS, write_submission
from recognition.training import RecognitionTrainer, clip_loader, train
from recognition.transforms import ClipTransform

SCALE_RATIO = 256 / 224  # short side before cropping, as the official 256 -> 224


def transforms(crop_size: int) -> tuple[ClipTransform, ClipTransform]:
    """(train, test) transforms of the official recipe at ``crop_size``."""
    scale = round(crop_size * SCALE_RATIO)
    return (
        ClipTransform(train=True, crop_size=crop_size, scale_size=scale),
        ClipTransform(train=False, crop_size=crop_size, scale_size=scale),
    )


def needs_landmarks(model: torch.nn.Module) -> bool:
    """True for models that pool skeleton entities (the dual-path network with entities on)."""
    return bool(getattr(model, "use_entities", False))


def shuffled_labels(items: list[ClipItem], seed: int) -> list[ClipItem]:
    """The clips with their labels permuted among themselves (seeded): the control's training set."""
    order = np.random.default_rng([seed, 52]).permutation(len(items))
    return [dataclasses.replace(item, label=items[j].label) for item, j in zip(items, order, strict=True)]


def chance_rates(train_items: list[ClipItem], eval_labels: np.ndarray) -> dict[str, float]:
    counts = np.bincount([item.label for item in train_items], minlength=NUM_ACTIONS)
    majority = int(counts.argmax())
    return {
        "uniform": 100.0 / NUM_ACTIONS,
        "majority_class": 100.0 * float((eval_labels == majority).mean()),
        "majority_class_index": majority,
    }


def eval_items(root: Path, data: DictConfig, split: str) -> list[ClipItem]:
    """The scored split's clips with their labels (the synthetic set's hidden test labels file)."""
    if data.get("eval_labels"):
        return read_list(root / data.eval_labels, root / split)
    items = read_split(root, split)
    if labels_hidden(items):
        raise ValueError(
            f"{root}: the {split} list has hidden labels (0 on every line); score data.eval_split=val "
            "or give data.eval_labels=<list with labels>"
        )
    return items


def write_submissions(run_dir: Path, prefix: str, predictions: Predictions) -> list[Path]:
    return [
        write_submission(run_dir / f"{prefix}_{fmt}.zip", predictions.files, predictions.probabilities, fmt)
        for fmt in FORMATS
    ]


def run_recognition(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    """``task=recognition``: train (or, with ``ckpt=``, evaluate) a recognition model and score it."""
    device = distributed.setup(cfg.trainer.device)
    try:
        return train_and_evaluate(cfg, run_dir, logger, device)
    finally:
        distributed.teardown()


class _Run:
    """What one run shares between the model, the control and scoring."""

    def __init__(self, cfg: DictConfig, run_dir: Path, logger: Any, device: str) -> None:
        self.cfg, self.run_dir, self.logger = cfg, run_dir, logger
        self.trainer: RecognitionTrainer = instantiate(cfg.trainer, device=device)
        with distributed.main_process_first():
            self.root = prepare_data(cfg.data)
        self.train_items = read_split(self.root, cfg.data.train_split)
        self.eval_items = eval_items(self.root, cfg.data, cfg.data.eval_split)

    def model(self) -> torch.nn.Module:
        seed_everything(self.cfg.seed)  # the model and its control start from the same weights
        return instantiate(self.cfg.model)

    def dataset(self, model, items, split: str, train: bool) -> ClipDataset:
        train_tf, test_tf = transforms(int(model.input_size))
        skeleton: SkeletonConfig | None = instantiate(self.cfg.skeleton) if needs_landmarks(model) else None
        cache = (
            self.cfg.get("cue_cache") if skeleton is not None and skeleton.source != "groundtruth" else None
        )
        return ClipDataset(
            items,
            self.root / split,
            num_segments=model.backbone.num_segments,
            transform=train_tf if train else test_tf,
            skeleton=skeleton,
            cue_cache=cache,
            cache_decoded=bool(self.cfg.data.get("cache_decoded", False)),
            seed=self.cfg.seed,
        )

    def fit(self, model, items, checkpoint: Path, prefix: str, step_offset: int = 0) -> float:
        dataset = self.dataset(model, items, self.cfg.data.train_split, train=True)
        record = json.dumps(OmegaConf.to_container(self.cfg, resolve=True))
        started = time.perf_counter()
        train(
            model,
            dataset,
            self.trainer,
            checkpoint,
            seed=self.cfg.seed,
            resume=self.cfg.resume,
            logger=self.logger,
            extra_state={"config": record},
            log_prefix=prefix,
            step_offset=step_offset,
        )
        return time.perf_counter() - started

    def predict(self, model, items, split: str) -> Predictions:
        loader = clip_loader(
            self.dataset(model, items, split, train=False),
            self.cfg.task.eval_batch_size,
            self.trainer.workers,
        )
        started = time.perf_counter()
        predictions = predict(model, loader, self.trainer.device)
        self.inference_seconds = time.perf_counter() - started
        return predictions


def load_weights(model: torch.nn.Module, path: str) -> None:
    from engine.checkpoint import load_checkpoint

    model.load_state_dict(load_checkpoint(path)["model"])


def train_and_evaluate(cfg: DictConfig, run_dir: Path, logger: Any, device: str) -> dict[str, Any]:
    run_dir = Path(distributed.broadcast_object(str(run_dir)))  # rank 0's folder is the run's
    run = _Run(cfg, run_dir, logger, device)
    model = run.model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.summary({"params/trainable": trainable, "params/total": total})
    main = distributed.is_main_process()
    if main:
        print(f"{type(model).__name__}: {total:,} parameters; {len(run.train_items)} training clips")

    train_seconds = control_seconds = None
    control_model = None
    if cfg.get("ckpt"):
        load_weights(model, cfg.ckpt)
    else:
        train_seconds = run.fit(model, run.train_items, run_dir / "checkpoint.pt", "train")
        if cfg.task.control:
            control_model = run.model()
            offset = run.trainer.epochs * -(-len(run.train_items) // run.trainer.batch_size)
            shuffled = shuffled_labels(run.train_items, cfg.seed)
            control_seconds = run.fit(
                control_model, shuffled, run_dir / "control" / "checkpoint.pt", "control", offset
            )
    if not main:
        distributed.barrier()  # rank 0 scores and writes alone
        return {}

    split = cfg.data.eval_split
    predictions = run.predict(model, run.eval_items, split)
    inference_seconds = run.inference_seconds
    labels = np.array([item.label for item in run.eval_items])
    metrics = metrics_from_scores(predictions.probabilities, labels)
    report: dict[str, Any] = {**metrics, "split": split, "num_clips": len(labels)}
    if control_model is not None:
        control = run.predict(control_model, run.eval_items, split)
        report["control"] = metrics_from_scores(control.probabilities, labels)
    report["chance"] = chance_rates(run.train_items, labels)
    report |= {
        "num_train_clips": len(run.train_items),
        "params": {"trainable": trainable, "total": total},
        "train_seconds": train_seconds,
        "control_train_seconds": control_seconds,
        "inference_clips_per_second": len(labels) / inference_seconds,
        "seed": cfg.seed,
        # the entity boxes' source; "groundtruth (oracle)" marks an upper bound, not a result
        "skeleton_source": source_label(cfg.skeleton.source) if needs_landmarks(model) else None,
    }
    atomic_write_text(run_dir / "metrics.json", json.dumps(report, indent=2))
    write_submissions(run_dir, "prediction", predictions)
    submit = cfg.data.get("submit_split")
    if submit and submit != split:
        hidden = read_split(run.root, submit)
        write_submissions(run_dir, f"submission_{submit}", run.predict(model, hidden, submit))
    figure = plot_confusion(
        labels,
        predictions.probabilities.argmax(axis=1),
        run_dir / "confusion.png",
        f"{type(model).__name__} on {cfg.data.name} {split}: top-1 {metrics['action_top1']:.1f}%",
    )

    logger.log({f"test/{name}": metrics[name] for name in METRIC_NAMES if metrics.get(name) is not None})
    if "control" in report:
        logger.log({f"control/{k}": v for k, v in report["control"].items() if v is not None})
    logger.summary({name: metrics[name] for name in METRIC_NAMES if metrics.get(name) is not None})
    logger.log_image("confusion", figure)
    distributed.barrier()

    print(f"\nMA-52 recognition metrics (%) on {split} ({len(labels)} clips):")
    print(format_row(metrics))
    if "control" in report:
        print("control (trained on shuffled labels):")
        print(format_row(report["control"]))
    chance = report["chance"]
    print(f"chance: uniform {chance['uniform']:.2f}, majority class {chance['majority_class']:.2f}")
    print(f"outputs in {run_dir}")
    return report
