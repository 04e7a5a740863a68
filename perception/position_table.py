"""VideoMAE's fixed sin-cos position table, and carrying a checkpoint's table to another input size.

VideoMAE adds a fixed table to its patch tokens: one row per token of the (time, height, width)
grid, flattened in that order, built as a 1-D sin-cos code of the flattened index. The encoder's
weights were trained against the rows *as laid out at the checkpoint's resolution*: at 224 px the
token at row y, column x has index ``t * 196 + y * 14 + x``. Building a new 1-D table for a 160 px
grid (index ``t * 100 + y * 10 + x``) gives every token a code the encoder never saw at that place:
its per-token cosine similarity with the resized pretrained table averages 0.33.

AdaTAD / OpenTAD instead keep the pretrained table and resize it over the spatial grid, bicubic,
one time slice at a time (``F.interpolate(..., mode="bicubic", align_corners=False)`` on
``(time, channels, height, width)``); :func:`resize_table` does the same. OpenTAD never changes the
number of frames; where a checkpoint was trained on another frame count we also interpolate
linearly over time, per spatial position.

How faithful is a resize? Measured on VideoMAE-S's table (384 channels, tests/perception/
test_position_table.py): 160 -> 224 -> 160 px keeps every token's cosine similarity >= 0.997
(mean 0.9989); 224 -> 160 -> 224 averages 0.948, because the fastest channels advance up to
14 radians per row of the 224 grid and cannot survive a 10-row grid; the 244 channels that turn
by under half a radian per row come back with cosine >= 0.9997.

:func:`install_table` makes the table a persistent buffer of the encoder's embeddings, the tensor
transformers' ``VideoMAEEmbeddings`` adds in its forward, so a detector checkpoint carries the
(resized) table with the weights instead of relying on it being rebuilt the same way.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from transformers import VideoMAEModel

Grid = tuple[int, int, int]  # (time, height, width) of the token grid

TABLE_KEY = "embeddings.position_embeddings"  # where install_table puts it in the state dict


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed position table, (1, positions, dim): sin on even, cos on odd channels."""
    pos = torch.arange(positions, dtype=torch.float64)[:, None]
    rate = torch.pow(10000.0, 2 * (torch.arange(dim) // 2).double() / dim)
    angles = pos / rate
    table = torch.where(torch.arange(dim) % 2 == 0, torch.sin(angles), torch.cos(angles))
    return table.float()[None]


def token_grid(config: Any) -> Grid:
    """The token grid of a VideoMAE config (a ``VideoMAEConfig`` or a mapping with its fields)."""
    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name)
    side = int(get("image_size")) // int(get("patch_size"))
    return int(get("num_frames")) // int(get("tubelet_size")), side, side


def grid_of_table(positions: int, time: int, source: str = "position table") -> Grid:
    """The square grid of a stored table with ``positions`` rows and ``time`` time slices."""
    per_slice = positions // time if time > 0 else 0
    side = math.isqrt(per_slice)
    if per_slice * time != positions or side * side != per_slice:
        raise ValueError(
            f"{source}: {positions} rows are not {time} time slices of a square token grid; "
            f"set num_frames (and tubelet_size) to what the checkpoint was trained with"
        )
    return time, side, side


def resize_table(table: torch.Tensor, source: Grid, target: Grid) -> torch.Tensor:
    """``table`` (1, prod(source), dim) laid out on ``source`` -> (1, prod(target), dim) on
    ``target``: bicubic over each time slice's grid, then linear over time if that differs."""
    t, h, w = source
    if table.shape[-2] != t * h * w:
        raise ValueError(f"position table has {table.shape[-2]} rows, not the {t}x{h}x{w} grid's {t * h * w}")
    if tuple(source) == tuple(target):
        return table.reshape(1, t * h * w, -1).clone()
    dim = table.shape[-1]
    x = table.reshape(t, h, w, dim).permute(0, 3, 1, 2).double()  # time slices as the batch
    if (h, w) != tuple(target[1:]):
        x = F.interpolate(x, size=tuple(target[1:]), mode="bicubic", align_corners=False)
    if t != target[0]:
        # (time, dim, h, w) -> (h * w, dim, time): one sequence per spatial position
        seq = x.permute(2, 3, 1, 0).reshape(-1, dim, t)
        seq = F.interpolate(seq, size=target[0], mode="linear", align_corners=False)
        x = seq.reshape(target[1], target[2], dim, target[0]).permute(3, 2, 0, 1)
    return x.permute(0, 2, 3, 1).reshape(1, -1, dim).to(table.dtype)


def table_for(config: Any, native: Grid | None = None, stored: torch.Tensor | None = None) -> torch.Tensor:
    """The table a model of ``config`` should add: ``stored`` (a checkpoint's own table) or, when
    the checkpoint stores none, the sin-cos table of its ``native`` grid, resized to the grid of
    ``config``. With neither, the table of ``config``'s own grid (random weights)."""
    target = token_grid(config)
    dim = int(config["hidden_size"] if isinstance(config, dict) else config.hidden_size)
    if stored is not None:
        source = grid_of_table(stored.shape[-2], (native or target)[0], "stored position table")
        return resize_table(stored.float().reshape(1, -1, dim), source, target)
    native = native or target
    return resize_table(sinusoid_table(math.prod(native), dim), native, target)


def install_table(model: VideoMAEModel, table: torch.Tensor) -> None:
    """Make ``table`` the position table ``model``'s embeddings add, as a persistent buffer."""
    embeddings = model.embeddings
    expected = math.prod(token_grid(model.config))
    if table.shape != (1, expected, model.config.hidden_size):
        raise ValueError(
            f"position table of shape {tuple(table.shape)} does not fit a model with {expected} tokens "
            f"of width {model.config.hidden_size}"
        )
    if "position_embeddings" in embeddings._buffers:
        embeddings.position_embeddings = table.to(embeddings.position_embeddings)
        return
    device = embeddings.patch_embeddings.projection.weight.device
    # transformers keeps the table as a plain attribute (not in the state dict); replace it
    if hasattr(embeddings, "position_embeddings"):
        delattr(embeddings, "position_embeddings")
    embeddings.register_buffer("position_embeddings", table.detach().to(device), persistent=True)


def mean_token_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over tokens of the cosine similarity between two tables' rows."""
    return float(F.cosine_similarity(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]), dim=-1).mean())
