"""The fixed 52 x 300 label embedding that MANet's joint-embedding loss regresses to.

Real runs load the published matrix by path (``label_embeddings_52x300.npy``, float32, one
word-vector-like row per action in index order; row norms 2.8..6.9, mean 4.8, element std
0.28, rows of the same body group a little more alike than others: mean cosine 0.42 within,
0.35 across groups).

Without it (the synthetic default, tests), :func:`synthetic_label_embeddings` derives a
matrix of the same shape and statistics from the taxonomy alone, deterministically::

    E[a] = s_a * (c + g[body(a)] + u[a])

with ``c`` one vector shared by every class (word vectors share a common direction),
``g`` one vector per body group, ``u`` one per class, all N(0, sigma^2) drawn from a fixed
seed (sigmas 0.12, 0.12 and 0.22 per element), and a per-class scale ``s_a`` uniform in
[0.65, 1.3]. Expected cosine: about 0.37 within a body group, 0.19 across; norms about 3..6.
The structure is what the loss needs: classes of one body group get nearby targets, so
the embedding branch learns the body-group similarity the real word vectors encode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.taxonomy import ACTION_TO_BODY, NUM_ACTIONS, NUM_BODY_GROUPS

EMBEDDING_DIM = 300
SYNTHETIC_SEED = 52300  # fixed: the synthetic target must be the same in every run
_SIGMA_COMMON, _SIGMA_GROUP, _SIGMA_CLASS = 0.12, 0.12, 0.22
_SCALE_RANGE = (0.65, 1.3)


def load_label_embeddings(path: str | Path, num_classes: int = NUM_ACTIONS) -> np.ndarray:
    """The (num_classes, D) float32 matrix stored at ``path`` (``.npy``); errors name the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label embedding file not found: {path}")
    try:
        matrix = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{path}: not a plain .npy array ({error})") from error
    if matrix.ndim != 2 or matrix.shape[0] != num_classes:
        raise ValueError(f"{path}: expected a ({num_classes}, D) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{path}: contains NaN or infinite values")
    return matrix.astype(np.float32)


def synthetic_label_embeddings(dim: int = EMBEDDING_DIM, seed: int = SYNTHETIC_SEED) -> np.ndarray:
    """A deterministic (52, dim) stand-in for the published embedding (see module docstring)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, _SIGMA_COMMON, size=dim)
    groups = rng.normal(0.0, _SIGMA_GROUP, size=(NUM_BODY_GROUPS, dim))
    classes = rng.normal(0.0, _SIGMA_CLASS, size=(NUM_ACTIONS, dim))
    scale = rng.uniform(*_SCALE_RANGE, size=(NUM_ACTIONS, 1))
    bodies = np.asarray(ACTION_TO_BODY)
    return (scale * (common + groups[bodies] + classes)).astype(np.float32)


def label_embeddings(path: str | Path | None, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """The published matrix at ``path``, or the synthetic one when ``path`` is None."""
    if path is None:
        return synthetic_label_embeddings(dim)
    matrix = load_label_embeddings(path)
    if matrix.shape[1] != dim:
        raise ValueError(f"{path}: embedding width {matrix.shape[1]} != the model's {dim}")
    return matrix
