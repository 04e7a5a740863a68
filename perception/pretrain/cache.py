"""Pretrained backbones cached by what made them: ``ensure_pretrained(settings, videos) -> Path``.

A sweep trains many detectors on one dataset; pretraining the backbone once per (recipe, data)
and reusing it is what makes ``model.backbone.self_pretrain`` affordable. Reuse must never be
wrong, so the cache folder's name is a hash of

- the encoder architecture: every ``VideoMAEConfig`` field that shapes the encoder or its
  initialisation, defaults filled in (so ``layer_norm_eps`` left out or given as its default is
  the same encoder; ``use_mean_pooling`` is not one: pretraining always keeps the final norm);
- the recipe: every :class:`PretrainSettings` field that changes the weights (not the device,
  the worker count or whether frames stay in memory);
- the videos: the sorted SHA-256 of each file's bytes (``perception.cue_cache``'s memoised
  hashing), not their names or folder: moved or renamed videos hit the same entry, a re-encoded
  one does not. The videos are also trained on in the order of these hashes, so the entry's
  weights follow from its key alone.

A file lock per key makes concurrent jobs wait for the first one's backbone instead of training
their own; a job killed mid-way leaves ``<key>.partial/``, which the next one resumes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from transformers import VideoMAEConfig

from perception.cue_cache import HashMemo
from perception.locking import file_lock
from perception.pretrain.data import find_videos
from perception.pretrain.loop import pretrain
from perception.pretrain.settings import PretrainSettings

CACHE_FORMAT = 1  # bump when what a cached backbone holds changes
DEFAULT_CACHE = Path("data/pretrain_cache")
ENCODER_FIELDS = (
    "image_size",
    "patch_size",
    "num_channels",
    "num_frames",
    "tubelet_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "initializer_range",
    "layer_norm_eps",
    "qv_bias",
)


def encoder_identity(encoder: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``encoder`` that change pretrained weights, with transformers' defaults."""
    config = VideoMAEConfig(**dict(encoder))
    return {field: getattr(config, field) for field in ENCODER_FIELDS}


def content_hashes(videos: Iterable[Path], memo: HashMemo) -> list[tuple[str, Path]]:
    """(sha256, path) of each video, sorted by hash (then path, for identical copies)."""
    return sorted((memo.sha256(video), video) for video in videos)


def cache_key(settings: PretrainSettings, encoder: Mapping[str, Any], hashes: Iterable[str]) -> str:
    description = {
        "format": CACHE_FORMAT,
        "encoder": encoder_identity(encoder),
        "recipe": settings.recipe(),
        "videos": sorted(hashes),
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]


def ensure_pretrained(
    settings: PretrainSettings | Mapping[str, Any],
    videos: str | Path | Iterable[str | Path],
    encoder: Mapping[str, Any],
    cache: str | Path = DEFAULT_CACHE,
) -> Path:
    """The Hugging Face directory of an ``encoder`` pretrained with ``settings`` on ``videos``
    (folders searched recursively, or files), pretraining it first when the cache lacks it."""
    settings = settings if isinstance(settings, PretrainSettings) else PretrainSettings.from_mapping(settings)
    cache = Path(cache)
    memo = HashMemo(cache / "hashes.json")
    hashed = content_hashes(find_videos(videos), memo)
    memo.save()
    key = cache_key(settings, encoder, [digest for digest, _ in hashed])
    folder = cache / key
    with file_lock(cache / f"{key}.lock"):
        if folder.is_dir():
            print(f"reusing the pretrained backbone cached in {folder}")
        else:
            result = pretrain(
                settings,
                encoder,
                [path for _, path in hashed],
                folder,
                describe={"cache_key": key, "video_sha256": [digest for digest, _ in hashed]},
            )
            print(result.describe())
    return folder


def ensure_from_config(options: Mapping[str, Any], encoder: Mapping[str, Any]) -> Path:
    """``ensure_pretrained`` from a ``model.backbone.self_pretrain`` mapping: the settings plus
    ``videos`` (required: a folder, a file or a list of them) and ``cache`` (the cache folder)."""
    options = dict(options)
    videos = options.pop("videos", None)
    cache = options.pop("cache", None) or DEFAULT_CACHE
    if not videos:
        raise ValueError(
            "model.backbone.self_pretrain needs `videos`: the folder (or list of folders) of videos "
            "to pretrain on, e.g. ${data.root}/${data.splits.train}"
        )
    if not isinstance(videos, (str, Path)):
        videos = list(videos)
    return ensure_pretrained(options, videos, encoder, cache)
