"""``task=emotion``: emotion videos -> micro-action timelines -> features -> head -> metrics.

1. The dataset (``emotion`` group): the synthetic emotion set is generated on first use;
   any folder in the emotion format (``affect/dataset.py``) works the same way.
2. Timelines, only when the feature set reads them (``affect/timelines.py``): annotated
   (``emotion.timelines=groundtruth``) or predicted by a detector that is loaded or trained
   and cached (``affect/detector.py``), with every video's timeline cached too.
3. Feature blocks (``features`` group), each a Hydra ``_target_`` extractor.
4. The head (``emotion_head`` group), fitted per fold of the protocol (``affect/protocol.py``)
   and once more on shuffled labels, the control.
5. Outputs in the run directory: ``metrics.json`` (fractions), ``predictions.csv``,
   ``confusion_matrix.png``, ``timelines.csv``; the same to W&B; the table printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from affect.dataset import EmotionDataset, load_emotion_dataset, prepare_emotion_data
from affect.features import FeatureInputs, dimensions
from affect.metrics import emotion_metrics, format_metrics, plot_confusion
from affect.protocol import FoldResult, make_folds, run_folds
from affect.timelines import obtain_timelines, timeline_frame
from engine.seeding import seed_everything
from perception.atomic import atomic_write_text
from perception.extract import make_cache

HEADLINE = ("accuracy", "macro_f1", "uar")


def describe(dataset: EmotionDataset) -> str:
    """One line per split: videos, subjects and label counts."""
    lines = [f"emotion dataset {dataset.root}: labels {', '.join(dataset.label_names)}"]
    for split in ("train", "val", "test"):
        videos = dataset.split(split)
        counts = np.bincount([v.label for v in videos], minlength=len(dataset.label_names))
        labels = ", ".join(f"{name} {n}" for name, n in zip(dataset.label_names, counts, strict=True))
        lines.append(
            f"  {split}: {len(videos)} videos, {len({v.subject_id for v in videos})} subjects ({labels})"
        )
    return "\n".join(lines)


def cue_caches(cfg: DictConfig, cues: set[str]) -> dict:
    """Cue caches for the cues the feature blocks ask for, keyed exactly as the detector's."""
    if not cues:
        return {}
    return {cue: make_cache(cfg, cue, cfg[cue]) for cue in sorted(cues)}


def predictions_table(dataset: EmotionDataset, result: FoldResult) -> pd.DataFrame:
    videos = [dataset.videos[i] for i in result.indices]
    table = pd.DataFrame(
        {
            "video_id": [v.video_id for v in videos],
            "subject_id": [v.subject_id for v in videos],
            "split": [v.split for v in videos],
            "fold": result.fold_of,
            "label": [dataset.label_names[v.label] for v in videos],
            "predicted": [dataset.label_names[k] for k in result.predicted],
        }
    )
    for k, name in enumerate(dataset.label_names):
        table[f"p_{name}"] = result.probabilities[:, k].round(4)
    return table


def fold_metrics(dataset: EmotionDataset, labels: np.ndarray, result: FoldResult) -> dict[str, dict]:
    """Headline metrics per fold (cross-validation shows how much they vary)."""
    folds = np.asarray(result.fold_of)
    out = {}
    for fold in dict.fromkeys(result.fold_of):
        rows = folds == fold
        scores = emotion_metrics(labels[result.indices[rows]], result.predicted[rows], dataset.label_names)
        out[fold] = {key: scores[key] for key in HEADLINE} | {"num_videos": int(rows.sum())}
    return out


def run_emotion(cfg: DictConfig, run_dir: Path, logger: Any) -> dict[str, Any]:
    seed_everything(cfg.seed)
    dataset = load_emotion_dataset(prepare_emotion_data(cfg.emotion))
    print(describe(dataset))
    names = dataset.label_names
    extractors = {name: instantiate(node) for name, node in cfg.features.blocks.items()}

    timelines, timeline_info = None, None
    if any(extractor.needs_timelines for extractor in extractors.values()):
        timelines, timeline_info = obtain_timelines(cfg, dataset, logger)
    caches = cue_caches(cfg, {cue for extractor in extractors.values() for cue in extractor.cues})
    inputs = FeatureInputs(dataset.videos, timelines, caches)
    blocks = {name: extractor(inputs) for name, extractor in extractors.items()}
    print("features: " + ", ".join(f"{name} {dim}" for name, dim in dimensions(blocks).items()))

    emotion = cfg.emotion
    folds = make_folds(
        dataset, emotion.protocol, list(emotion.fit_splits), emotion.eval_split, emotion.folds, cfg.seed
    )
    labels = np.array([v.label for v in dataset.videos])
    make_head = instantiate(cfg.emotion_head)
    result = run_folds(make_head, blocks, labels, len(names), folds)
    control = run_folds(make_head, blocks, labels, len(names), folds, shuffle_seed=cfg.seed)
    truth = labels[result.indices]
    metrics = emotion_metrics(truth, result.predicted, names)
    shuffled = emotion_metrics(truth, control.predicted, names)

    report: dict[str, Any] = {
        **metrics,
        "labels": list(names),
        "shuffled_labels": {key: shuffled[key] for key in HEADLINE},
        "protocol": emotion.protocol,
        "split": emotion.eval_split if emotion.protocol == "holdout" else f"{len(folds)} subject folds",
        "num_videos": len(truth),
        "features": {"blocks": dimensions(blocks), "timelines": timeline_info},
        "head": OmegaConf.to_container(cfg.emotion_head, resolve=True),
        "params": {"trainable": result.parameters},
        "train_seconds": result.seconds,
    }
    if emotion.protocol == "cv":
        report["folds"] = fold_metrics(dataset, labels, result)
    atomic_write_text(run_dir / "metrics.json", json.dumps(report, indent=2))
    atomic_write_text(run_dir / "predictions.csv", predictions_table(dataset, result).to_csv(index=False))
    if timelines is not None:
        atomic_write_text(
            run_dir / "timelines.csv", timeline_frame(timelines).to_csv(index=False, float_format="%.3f")
        )
    title = f"{cfg.features.get('name', 'features')}, {report['split']} ({len(truth)} videos)"
    figure = plot_confusion(metrics["confusion_matrix"], names, run_dir / "confusion_matrix.png", title)

    split = "test" if emotion.protocol == "holdout" else "cv"
    logger.log(
        {f"{split}/{key}": metrics[key] for key in HEADLINE}
        | {f"control/{k}": v for k, v in report["shuffled_labels"].items()}
    )
    logger.summary({key: metrics[key] for key in HEADLINE} | {"params/head": result.parameters})
    logger.log_image("confusion_matrix", figure)
    rows = [[name, metrics["per_class_recall"][name], metrics["support"][name]] for name in names]
    logger.log_table("per_class_recall", ["label", "recall", "support"], rows)

    print(f"\nEmotion recognition on {report['split']} ({len(truth)} videos, {emotion.protocol} protocol):")
    print(format_metrics(metrics, names))
    control_text = ", ".join(f"{k} {v:.3f}" for k, v in report["shuffled_labels"].items())
    print(f"control: the same head trained on shuffled labels: {control_text}")
    print(f"outputs in {run_dir}")
    return report
