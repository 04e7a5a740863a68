"""Pretrained VideoMAE weights from local files, in any of the layouts they are published in.

``load_pretrained_videomae(config, path)`` accepts

- a Hugging Face-format directory (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``), as written by ``save_pretrained`` or downloaded from the hub;
- a single ``.safetensors`` / ``.pth`` / ``.pt`` / ``.bin`` file holding either a Hugging Face
  state dict or one in the layout of the original VideoMAE / VideoMAEv2 code (``blocks.0.attn.qkv``
  ...), including mmaction2 / OpenTAD exports (``backbone.`` prefix, ``mlp.layers.0.0``), with
  any wrapper (``{"model": ...}``, ``{"module": ...}``, ``{"state_dict": ...}``) and any key
  prefix (``module.``, ``encoder.`` of pretraining checkpoints, ``videomae.`` ...).

Why this module exists: the original checkpoints are what the VideoMAE(v2) authors and
AdaTAD/OpenTAD publish, and only some have Hugging Face copies. Loading is safe only:
``safetensors`` or ``torch.load(weights_only=True)``, which refuses pickled code. Nothing is
ever downloaded: a missing path is a :class:`MissingCheckpointError` that names it.

Conversion notes (each is exact, checked by tests/perception/test_checkpoints.py):

- the fused ``qkv`` projection is split into query / key / value; ``q_bias`` / ``v_bias`` become
  the query / value biases. A key bias, where a checkpoint has one, is dropped: it adds the same
  ``q . b_k`` to every attention logit of a query, which the softmax cancels;
- VideoMAEv2's layer scale (``gamma_1`` / ``gamma_2``, when trained with ``init_values``) is folded
  into the output projection it multiplies;
- the final token norm (``norm``) becomes ``layernorm``; the model then normalises tokens before
  pooling (``use_mean_pooling=False``). ``fc_norm`` and the classifier (``head``) of fine-tuned
  checkpoints are dropped: they act on the clip-level pooled vector, which the detector does
  not use (AdaTAD drops them too);
- the fixed sin-cos position table is the checkpoint's own when it stores one (``pos_embed`` of
  mmaction2 / OpenTAD exports, after checking it is the sin-cos table; a table a Hugging Face file
  holds), else the table of the checkpoint's native grid (its ``config.json``, or
  ``native_image_size`` for a file that records nothing); either is then *resized* to the
  configured grid, bicubic per time slice, as AdaTAD/OpenTAD run a 224 px checkpoint at 160 px
  (perception/position_table.py), and installed as a buffer of the embeddings. Learned position
  embeddings cannot be represented and are an error;
- the original code uses LayerNorm eps 1e-6 (transformers defaults to 1e-12), so original-layout
  checkpoints get ``layer_norm_eps=1e-6`` unless the config sets it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import VideoMAEConfig, VideoMAEModel

from perception.position_table import TABLE_KEY, Grid, install_table, sinusoid_table, table_for, token_grid

__all__ = ["MissingCheckpointError", "load_pretrained_videomae", "read_state_dict", "sinusoid_table"]

StateDict = dict[str, torch.Tensor]

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
WRAPPERS = ("model", "module", "state_dict", "model_state", "model_state_dict")
# Architecture fields a checkpoint must agree with the configuration on (the weights' shapes and
# the attention head split depend on them). Image size and frame count may differ: the sin-cos
# position table is resized to the configured geometry.
ARCHITECTURE_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "patch_size",
    "tubelet_size",
)
HF_ANCHOR = "embeddings.patch_embeddings.projection.weight"
ORIGINAL_ANCHORS = ("patch_embed.proj.weight", "patch_embed.projection.weight")
ORIGINAL_EPS = 1e-6


class MissingCheckpointError(FileNotFoundError):
    """Pretrained weights were requested from a local path that does not hold them."""


# ----------------------------------------------------------------------------- reading files


def read_state_dict(path: str | Path) -> StateDict:
    """Tensors of a ``.safetensors`` or torch file, unwrapped from ``{"model": ...}``-style
    containers. Torch files are read with ``weights_only=True`` (no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path), device="cpu")
    elif path.suffix in TORCH_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # pickled objects beyond tensors and containers land here
            raise RuntimeError(
                f"{path}: cannot be read safely with torch.load(weights_only=True) ({error}); "
                f"convert it to .safetensors in a trusted environment"
            ) from error
    else:
        raise ValueError(
            f"{path}: unknown checkpoint format {path.suffix!r}; expected .safetensors, "
            f"{', '.join(TORCH_SUFFIXES)} or a Hugging Face-format directory"
        )
    return _unwrap(state, path)


def _unwrap(state: Any, source: Path) -> StateDict:
    while isinstance(state, Mapping) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in WRAPPERS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            raise ValueError(
                f"{source}: no state dict found; top-level keys {sorted(state)[:10]}, expected tensors "
                f"or one of the wrappers {WRAPPERS}"
            )
        state = inner
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f"{source}: holds no tensors")
    return dict(state)


# ----------------------------------------------------------------------------- layouts


def detect_layout(state: Mapping[str, torch.Tensor], source: str = "state dict") -> tuple[str, str]:
    """``("hf" | "original", prefix)``: the layout, found from the patch embedding's key, and
    whatever precedes that key (``module.``, ``encoder.``, ``videomae.``, ``backbone.`` ...)."""
    for anchors, layout in (((HF_ANCHOR,), "hf"), (ORIGINAL_ANCHORS, "original")):
        for key in state:
            for anchor in anchors:
                if key == anchor or key.endswith("." + anchor):
                    return layout, key[: len(key) - len(anchor)]
    raise ValueError(
        f"{source}: not a VideoMAE state dict: no patch embedding (a key ending in "
        f"{HF_ANCHOR!r} or {ORIGINAL_ANCHORS[0]!r}); first keys: {list(state)[:8]}"
    )


def normalize_hf_keys(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Hugging Face files name the query / value biases ``q_bias`` / ``v_bias`` (the layout
    ``save_pretrained`` still writes and the hub checkpoints use); the module calls them
    ``query.bias`` / ``value.bias``."""
    renamed = {}
    for key, value in state.items():
        key = re.sub(r"attention\.attention\.q_bias$", "attention.attention.query.bias", key)
        key = re.sub(r"attention\.attention\.v_bias$", "attention.attention.value.bias", key)
        renamed[key] = value
    return renamed


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """The backbone's tensors without ``prefix``; everything outside it (decoders, heads of
    wrapping models) is left out."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


_BLOCK_PARTS = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "attn.proj": "attention.output.dense",
    "mlp.fc1": "intermediate.dense",
    "mlp.fc2": "output.dense",
    "mlp.layers.0.0": "intermediate.dense",  # mmaction2 / OpenTAD FFN
    "mlp.layers.1": "output.dense",
}
_DROPPED = ("head.", "fc_norm.", "cls_head.")


def convert_original_videomae(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Original VideoMAE / VideoMAEv2 encoder keys (prefix already stripped) -> transformers'
    ``VideoMAEModel`` keys. Unknown keys are an error, so nothing is silently lost."""
    out: StateDict = {}
    layer_scale: dict[tuple[int, str], torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key.startswith(_DROPPED):
            continue
        if key == "pos_embed":
            _check_sinusoid(value)
            out[TABLE_KEY] = value.float().reshape(1, -1, value.shape[-1])
            continue
        if match := re.fullmatch(r"patch_embed\.proj(?:ection)?\.(weight|bias)", key):
            out[f"embeddings.patch_embeddings.projection.{match[1]}"] = value
            continue
        if match := re.fullmatch(r"norm\.(weight|bias)", key):
            out[f"layernorm.{match[1]}"] = value
            continue
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
        if match is None:
            unknown.append(key)
            continue
        index, part = int(match[1]), match[2]
        layer = f"encoder.layer.{index}"
        attention = f"{layer}.attention.attention"
        if part in ("attn.qkv.weight", "attn.qkv.bias"):
            kind = part.rsplit(".", 1)[1]
            query, _key, val = value.chunk(3, dim=0)
            out[f"{attention}.query.{kind}"] = query
            out[f"{attention}.value.{kind}"] = val
            if kind == "weight":
                out[f"{attention}.key.weight"] = _key
        elif part == "attn.q_bias":
            out[f"{attention}.query.bias"] = value
        elif part == "attn.v_bias":
            out[f"{attention}.value.bias"] = value
        elif part in ("gamma_1", "gamma_2"):
            layer_scale[(index, part)] = value
        elif (module := part.rsplit(".", 1)[0]) in _BLOCK_PARTS and part.endswith((".weight", ".bias")):
            out[f"{layer}.{_BLOCK_PARTS[module]}.{part.rsplit('.', 1)[1]}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"cannot convert {len(unknown)} key(s) of the original VideoMAE layout, e.g. {unknown[:6]}"
        )
    for (index, name), scale in layer_scale.items():
        # x + gamma * (W h + b)  ==  x + (diag(gamma) W) h + gamma * b
        dense = "attention.output.dense" if name == "gamma_1" else "output.dense"
        prefix = f"encoder.layer.{index}.{dense}"
        out[f"{prefix}.weight"] = out[f"{prefix}.weight"] * scale[:, None]
        out[f"{prefix}.bias"] = out[f"{prefix}.bias"] * scale
    return out


def _check_sinusoid(pos_embed: torch.Tensor) -> None:
    table = sinusoid_table(pos_embed.shape[-2], pos_embed.shape[-1])
    if not torch.allclose(pos_embed.float().reshape(table.shape), table, atol=2e-3):
        raise ValueError(
            "the checkpoint has learned position embeddings (pos_embed is not the fixed sin-cos "
            "table); transformers' VideoMAEModel only supports the fixed table"
        )


# ----------------------------------------------------------------------------- loading


def load_pretrained_videomae(
    config: Mapping[str, Any], path: str | Path, native_image_size: int | None = None
) -> VideoMAEModel:
    """A VideoMAE encoder with the weights at ``path`` (directory or file, see the module
    docstring), for the architecture in ``config`` (the ``model.backbone.config`` mapping).

    ``native_image_size``: the resolution the checkpoint was trained at, for files that record
    neither a position table nor a config (the original VideoMAE code's ``.pth`` files; every
    public VideoMAE checkpoint is 224 px). What a file records wins; None with nothing recorded
    means the configured size (the table is used as built)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _load_directory(config, path)
    if path.is_file():
        return _load_file(config, path, native_image_size)
    raise MissingCheckpointError(
        f"pretrained VideoMAE weights not found at {path}: expected a Hugging Face-format directory "
        f"(config.json + model.safetensors) or a .safetensors / .pth file (original VideoMAE or "
        f"VideoMAEv2 layout); nothing is downloaded. Set model.backbone.pretrained=null to start "
        f"from random weights"
    )


def _load_directory(config: Mapping[str, Any], path: Path) -> VideoMAEModel:
    weights = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
    if not (path / "config.json").is_file() or weights is None:
        raise MissingCheckpointError(
            f"{path} is not a Hugging Face-format VideoMAE directory: expected {path / 'config.json'} "
            f"and {path / WEIGHT_FILES[0]} (or {WEIGHT_FILES[1]})"
        )
    hf_config = VideoMAEConfig.from_pretrained(str(path), local_files_only=True)
    mismatched = {
        field: (getattr(hf_config, field), config[field])
        for field in ARCHITECTURE_FIELDS
        if field in config and getattr(hf_config, field) != config[field]
    }
    if mismatched:
        raise ValueError(
            f"{path}: checkpoint architecture differs from the configured one "
            f"(field: checkpoint vs config) {mismatched}; pick the model config that matches it"
        )
    native = token_grid(hf_config)  # the grid the weights were trained on, from config.json
    # Every configured field wins over config.json: image_size and num_frames resize the position
    # table; the rest (dropout rates, ...) are training choices the user made for this run, and
    # the architecture fields were checked to agree above.
    for field, value in config.items():
        setattr(hf_config, field, value)
    state = read_state_dict(weights)
    layout, prefix = detect_layout(state, str(weights))
    state = strip_prefix(state, prefix)
    state = convert_original_videomae(state) if layout == "original" else normalize_hf_keys(state)
    hf_config.use_mean_pooling = "layernorm.weight" not in state
    return _build_and_load(hf_config, state, str(weights), native)


def _load_file(config: Mapping[str, Any], path: Path, native_image_size: int | None) -> VideoMAEModel:
    state = read_state_dict(path)
    layout, prefix = detect_layout(state, str(path))
    state = strip_prefix(state, prefix)
    settings = dict(config)
    if layout == "original":
        state = convert_original_videomae(state)
        settings.setdefault("layer_norm_eps", ORIGINAL_EPS)
    else:
        state = normalize_hf_keys(state)
    settings["use_mean_pooling"] = "layernorm.weight" not in state
    settings["qv_bias"] = "encoder.layer.0.attention.attention.query.bias" in state
    model_config = VideoMAEConfig(**settings)
    native = None  # a stored table says its own grid
    if TABLE_KEY not in state and native_image_size is not None:
        native = token_grid({**model_config.to_dict(), "image_size": native_image_size})
    return _build_and_load(model_config, state, f"{path} ({layout} layout)", native)


def _build_and_load(
    config: VideoMAEConfig, state: StateDict, source: str, native: Grid | None = None
) -> VideoMAEModel:
    """Build the model, load ``state`` strictly, then install the position table: the one
    ``state`` stores, else the sin-cos table of the ``native`` grid, resized to ``config``'s."""
    state = dict(state)
    stored = state.pop(TABLE_KEY, None)
    model = VideoMAEModel(config)
    expected = model.state_dict()
    expected.pop(TABLE_KEY, None)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or shapes:
        architecture = {field: getattr(config, field) for field in ARCHITECTURE_FIELDS}
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing, e.g. {missing[:5]}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected, e.g. {unexpected[:5]}")
        if shapes:
            problems.append(f"{len(shapes)} of another shape, e.g. {shapes[:3]}")
        raise ValueError(
            f"{source}: the weights do not fit a VideoMAE with {architecture}: " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)
    try:
        table = table_for(config, native, stored)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error
    install_table(model, table)
    return model
