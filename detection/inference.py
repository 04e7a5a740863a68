"""Running a trained detector over a dataset and turning its output into a submission table."""

from __future__ import annotations

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from detection.annotations import SUBMISSION_COLUMNS
from detection.dataset import Collate, MMADataset, steps_to_seconds
from detection.detector import MicroActionDetector


@torch.no_grad()
def predict_dataset(
    model: MicroActionDetector, dataset: MMADataset, batch_size: int = 2, device: str = "cpu"
) -> pd.DataFrame:
    """Detections for every video, in seconds, as a table with the submission columns."""
    model.to(device).eval()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        collate_fn=Collate(model.step_frames, model.length_multiple, cues=tuple(model.cues)),
    )
    rows = []
    for batch in tqdm(loader, desc="predicting", leave=False):
        inputs = {cue: [x.to(device) for x in videos] for cue, videos in batch.inputs.items()}
        detections = model.predict(inputs, batch.feature_mask.to(device))
        for sample, found in zip(batch.samples, detections, strict=True):
            seconds = steps_to_seconds(found.segments.cpu(), sample.step_seconds).clamp(0, sample.duration)
            keep = seconds[:, 1] > seconds[:, 0]
            for (start, end), score, label in zip(
                seconds[keep].tolist(), found.scores[keep].tolist(), found.labels[keep].tolist(), strict=True
            ):
                rows.append((sample.video_id, start, end, label, score))
    table = pd.DataFrame(rows, columns=list(SUBMISSION_COLUMNS))
    return table.astype({"t_start": float, "t_end": float, "class": int, "score": float})
