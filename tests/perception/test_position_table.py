"""Position tables carried to another input size: resizing is AdaTAD's bicubic per time slice,
is faithful where a resize can be, and is what a checkpoint loaded at another resolution uses.

Expected tables are computed here with ``F.interpolate`` spelled out, not through
perception.position_table, so a wrong resize shows up as a mismatch.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import VideoMAEConfig, VideoMAEModel

from perception.backbone import build_adapted_videomae, load_videomae
from perception.position_table import (
    TABLE_KEY,
    grid_of_table,
    mean_token_cosine,
    resize_table,
    sinusoid_table,
    token_grid,
)
from tests.conftest import TINY_VIDEOMAE

DIM = 384  # VideoMAE-S's width: the numbers quoted in perception/position_table.py are for it
G224, G160 = (8, 14, 14), (8, 10, 10)


def _bicubic(table: torch.Tensor, source, target) -> torch.Tensor:
    """The reference resize: (t, h, w, d) -> per time slice bicubic, align_corners=False."""
    t, h, w = source
    x = table.reshape(t, h, w, -1).permute(0, 3, 1, 2).double()
    x = F.interpolate(x, size=target[1:], mode="bicubic", align_corners=False)
    return x.permute(0, 2, 3, 1).reshape(1, -1, table.shape[-1]).float()


def _token_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a[0], b[0], dim=-1)


def test_resize_is_bicubic_per_time_slice():
    table = sinusoid_table(8 * 14 * 14, DIM)
    resized = resize_table(table, G224, G160)
    assert resized.shape == (1, 800, DIM)
    assert torch.allclose(resized, _bicubic(table, G224, G160), atol=1e-6)
    # time slices do not mix: changing slice 3 changes only slice 3 of the result
    changed = table.clone().reshape(8, 196, DIM)
    changed[3] += 1.0
    diff = (resize_table(changed.reshape(1, -1, DIM), G224, G160) - resized).abs().reshape(8, 100, DIM)
    assert diff[3].min() > 0.5 and diff[[0, 1, 2, 4, 5, 6, 7]].max() < 1e-6


def test_resize_to_the_same_grid_is_exactly_the_identity():
    table = sinusoid_table(8 * 10 * 10, DIM)
    assert torch.equal(resize_table(table, G160, G160), table)


def test_round_trips_are_near_identity_where_a_resize_can_be():
    """160 -> 224 -> 160 loses nothing a 10-row grid holds: every token's cosine >= 0.997
    (measured 0.9973 min, 0.9989 mean). 224 -> 160 -> 224 must drop the fastest channels (up to
    14 radians per row of the 224 grid): mean cosine 0.948; the channels that turn by under half a
    radian per row (244 of 384) come back with cosine >= 0.9997 and error <= 0.07."""
    p160 = sinusoid_table(800, DIM)
    there_and_back = resize_table(resize_table(p160, G160, G224), G224, G160)
    assert _token_cosines(there_and_back, p160).min() >= 0.997

    p224 = sinusoid_table(8 * 196, DIM)
    back = resize_table(resize_table(p224, G224, G160), G160, G224)
    assert mean_token_cosine(back, p224) >= 0.94
    rate = torch.pow(10000.0, 2 * (torch.arange(DIM) // 2).double() / DIM)
    smooth = 14 / rate < 0.5  # radians per row of the 224 grid
    assert int(smooth.sum()) == 244
    assert _token_cosines(back[..., smooth], p224[..., smooth]).min() >= 0.9997
    assert (back[..., smooth] - p224[..., smooth]).abs().max() <= 0.07


def test_a_rebuilt_table_is_far_from_the_resized_pretrained_one():
    """What loading did before: a new 1-D table for the 8x10x10 grid. Mean cosine with the
    pretrained table resized to that grid: 0.334 (the number the issue quotes as 0.33)."""
    resized = resize_table(sinusoid_table(8 * 196, DIM), G224, G160)
    rebuilt = sinusoid_table(800, DIM)
    assert mean_token_cosine(rebuilt, resized) == pytest.approx(0.3336, abs=1e-3)


def test_frame_count_changes_interpolate_linearly_over_time():
    table = sinusoid_table(4 * 3 * 3, 8)
    resized = resize_table(table, (4, 3, 3), (2, 3, 3))
    seq = table.reshape(4, 9, 8).permute(1, 2, 0).double()  # (positions, channels, time)
    expected = F.interpolate(seq, size=2, mode="linear", align_corners=False).permute(2, 0, 1)
    assert torch.allclose(resized.reshape(2, 9, 8), expected.float(), atol=1e-6)


def test_a_table_that_is_no_square_grid_is_an_error():
    with pytest.raises(ValueError, match="square token grid"):
        grid_of_table(8 * 12, 8)
    assert grid_of_table(8 * 196, 8) == G224


# --------------------------------------------------------------------------- in the model


TINY = dict(TINY_VIDEOMAE, num_frames=4)  # grid (2, 2, 2) at 32 px


def _model(**overrides) -> VideoMAEModel:
    torch.manual_seed(0)
    return VideoMAEModel(VideoMAEConfig(**{**TINY, **overrides})).eval()


def _with_table(weights: VideoMAEModel, table: torch.Tensor) -> VideoMAEModel:
    """A plain transformers model at TINY's size with ``weights`` and ``table`` (set the way
    transformers itself holds it), for the expected outputs."""
    model = VideoMAEModel(VideoMAEConfig(**TINY)).eval()
    state = {k: v for k, v in weights.state_dict().items() if k != TABLE_KEY}
    model.load_state_dict(state)
    model.embeddings.position_embeddings = table
    return model


def test_a_checkpoint_made_at_a_larger_size_loads_with_its_table_resized(tmp_path):
    reference = _model(image_size=48)  # trained on a 3x3 grid, run on 2x2
    reference.save_pretrained(tmp_path / "hf48")
    loaded = load_videomae(TINY, tmp_path / "hf48")
    native = sinusoid_table(2 * 3 * 3, TINY["hidden_size"])
    expected = _bicubic(native, (2, 3, 3), (2, 2, 2))
    table = loaded.embeddings.position_embeddings
    assert torch.allclose(table, expected, atol=1e-6)
    assert not torch.allclose(table, sinusoid_table(8, TINY["hidden_size"]), atol=1e-2)  # not rebuilt
    assert TABLE_KEY in loaded.state_dict()  # a buffer: detector checkpoints carry it
    # and the forward pass adds it
    pixels = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        ours = loaded(pixels).last_hidden_state
        theirs = _with_table(reference, expected)(pixels).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_original_file_without_a_table_uses_the_declared_native_size(tmp_path):
    """The original VideoMAE code does not save its table: pretrained_image_size says the grid."""
    from safetensors.torch import save_file

    reference = _model(image_size=48)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    save_file(state, str(tmp_path / "hf_layout.safetensors"))  # weights only, no config
    declared = load_videomae(TINY, tmp_path / "hf_layout.safetensors", pretrained_image_size=48)
    expected = _bicubic(sinusoid_table(18, TINY["hidden_size"]), (2, 3, 3), (2, 2, 2))
    assert torch.allclose(declared.embeddings.position_embeddings, expected, atol=1e-6)
    undeclared = load_videomae(TINY, tmp_path / "hf_layout.safetensors")  # nothing says: as configured
    assert torch.equal(undeclared.embeddings.position_embeddings, sinusoid_table(8, TINY["hidden_size"]))


def test_a_stored_table_wins_and_survives_a_save_and_load(tmp_path):
    """A model saved with its (resized) table reloads with exactly that table, whatever the
    declared native size says."""
    reference = _model(image_size=48)
    reference.save_pretrained(tmp_path / "hf48")
    loaded = load_videomae(TINY, tmp_path / "hf48")
    loaded.save_pretrained(tmp_path / "hf32")
    again = load_videomae(TINY, tmp_path / "hf32", pretrained_image_size=224)
    assert torch.equal(again.embeddings.position_embeddings, loaded.embeddings.position_embeddings)


def test_detector_state_carries_the_table_and_old_checkpoints_still_load(tmp_path):
    reference = _model(image_size=48)
    reference.save_pretrained(tmp_path / "hf48")
    backbone = build_adapted_videomae(TINY, pretrained=str(tmp_path / "hf48"))
    state = backbone.state_dict()
    key = f"encoder.{TABLE_KEY}"
    rebuilt = build_adapted_videomae(TINY)  # e.g. a predictor rebuilt without the checkpoint file
    assert not torch.equal(rebuilt.encoder.embeddings.position_embeddings, state[key])
    rebuilt.load_state_dict(state)
    assert torch.equal(rebuilt.encoder.embeddings.position_embeddings, state[key])
    old = {k: v for k, v in state.items() if k != key}  # written before the table was a buffer
    fresh = build_adapted_videomae(TINY)
    before = fresh.encoder.embeddings.position_embeddings.clone()
    fresh.load_state_dict(old)
    assert torch.equal(fresh.encoder.embeddings.position_embeddings, before)


def test_random_backbones_hold_their_own_grid_table():
    model = load_videomae(TINY)
    assert token_grid(model.config) == (2, 2, 2)
    assert torch.equal(model.embeddings.position_embeddings, sinusoid_table(8, TINY["hidden_size"]))
