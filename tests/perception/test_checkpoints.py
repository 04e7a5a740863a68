"""Pretrained weights: original VideoMAE / VideoMAEv2 / mmaction2 layouts convert to the Hugging
Face model exactly, files load safely, and every failure names what is wrong.

The original-layout dicts here are written from a Hugging Face model by an inverse mapping that
is spelled out in this file (not taken from perception.checkpoints), so a wrong conversion shows
up as different outputs.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import VideoMAEConfig, VideoMAEModel
from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

from perception.backbone import MissingCheckpointError, build_adapted_videomae, load_videomae
from perception.checkpoints import sinusoid_table
from perception.position_table import TABLE_KEY
from tests.conftest import TINY_VIDEOMAE

TINY = dict(
    TINY_VIDEOMAE,
    num_frames=4,
    layer_norm_eps=1e-6,  # the original code's value (what original-layout files get by default)
)


def _hf_model(seed: int = 0, **overrides) -> VideoMAEModel:
    """A tiny VideoMAE with every tensor random (biases and norms included, so swapping any two
    of them changes the output)."""
    torch.manual_seed(seed)
    model = VideoMAEModel(VideoMAEConfig(**{**TINY, **overrides})).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn_like(param) * 0.2 + (1.0 if param.dim() == 1 else 0.0) * 0.1)
    return model


def _to_original(model: VideoMAEModel) -> dict[str, torch.Tensor]:
    """The same weights in the original VideoMAE code's layout (fine-tuned checkpoint: with a
    classifier head and fc_norm, which the loader must ignore)."""
    hf = {k: v.clone() for k, v in model.state_dict().items()}
    out = {
        "patch_embed.proj.weight": hf["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf["embeddings.patch_embeddings.projection.bias"],
    }
    for i in range(model.config.num_hidden_layers):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        att = src + "attention.attention."
        out[dst + "attn.qkv.weight"] = torch.cat(
            [hf[att + "query.weight"], hf[att + "key.weight"], hf[att + "value.weight"]]
        )
        out[dst + "attn.q_bias"] = hf[att + "query.bias"]
        out[dst + "attn.v_bias"] = hf[att + "value.bias"]
        for theirs, ours in (
            ("attn.proj", "attention.output.dense"),
            ("norm1", "layernorm_before"),
            ("norm2", "layernorm_after"),
            ("mlp.fc1", "intermediate.dense"),
            ("mlp.fc2", "output.dense"),
        ):
            for kind in ("weight", "bias"):
                out[f"{dst}{theirs}.{kind}"] = hf[f"{src}{ours}.{kind}"]
    if "layernorm.weight" in hf:
        out["norm.weight"], out["norm.bias"] = hf["layernorm.weight"], hf["layernorm.bias"]
    d = model.config.hidden_size
    out["fc_norm.weight"], out["fc_norm.bias"] = torch.ones(d), torch.zeros(d)
    out["head.weight"], out["head.bias"] = torch.randn(52, d), torch.zeros(52)
    return out


def _clip(seed: int = 5) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(2, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])


def _same_outputs(a: VideoMAEModel, b: VideoMAEModel) -> bool:
    pixels = _clip()
    with torch.no_grad():
        return torch.allclose(a(pixels).last_hidden_state, b(pixels).last_hidden_state, atol=1e-5)


@pytest.mark.parametrize("use_mean_pooling", [True, False])
def test_original_layout_pth_matches_the_hugging_face_copy(tmp_path, use_mean_pooling):
    reference = _hf_model(use_mean_pooling=use_mean_pooling)
    reference.save_pretrained(tmp_path / "hf")
    torch.save({"model": _to_original(reference), "epoch": 3}, tmp_path / "original.pth")

    from_hf = load_videomae(TINY, tmp_path / "hf")
    from_pth = load_videomae(TINY, tmp_path / "original.pth")
    assert _same_outputs(reference, from_hf)
    assert _same_outputs(from_hf, from_pth)
    assert from_pth.config.use_mean_pooling is use_mean_pooling  # decided by the final norm's presence
    assert (from_pth.layernorm is None) is use_mean_pooling
    # and the weights really came from the file: a random model differs
    assert not _same_outputs(from_pth, _hf_model(seed=1, use_mean_pooling=use_mean_pooling))


def test_original_layout_gets_the_original_layer_norm_eps(tmp_path):
    torch.save(_to_original(_hf_model()), tmp_path / "original.pth")
    config = {k: v for k, v in TINY.items() if k != "layer_norm_eps"}
    assert load_videomae(config, tmp_path / "original.pth").config.layer_norm_eps == 1e-6


def test_pretraining_checkpoint_with_encoder_prefix_and_decoder_loads(tmp_path):
    reference = _hf_model(use_mean_pooling=False)
    state = {
        f"encoder.{k}": v for k, v in _to_original(reference).items() if not k.startswith(("head", "fc_"))
    }
    state.update(
        {
            "decoder.blocks.0.attn.qkv.weight": torch.randn(48, 16),
            "encoder_to_decoder.weight": torch.randn(16, 32),
            "mask_token": torch.zeros(1, 1, 16),
        }
    )
    torch.save({"module": state}, tmp_path / "pretrain.pth")
    assert _same_outputs(reference, load_videomae(TINY, tmp_path / "pretrain.pth"))


def test_mmaction_layout_with_backbone_prefix_loads_from_safetensors(tmp_path):
    """mmaction2 / OpenTAD exports: ``backbone.`` prefix, ``patch_embed.projection``, FFN
    ``mlp.layers.0.0`` / ``mlp.layers.1``, a ``cls_head``."""
    reference = _hf_model()
    state = {}
    for key, value in _to_original(reference).items():
        key = key.replace("patch_embed.proj.", "patch_embed.projection.")
        key = key.replace("mlp.fc1.", "mlp.layers.0.0.").replace("mlp.fc2.", "mlp.layers.1.")
        state[f"backbone.{key}"] = value.contiguous()
    state["cls_head.fc_cls.weight"] = torch.randn(52, 32)
    save_file(state, str(tmp_path / "mmaction.safetensors"))
    assert _same_outputs(reference, load_videomae(TINY, tmp_path / "mmaction.safetensors"))


def test_videomae_v2_layer_scale_is_folded_exactly(tmp_path):
    reference = _hf_model()
    state = _to_original(reference)
    torch.manual_seed(3)
    for i in range(TINY["num_hidden_layers"]):
        for gamma, dense in (("gamma_1", "attn.proj"), ("gamma_2", "mlp.fc2")):
            scale = torch.rand(TINY["hidden_size"]) + 0.5
            state[f"blocks.{i}.{gamma}"] = scale
            # x + gamma * (W' h + b') equals the reference's x + W h + b with W' = W / gamma
            state[f"blocks.{i}.{dense}.weight"] = state[f"blocks.{i}.{dense}.weight"] / scale[:, None]
            state[f"blocks.{i}.{dense}.bias"] = state[f"blocks.{i}.{dense}.bias"] / scale
    torch.save(state, tmp_path / "v2.pth")
    assert _same_outputs(reference, load_videomae(TINY, tmp_path / "v2.pth"))


def test_a_fused_qkv_bias_loads_and_its_key_part_changes_nothing(tmp_path):
    """A key bias shifts every attention logit of a query by the same amount, so the softmax
    cancels it: dropping it is exact."""
    reference = _hf_model()
    state = _to_original(reference)
    for i in range(TINY["num_hidden_layers"]):
        q, v = state.pop(f"blocks.{i}.attn.q_bias"), state.pop(f"blocks.{i}.attn.v_bias")
        state[f"blocks.{i}.attn.qkv.bias"] = torch.cat([q, torch.randn_like(q) * 3.0, v])
    torch.save(state, tmp_path / "qkv_bias.pth")
    assert _same_outputs(reference, load_videomae(TINY, tmp_path / "qkv_bias.pth"))


def test_hugging_face_layout_file_with_wrapper_prefix_loads(tmp_path):
    """A single .safetensors of VideoMAEForVideoClassification: ``videomae.`` prefix, a classifier,
    and q_bias / v_bias as save_pretrained writes them."""
    reference = _hf_model()
    state = {}
    for key, value in reference.state_dict().items():
        key = key.replace("attention.attention.query.bias", "attention.attention.q_bias")
        key = key.replace("attention.attention.value.bias", "attention.attention.v_bias")
        state[f"videomae.{key}"] = value.contiguous()
    state["classifier.weight"] = torch.randn(52, 32)
    save_file(state, str(tmp_path / "hf.safetensors"))
    assert _same_outputs(reference, load_videomae(TINY, tmp_path / "hf.safetensors"))


def test_stored_sin_cos_table_is_resized_but_learned_ones_are_an_error(tmp_path):
    """An mmaction2 / OpenTAD export stores its 224 px table (here 2 x 14 x 14 for TINY's 4
    frames): the model gets it resized to the configured 2 x 2 grid, not a rebuilt one."""
    reference = _hf_model()
    state = _to_original(reference)
    state["pos_embed"] = get_sinusoid_encoding_table(2 * 14 * 14, TINY["hidden_size"])  # a 224 px table
    torch.save(state, tmp_path / "fixed.pth")
    loaded = load_videomae(TINY, tmp_path / "fixed.pth")
    table = state["pos_embed"].reshape(2, 14, 14, -1).permute(0, 3, 1, 2).double()
    expected = F.interpolate(table, size=(2, 2), mode="bicubic", align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(1, 8, -1).float()
    assert torch.allclose(loaded.embeddings.position_embeddings, expected, atol=1e-6)
    weights = {k: v for k, v in loaded.state_dict().items() if k != TABLE_KEY}
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in weights.items())
    state["pos_embed"] = torch.randn(1, 392, TINY["hidden_size"]) * 0.02
    torch.save(state, tmp_path / "learned.pth")
    with pytest.raises(ValueError, match="learned position embeddings"):
        load_videomae(TINY, tmp_path / "learned.pth")


def test_our_sin_cos_table_is_videomaes():
    assert torch.allclose(sinusoid_table(100, 32), get_sinusoid_encoding_table(100, 32), atol=1e-6)


def test_hugging_face_directory_at_another_resolution_loads_at_the_configured_one(tmp_path):
    reference = _hf_model(image_size=48)  # e.g. a 224 px checkpoint run at 160 px
    reference.save_pretrained(tmp_path / "hf48")
    loaded = load_videomae(TINY, tmp_path / "hf48")
    assert loaded.config.image_size == 32
    ref = {k: v for k, v in reference.state_dict().items()}
    weights = {k: v for k, v in loaded.state_dict().items() if k != TABLE_KEY}
    assert weights.keys() == ref.keys()
    assert all(torch.equal(v, ref[k]) for k, v in weights.items())
    # the table: resized from the checkpoint's 3x3 grid (tests/perception/test_position_table.py)
    assert not torch.allclose(loaded.embeddings.position_embeddings, sinusoid_table(8, 32), atol=1e-2)


def test_configured_training_fields_win_over_the_directorys_config_json(tmp_path):
    """model.backbone.config.hidden_dropout_prob=0.1 must reach the model even when the weights
    come from a directory whose config.json says 0.0 (it was silently dropped once)."""
    _hf_model().save_pretrained(tmp_path / "hf")
    loaded = load_videomae(
        {**TINY, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.2}, tmp_path / "hf"
    )
    assert loaded.config.hidden_dropout_prob == 0.1 and loaded.config.attention_probs_dropout_prob == 0.2
    loaded.train()
    clip = _clip()
    assert not torch.equal(loaded(clip).last_hidden_state, loaded(clip).last_hidden_state)  # dropout acts
    assert load_videomae(TINY, tmp_path / "hf").config.hidden_dropout_prob == 0.0


def test_hugging_face_directory_with_another_architecture_is_an_error(tmp_path):
    _hf_model(hidden_size=48, intermediate_size=96).save_pretrained(tmp_path / "wide")
    with pytest.raises(ValueError, match="architecture differs.*hidden_size"):
        load_videomae(TINY, tmp_path / "wide")


def test_original_layout_with_another_architecture_names_the_shapes(tmp_path):
    torch.save(_to_original(_hf_model()), tmp_path / "original.pth")
    with pytest.raises(ValueError, match="of another shape.*patch_embeddings"):
        load_videomae({**TINY, "hidden_size": 64, "intermediate_size": 128}, tmp_path / "original.pth")


def test_missing_and_unknown_keys_are_listed(tmp_path):
    state = _to_original(_hf_model())
    del state["blocks.1.mlp.fc1.weight"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"1 missing.*encoder\.layer\.1\.intermediate\.dense\.weight"):
        load_videomae(TINY, tmp_path / "missing.pth")
    state = _to_original(_hf_model())
    state["blocks.0.attn.relative_position_bias_table"] = torch.zeros(3, 2)
    torch.save(state, tmp_path / "unknown.pth")
    with pytest.raises(ValueError, match="relative_position_bias_table"):
        load_videomae(TINY, tmp_path / "unknown.pth")


def test_not_a_videomae_file_is_an_error(tmp_path):
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "resnet.pth")
    with pytest.raises(ValueError, match="not a VideoMAE state dict"):
        load_videomae(TINY, tmp_path / "resnet.pth")


class NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"model": _to_original(_hf_model()), "extra": NotATensor()}, tmp_path / "unsafe.pth")
    with pytest.raises(RuntimeError, match="weights_only"):
        load_videomae(TINY, tmp_path / "unsafe.pth")


@pytest.mark.parametrize("name", ["videomae_s.pth", "videomae_s.safetensors", "hf_dir"])
def test_missing_weights_name_the_expected_path(tmp_path, name):
    missing = tmp_path / name
    with pytest.raises(MissingCheckpointError, match=str(missing)):
        load_videomae(TINY, missing)


def test_directory_without_weights_names_the_files_it_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingCheckpointError, match="config.json.*model.safetensors"):
        load_videomae(TINY, tmp_path / "empty")


def test_backbone_builder_takes_a_checkpoint_file(tmp_path):
    reference = _hf_model()
    torch.save(_to_original(reference), tmp_path / "original.pth")
    backbone = build_adapted_videomae(TINY, pretrained=str(tmp_path / "original.pth"))
    weights = {k: v for k, v in backbone.encoder.state_dict().items() if k != TABLE_KEY}
    assert weights.keys() == reference.state_dict().keys()
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in weights.items())
    # trained at the configured size (nothing says otherwise): the table as built
    assert torch.equal(backbone.encoder.embeddings.position_embeddings, sinusoid_table(8, 32))
