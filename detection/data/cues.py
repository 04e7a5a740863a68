"""The detector's inputs, one :class:`Cue` per stream: what feeds it and what encodes it.

A cue is a config node (``configs/cue/*.yaml``, built with ``_target_``): the RGB frames, which
the dataset decodes and the VideoMAE backbone encodes, or a cue extracted by :mod:`perception`
(optical flow, skeletons) whose ``extractor`` is also the key of its cue cache, with a small
``encoder``. Everything that differs between cues lives in its class, so the dataset, the
collate function, the detector builder and predict never ask a cue for its name.

Cached cues are extracted at their own frame stride and stored with the native frame index of
each entry. The detector's clock is the decoded RGB frames (every ``frame_stride``-th frame),
so each cue is resampled to those frames by nearest frame index (:meth:`Cue.align`), kept
compact in memory (flow stays int8), and converted to float only when a batch is built
(:meth:`Cue.model_input`). Predict builds the same compact arrays from streamed video
(:mod:`perception.cue_stream`), so both paths hand the model identical tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from perception.flow import dequantize_flow, mirror_flow
from perception.skeleton import mirror_skeleton


def nearest_entries(entry_frames: np.ndarray, wanted_frames: np.ndarray) -> np.ndarray:
    """Index of the entry whose frame is nearest to each wanted frame (ties: the earlier)."""
    entry_frames = np.asarray(entry_frames)
    if entry_frames.size == 0:
        raise ValueError("the cue has no entries")
    right = np.clip(np.searchsorted(entry_frames, wanted_frames), 0, len(entry_frames) - 1)
    left = np.clip(right - 1, 0, len(entry_frames) - 1)
    take_left = np.abs(wanted_frames - entry_frames[left]) <= np.abs(entry_frames[right] - wanted_frames)
    return np.where(take_left, left, right)


class Cue:
    """One stream of the detector. Subclasses say how it is fed and encoded."""

    #: perception extractor (a frozen settings dataclass that is callable on a video path and is
    #: hashed into the cue cache's key); None when the dataset decodes the input itself (RGB)
    extractor: Callable[..., dict[str, np.ndarray]] | None = None

    def build_stream(self, backbone: nn.Module, width: int) -> nn.Module:
        """The module mapping one video's input ``(1, T, ...)`` to features ``(1, C, T')``, with
        ``T'`` the backbone's feature steps (``width`` is the output width of cue encoders)."""
        raise NotImplementedError

    def stored(self, sample: Any, name: str) -> Any:
        """This cue's compact data in a decoded video (``detection.data.dataset.VideoSample``),
        where the dataset keeps it under the cue's config name (read from the cue cache now when
        the dataset streams: ``detection.data.dataset.CachedCue``)."""
        value = sample.cues[name]
        return value.resolve() if hasattr(value, "resolve") else value

    def align(self, arrays: dict[str, np.ndarray], frame_count: int, frame_stride: int) -> dict:
        """Cached entries -> the compact form for sampled frames ``0, stride, 2*stride, ...``."""
        raise NotImplementedError(f"{type(self).__name__} has no cached entries")

    def model_input(
        self,
        compact: Any,
        mirror: bool = False,
        augment: Callable[..., np.ndarray] | None = None,
        rng: np.random.Generator | None = None,
    ) -> torch.Tensor:
        """The model's input tensor (time first) for one video or window; ``mirror`` flips it
        left-right, consistently across cues; ``augment`` is the appearance augmentation,
        which only appearance cues use."""
        raise NotImplementedError


class RGBCue(Cue):
    """Decoded frames ``(T, H, W, 3)`` uint8, encoded by the VideoMAE backbone (``model.backbone``)."""

    def build_stream(self, backbone: nn.Module, width: int) -> nn.Module:
        return backbone

    def stored(self, sample: Any, name: str) -> np.ndarray:
        return np.asarray(sample.frames)  # decodes streamed frames (detection.data.dataset)

    def model_input(self, compact, mirror=False, augment=None, rng=None) -> torch.Tensor:
        frames = compact
        if augment is not None:
            frames = augment(frames, rng, flip=mirror)
        elif mirror:
            frames = frames[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(frames))


class _EncodedCue(Cue):
    """A cue extracted by perception and encoded by a small network of its own."""

    def __init__(self, extractor: Callable[..., dict[str, np.ndarray]], encoder: Callable[..., nn.Module]):
        self.extractor = extractor
        self.encoder = encoder  # a partial: completed with the time axis and width

    def build_stream(self, backbone: nn.Module, width: int) -> nn.Module:
        return self.encoder(step_frames=backbone.tubelet, dim=width)


class FlowCue(_EncodedCue):
    """Optical flow (``perception.flow``): int8 fields in memory, float pixels as input
    ``(T, H, W, 2)``; mirroring flips the field and negates its x component."""

    def align(self, arrays, frame_count, frame_stride) -> dict:
        pick = nearest_entries(arrays["frame_indices"], np.arange(frame_count) * frame_stride)
        return {"flow": arrays["flow"][pick], "clip": float(arrays["clip"])}

    def model_input(self, compact, mirror=False, augment=None, rng=None) -> torch.Tensor:
        flow = mirror_flow(compact["flow"]) if mirror else compact["flow"]
        return torch.from_numpy(np.ascontiguousarray(dequantize_flow(flow, compact["clip"])))


class SkeletonCue(_EncodedCue):
    """Body-normalised skeletons (``perception.skeleton``) as input ``(T, J, C + 1)``: the
    coordinates, then a presence flag; absent frames' coordinates are 0 (the encoder ignores
    them). Mirroring negates x and swaps left and right joints."""

    def align(self, arrays, frame_count, frame_stride) -> dict:
        pick = nearest_entries(arrays["frame_indices"], np.arange(frame_count) * frame_stride)
        return {
            "body": arrays["body"][pick].astype(np.float32),
            "present": arrays["present"][pick].astype(bool),
        }

    def model_input(self, compact, mirror=False, augment=None, rng=None) -> torch.Tensor:
        body = mirror_skeleton(compact["body"]) if mirror else compact["body"]
        present = compact["present"]
        body = np.where(present[:, None, None], np.nan_to_num(body), 0.0).astype(np.float32)
        flag = np.broadcast_to(present[:, None, None], body.shape[:2] + (1,)).astype(np.float32)
        return torch.from_numpy(np.concatenate([body, flag], axis=-1))
