"""The ``cues`` feature block: motion statistics from optical flow and skeletons, no detector.

This is the baseline a timeline has to beat: how much and where the person moves, without
saying what the movement was. From the cue cache (``perception.cue_cache``, shared with the
detector, so nothing is extracted twice):

- **flow**: per frame, the mean flow magnitude in each cell of a ``grid`` x ``grid`` layout
  (where on the body the motion is); per cell over time its mean, std, 90th percentile and
  the fraction of frames above ``moving`` pixels;
- **skeleton**: per frame, the speed of each body part (mean joint displacement between
  consecutive present frames, in torso lengths, the skeleton's normalisation); per part its
  mean, std and 90th percentile; and for each wrist the distance to the nose (mean, minimum,
  fraction of frames closer than ``touch`` torso lengths), the signature of self-touching.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from affect.features import FeatureBlock, FeatureInputs
from perception.extract import ExtractionFailed, extract_cues
from perception.flow import dequantize_flow

BODY_PARTS: dict[str, tuple[int, ...]] = {
    "head": tuple(range(11)),
    "torso": (11, 12, 23, 24),
    "left_arm": (13, 15, 17, 19, 21),
    "right_arm": (14, 16, 18, 20, 22),
    "left_leg": (25, 27, 29, 31),
    "right_leg": (26, 28, 30, 32),
}
NOSE, WRISTS = 0, {"left": 15, "right": 16}


def _summary(values: np.ndarray) -> list[float]:
    """mean, std and 90th percentile over the first axis (zeros for an empty series)."""
    if len(values) == 0:
        return [0.0, 0.0, 0.0]
    return [float(values.mean()), float(values.std()), float(np.percentile(values, 90))]


def flow_statistics(flow: np.ndarray, grid: int, moving: float) -> np.ndarray:
    """(T, H, W, 2) float flow -> per grid cell [mean, std, p90, fraction moving]."""
    magnitude = np.linalg.norm(flow, axis=-1)
    t, h, w = magnitude.shape
    rows, cols = np.array_split(np.arange(h), grid), np.array_split(np.arange(w), grid)
    out = []
    for r in rows:
        for c in cols:
            series = magnitude[:, r][:, :, c].mean(axis=(1, 2))
            out += [*_summary(series), float((series > moving).mean()) if t else 0.0]
    return np.array(out)


def skeleton_statistics(body: np.ndarray, present: np.ndarray, touch: float) -> np.ndarray:
    """(T, 33, 3) body-normalised joints and (T,) presence -> part speeds and wrist-nose stats."""
    seen = body[present.astype(bool)][..., :2]
    out = []
    steps = np.linalg.norm(np.diff(seen, axis=0), axis=-1) if len(seen) > 1 else np.zeros((0, body.shape[1]))
    for joints in BODY_PARTS.values():
        out += _summary(steps[:, list(joints)].mean(axis=1))
    for wrist in WRISTS.values():
        distance = np.linalg.norm(seen[:, wrist] - seen[:, NOSE], axis=-1) if len(seen) else np.zeros(0)
        out += (
            [float(distance.mean()), float(distance.min()), float((distance < touch).mean())]
            if len(distance)
            else [0.0] * 3
        )
    return np.array(out)


def column_names(cues: Sequence[str], grid: int) -> list[str]:
    names = []
    if "flow" in cues:
        names += [
            f"flow_{s}/{r}{c}"
            for r in range(grid)
            for c in range(grid)
            for s in ("mean", "std", "p90", "moving")
        ]
    if "skeleton" in cues:
        names += [f"speed_{s}/{part}" for part in BODY_PARTS for s in ("mean", "std", "p90")]
        names += [f"wrist_nose_{s}/{side}" for side in WRISTS for s in ("mean", "min", "touching")]
    return names


class CueStatistics:
    """Hydra target of ``configs/features/cues.yaml``."""

    needs_timelines = False

    def __init__(
        self,
        cues: Sequence[str] = ("flow", "skeleton"),
        grid: int = 3,
        moving: float = 0.5,
        touch: float = 0.6,
        workers: int = 2,
    ) -> None:
        unknown = set(cues) - {"flow", "skeleton"}
        if unknown or not cues:
            raise ValueError(f"cue statistics exist for flow and skeleton, got {list(cues)}")
        self.cues = tuple(cues)
        self.grid, self.moving, self.touch, self.workers = grid, moving, touch, workers

    def __call__(self, inputs: FeatureInputs) -> FeatureBlock:
        missing = [cue for cue in self.cues if cue not in inputs.caches]
        if missing:
            raise KeyError(f"no cue cache for {missing}")
        caches = {cue: inputs.caches[cue] for cue in self.cues}
        summary = extract_cues(
            [v.path for v in inputs.videos], caches, workers=self.workers, desc="cues (statistics)"
        )
        if summary.failures:
            raise ExtractionFailed(summary.describe())
        rows = []
        for video in tqdm(inputs.videos, desc="cue statistics", leave=False):
            parts = []
            if "flow" in caches:
                arrays = caches["flow"].load(video.path)
                flow = dequantize_flow(arrays["flow"], float(arrays["clip"]))
                parts.append(flow_statistics(flow, self.grid, self.moving))
            if "skeleton" in caches:
                arrays = caches["skeleton"].load(video.path)
                parts.append(skeleton_statistics(arrays["body"], arrays["present"], self.touch))
            rows.append(np.concatenate(parts))
        return FeatureBlock("cues", column_names(self.cues, self.grid), np.stack(rows).astype(np.float32))
