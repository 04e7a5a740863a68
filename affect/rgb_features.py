"""The ``rgb`` feature block: pooled features of the VideoMAE backbone, no detector involved.

Every video is decoded at the detector's frame stride and size, run through the frozen
backbone (``perception.backbone``; no adapter, so the weights are those at ``pretrained``, or
random in the tiny CPU configuration) in windows of whole chunks, and each feature dimension
is summarised over time by its mean and standard deviation. Without adapters no block mixes
chunks, so windowing changes nothing but the memory a long video needs.

On the synthetic emotion set appearance carries no label, so this block is expected near
chance: it is the control that says the micro-action features are not read off the pixels
some simpler way. With a pretrained backbone on real video it is the usual RGB baseline.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from tqdm.auto import tqdm

from affect.dataset import EmotionVideo
from affect.features import FeatureBlock, FeatureInputs
from perception.backbone import AdaptedVideoMAE
from perception.video import read_video


class RGBFeatures:
    """Hydra target of ``configs/features/rgb.yaml``."""

    needs_timelines = False
    cues: tuple[str, ...] = ()

    def __init__(
        self,
        backbone: AdaptedVideoMAE,
        frame_stride: int = 4,
        device: str = "cpu",
        window_chunks: int = 8,
        workers: int = 2,
    ) -> None:
        self.backbone = backbone.to(device).eval()
        self.frame_stride, self.device = frame_stride, device
        self.window = window_chunks * backbone.chunk_frames
        self.workers = max(1, workers)

    @torch.no_grad()
    def video_features(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 frames -> (2 C,) mean and std over time of the backbone's features."""
        steps = []
        for start in range(0, len(frames), self.window):
            clip = torch.from_numpy(np.ascontiguousarray(frames[start : start + self.window]))[None]
            steps.append(self.backbone(clip.to(self.device))[0].cpu())
        features = torch.cat(steps, dim=1)  # (C, T')
        return torch.cat([features.mean(dim=1), features.std(dim=1, unbiased=False)]).numpy()

    def _decoded(self, videos: Sequence[EmotionVideo]) -> Iterator[np.ndarray]:
        """Frames of each video in order, decoded a few videos ahead in threads."""
        size = self.backbone.image_size
        with ThreadPoolExecutor(self.workers) as pool:
            pending: deque = deque()
            for video in videos:
                pending.append(pool.submit(read_video, video.path, self.frame_stride, size))
                if len(pending) > 2 * self.workers:
                    yield pending.popleft().result().frames
            while pending:
                yield pending.popleft().result().frames

    def __call__(self, inputs: FeatureInputs) -> FeatureBlock:
        rows = [
            self.video_features(frames)
            for frames in tqdm(
                self._decoded(inputs.videos), total=len(inputs.videos), desc="rgb features", leave=False
            )
        ]
        width = len(rows[0]) // 2
        columns = [f"rgb_mean/{i}" for i in range(width)] + [f"rgb_std/{i}" for i in range(width)]
        return FeatureBlock("rgb", columns, np.stack(rows).astype(np.float32))
