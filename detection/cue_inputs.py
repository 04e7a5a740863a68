"""Cached cue arrays -> per-sampled-frame model inputs.

Cues are extracted at their own frame stride (flow pairs, every skeleton frame) and stored
with the native frame index of each entry. The detector's clock is the decoded RGB frames
(every ``frame_stride``-th frame), so each cue is resampled to those frames by nearest
frame index, kept compact in memory (flow stays int8), and converted to float only when a
batch is built.
"""

from __future__ import annotations

import numpy as np
import torch

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


def align_cue(cue: str, arrays: dict[str, np.ndarray], frame_count: int, frame_stride: int) -> dict:
    """The cue's entries for sampled frames ``0, stride, 2*stride, ...`` (``frame_count`` of
    them), in the compact form kept in memory."""
    wanted = np.arange(frame_count) * frame_stride
    pick = nearest_entries(arrays["frame_indices"], wanted)
    if cue == "flow":
        return {"flow": arrays["flow"][pick], "clip": float(arrays["clip"])}
    if cue == "skeleton":
        body = arrays["body"][pick].astype(np.float32)
        present = arrays["present"][pick].astype(bool)
        return {"body": body, "present": present}
    raise ValueError(f"unknown cue {cue!r} (flow, skeleton)")


def cue_tensor(cue: str, stored: dict, mirror: bool = False) -> torch.Tensor:
    """Model input for one video: flow (T, H, W, 2) in pixels; skeleton (T, J, C + 1) with
    the presence flag as last channel and absent frames' coordinates set to 0."""
    if cue == "flow":
        flow = mirror_flow(stored["flow"]) if mirror else stored["flow"]
        return torch.from_numpy(np.ascontiguousarray(dequantize_flow(flow, stored["clip"])))
    if cue == "skeleton":
        body = mirror_skeleton(stored["body"]) if mirror else stored["body"]
        present = stored["present"]
        body = np.where(present[:, None, None], np.nan_to_num(body), 0.0).astype(np.float32)
        flag = np.broadcast_to(present[:, None, None], body.shape[:2] + (1,)).astype(np.float32)
        return torch.from_numpy(np.concatenate([body, flag], axis=-1))
    raise ValueError(f"unknown cue {cue!r} (flow, skeleton)")
