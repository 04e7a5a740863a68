"""Running a trained detector over a dataset and turning its output into a submission table."""

from __future__ import annotations

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from detection.data.annotations import SUBMISSION_COLUMNS
from detection.data.dataset import Collate, MMADataset, steps_to_seconds
from detection.model.detector import MicroActionDetector
from engine import distributed


@torch.no_grad()
def predict_dataset(
    model: MicroActionDetector, dataset: MMADataset, batch_size: int = 2, device: str = "cpu"
) -> pd.DataFrame:
    """Detections for every video, in seconds, as a table with the submission columns."""
    model.to(device).eval()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        collate_fn=Collate(model.step_frames, model.length_multiple, cues=model.cue_specs),
    )
    rows = []
    for batch in tqdm(loader, desc="predicting", leave=False):
        inputs = {cue: [x.to(device) for x in videos] for cue, videos in batch.inputs.items()}
        detections = model.predict(inputs, batch.feature_mask.to(device))
        for sample, found in zip(batch.samples, detections, strict=True):
            seconds = steps_to_seconds(found.segments.cpu().double(), sample.step_seconds).clamp(
                0, sample.duration
            )
            keep = seconds[:, 1] > seconds[:, 0]
            for (start, end), score, label in zip(
                seconds[keep].tolist(), found.scores[keep].tolist(), found.labels[keep].tolist(), strict=True
            ):
                rows.append((sample.video_id, start, end, label, score))
    table = pd.DataFrame(rows, columns=list(SUBMISSION_COLUMNS))
    return table.astype({"t_start": float, "t_end": float, "class": int, "score": float})


def predict_gathered(
    model: MicroActionDetector, dataset: MMADataset, batch_size: int, device: str
) -> pd.DataFrame | None:
    """Predictions for the whole dataset on rank 0 (None on the others): under ``torchrun`` each
    rank predicts every N-th video and rank 0 concatenates the shards in dataset order."""
    shard = torch.utils.data.Subset(dataset, distributed.shard_indices(len(dataset)))
    local = predict_dataset(model, shard, batch_size=batch_size, device=device)
    shards = distributed.gather_objects(local)
    if not distributed.is_main_process():
        return None
    order = {s.video_id: i for i, s in enumerate(dataset.samples)}
    table = pd.concat(shards, ignore_index=True)
    return table.sort_values("video_id", key=lambda ids: ids.map(order), kind="stable").reset_index(drop=True)
