import functools

import pytest
import torch
from omegaconf import OmegaConf

from perception.adapters import DSTAdapter, PlainAdapter, TIAdapter, TokenGrid
from perception.adapters.common import over_time
from perception.backbone import build_adapted_videomae
from tests.conftest import REPO_ROOT


def _nonzero_adapter(**kwargs) -> DSTAdapter:
    torch.manual_seed(0)
    adapter = DSTAdapter(16, **kwargs)
    torch.nn.init.normal_(adapter.up.weight, std=0.5)
    return adapter


def test_dsta_is_identity_at_init_and_keeps_shape():
    grid = TokenGrid(batch=2, chunks=3, time=4, height=2, width=3)
    x = torch.randn(grid.batch * grid.chunks, grid.tokens_per_chunk, 16)
    adapter = DSTAdapter(16)
    out = adapter(x, grid)
    assert out.shape == x.shape
    assert torch.equal(out, x)  # zero-initialised up-projection: exactly the identity
    assert torch.count_nonzero(adapter.up.weight) == 0


def test_dsta_changes_features_once_up_projection_is_trained():
    grid = TokenGrid(1, 1, 2, 2, 2)
    x = torch.randn(1, grid.tokens_per_chunk, 16)
    assert not torch.allclose(_nonzero_adapter()(x, grid), x)


def test_temporal_path_crosses_chunk_boundaries():
    """Changing the first time step of chunk 1 must change the last step of chunk 0 (kernel 3),
    and nothing earlier in chunk 0."""
    grid = TokenGrid(batch=1, chunks=2, time=4, height=2, width=2)
    adapter = _nonzero_adapter(spatial_kernel=1).eval()
    x = torch.randn(2, grid.tokens_per_chunk, 16)
    y = x.clone()
    y[1, :4] += 5.0  # chunk 1, time step 0 (4 spatial tokens)
    with torch.no_grad():
        a, b = adapter(x, grid), adapter(y, grid)
    per_step = (a - b).abs().reshape(2, 4, 4, 16).sum(dim=(2, 3))  # (chunk, time)
    assert per_step[0, 3] > 1e-4
    assert torch.all(per_step[0, :3] == 0)


def test_videos_in_a_batch_do_not_mix():
    grid = TokenGrid(batch=2, chunks=1, time=4, height=2, width=2)
    adapter = _nonzero_adapter().eval()
    x = torch.randn(2, grid.tokens_per_chunk, 16)
    y = x.clone()
    y[1] += 3.0
    with torch.no_grad():
        assert torch.equal(adapter(x, grid)[0], adapter(y, grid)[0])


def test_spatial_kernel_one_mixes_no_neighbours_but_three_does():
    grid = TokenGrid(1, 1, 1, 3, 3)
    x = torch.randn(1, 9, 16)
    y = x.clone()
    y[0, 4] += 5.0  # the centre token
    for kernel, neighbour_changes in ((1, False), (3, True)):
        adapter = _nonzero_adapter(spatial_kernel=kernel, temporal_kernel=1).eval()
        with torch.no_grad():
            diff = (adapter(x, grid) - adapter(y, grid)).abs().sum(-1)
        assert bool(diff[0, 0] > 1e-5) is neighbour_changes


def test_dsta_parameter_count_matches_its_equations():
    dim, hidden = 384, 96
    adapter = DSTAdapter(dim, bottleneck_ratio=0.25, spatial_kernel=3, temporal_kernel=3)
    pointwise = 2 * (hidden * hidden + hidden)  # a 1x1 conv after each depthwise conv (the default)
    expected = (
        (dim * hidden + hidden)
        + (2 * hidden * dim + dim)
        + (hidden * 9 + hidden)
        + (hidden * 3 + hidden)
        + pointwise
        + 3
    )
    assert sum(p.numel() for p in adapter.parameters()) == expected
    without = DSTAdapter(dim, pointwise=False)
    assert sum(p.numel() for p in without.parameters()) == expected - pointwise


def test_even_kernels_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        DSTAdapter(16, spatial_kernel=2)


# --------------------------------------------------------------------------- TIA and plain adapters

ADAPTERS = {"dsta": DSTAdapter, "tia": TIAdapter, "plain": PlainAdapter}


def _trained(cls, **kwargs):
    """An adapter whose up-projection is no longer zero, so its paths show in the output."""
    torch.manual_seed(0)
    adapter = cls(16, **kwargs)
    torch.nn.init.normal_(adapter.up.weight, std=0.5)
    return adapter.eval()


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_is_identity_at_init_and_keeps_shape(name):
    grid = TokenGrid(batch=2, chunks=2, time=4, height=2, width=3)
    x = torch.randn(grid.batch * grid.chunks, grid.tokens_per_chunk, 16)
    adapter = ADAPTERS[name](16)
    out = adapter(x, grid)
    assert out.shape == x.shape
    assert torch.equal(out, x)
    assert not torch.allclose(_trained(ADAPTERS[name])(x, grid), x)


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_rejects_a_token_tensor_that_does_not_match_the_grid(name):
    grid = TokenGrid(batch=1, chunks=2, time=4, height=2, width=2)
    with pytest.raises(ValueError, match="does not match"):
        ADAPTERS[name](16)(torch.randn(1, grid.tokens_per_chunk, 16), grid)


def _influence(adapter, grid: TokenGrid, chunk: int, token: int) -> torch.Tensor:
    """|output change| per (chunk, token) when one input token is perturbed."""
    x = torch.randn(grid.batch * grid.chunks, grid.tokens_per_chunk, 16)
    y = x.clone()
    y[chunk, token] += 5.0
    with torch.no_grad():
        return (adapter(x, grid) - adapter(y, grid)).abs().sum(-1)


def test_tia_mixes_over_time_across_chunks_but_not_over_space():
    # (chunk, time, h, w) = (2, 4, 2, 2); perturb chunk 1, time 0, position (0, 0) = token 0
    grid = TokenGrid(batch=1, chunks=2, time=4, height=2, width=2)
    diff = _influence(_trained(TIAdapter), grid, chunk=1, token=0).reshape(2, 4, 4)  # chunk, time, pos
    assert diff[0, 3, 0] > 1e-5  # previous time step, in the previous chunk (kernel 3)
    assert diff[1, 1, 0] > 1e-5  # next time step
    assert torch.all(diff[:, :, 1:] == 0)  # other spatial positions: untouched
    assert torch.all(diff[0, :3] == 0) and torch.all(diff[1, 2:] == 0)  # beyond the kernel


def test_plain_adapter_is_per_token():
    grid = TokenGrid(batch=1, chunks=2, time=4, height=2, width=2)
    diff = _influence(_trained(PlainAdapter), grid, chunk=1, token=5)
    assert diff[1, 5] > 1e-5
    diff[1, 5] = 0
    assert torch.all(diff == 0)


def _temporal_path(adapter: TIAdapter, z: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    out = over_time(z, grid, adapter.temporal_conv)
    return adapter.pointwise(out) if adapter.pointwise is not None else out


def test_tia_pointwise_conv_mixes_channels_of_the_temporal_path():
    """Without the 1x1 conv the temporal path is depthwise: channel c of one step reaches only
    channel c of the next. With it (AdaTAD's code), every channel is reached."""
    grid = TokenGrid(batch=1, chunks=1, time=3, height=1, width=1)
    for pointwise in (False, True):
        adapter = _trained(TIAdapter, pointwise=pointwise)
        z = torch.randn(1, 3, adapter.hidden)
        z2 = z.clone()
        z2[0, 0, 0] += 5.0  # time 0, bottleneck channel 0
        with torch.no_grad():
            change = (_temporal_path(adapter, z, grid) - _temporal_path(adapter, z2, grid)).abs()[0, 1]
        assert change[0] > 1e-6
        assert bool(torch.all(change[1:] > 1e-6)) is pointwise
        assert bool(torch.all(change[1:] == 0)) is not pointwise


def test_tia_and_plain_parameter_counts_match_their_equations():
    dim, hidden = 384, 96
    down, up, dw, pw = (
        dim * hidden + hidden,
        hidden * dim + dim,
        hidden * 3 + hidden,
        hidden * hidden + hidden,
    )

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(PlainAdapter(dim)) == down + up
    assert count(TIAdapter(dim, pointwise=False)) == down + dw + up + 1
    assert count(TIAdapter(dim)) == down + dw + pw + up + 1
    assert count(DSTAdapter(dim)) - count(DSTAdapter(dim, pointwise=False)) == 2 * pw


def test_bad_adapter_options_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        TIAdapter(16, temporal_kernel=4)
    with pytest.raises(ValueError, match="bottleneck_ratio"):
        PlainAdapter(16, bottleneck_ratio=0.0)


# --------------------------------------------------------------------------- VideoMAE-S vs the paper

# the real VideoMAE-S of configs/model/videomae_s.yaml, so the counts below check the shipped config
VIDEOMAE_S = OmegaConf.to_container(
    OmegaConf.load(REPO_ROOT / "configs" / "model" / "videomae_s.yaml").backbone.config
)
MI = 2**20  # the paper's "M": its standard/TIA figures match ours to 3 digits only in units of 2**20

# variant -> (build options, our exact trainable count, paper's figure in M, tolerance in M, why)
PAPER = {
    "plain": (dict(adapter=functools.partial(PlainAdapter)), 890_496, 0.85, 0.005, "exact to rounding"),
    "tia": (dict(adapter=functools.partial(TIAdapter)), 1_006_860, 0.96, 0.005, "exact to rounding"),
    # The paper's DSTA figure cannot be reached from its equations at ratio 0.25: ours gives
    # 1.50 with AdaTAD's 1x1 convs after each depthwise conv (the default, as TIA), 1.29 without
    # (1.28 with the paper's literal 1x1 spatial kernel). 1.80 is about two TIA-sized adapters,
    # e.g. separate down-projections per path (1.81).
    "dsta": (dict(adapter=functools.partial(DSTAdapter)), 1_572_516, 1.80, 0.31, "see comment"),
    # Ours is the encoder alone (20.866); VideoMAE-S's fc_norm + a 52-class linear classifier
    # (the MA-52 recogniser the paper fine-tunes from) add 20,788 and give 20.885 -> 20.89.
    "full": (dict(adapter=None, freeze_backbone=False), 21_879_168, 20.89, 0.03, "head not counted"),
    "frozen": (dict(adapter=None, freeze_backbone=True), 0, 0.0, 0.0, "nothing trains"),
}


@pytest.mark.parametrize("variant", sorted(PAPER))
def test_videomae_s_trainable_parameters_match_the_paper(variant):
    options, exact, paper, tolerance, _why = PAPER[variant]
    with torch.device("meta"):  # counts only: no memory, no initialisation cost
        model = build_adapted_videomae(VIDEOMAE_S, **options)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == exact
    assert abs(trainable / MI - paper) <= tolerance
    assert sum(p.numel() for p in model.encoder.parameters()) == 21_879_168


# --------------------------------------------------------------------------- AdaTAD's init and 1x1 convs


def _std(tensor: torch.Tensor) -> float:
    return float(tensor.detach().float().std())


@pytest.mark.parametrize("name", ["tia", "dsta"])
def test_temporal_adapters_initialise_as_adatad(name):
    """OpenTAD's TIA: W_down ~ N(0, 0.02), depthwise ~ N(0, 2/taps), 1x1 ~ N(0, 2/hidden), zero
    biases, W_up zero, alpha 1. PyTorch's defaults differ clearly on every count: std 0.0295 for
    W_down (384 inputs), 0.333 for a 3-tap depthwise kernel, 0.059 for a 96-wide 1x1 conv, and
    non-zero uniform biases."""
    torch.manual_seed(0)
    adapter = ADAPTERS[name](384)
    assert _std(adapter.down.weight) == pytest.approx(0.02, rel=0.05)  # 36,864 draws
    assert torch.count_nonzero(adapter.down.bias) == 0
    assert torch.count_nonzero(adapter.up.weight) == 0 and torch.count_nonzero(adapter.up.bias) == 0
    assert adapter.alpha.item() == 1.0
    assert _std(adapter.temporal_conv.weight) == pytest.approx((2 / 3) ** 0.5, rel=0.15)  # 288 draws
    assert torch.count_nonzero(adapter.temporal_conv.bias) == 0
    pointwise = (
        [adapter.pointwise] if name == "tia" else [adapter.spatial_pointwise, adapter.temporal_pointwise]
    )
    for conv in pointwise:
        assert _std(conv.weight) == pytest.approx((2 / 96) ** 0.5, rel=0.05)  # 9,216 draws
        assert torch.count_nonzero(conv.bias) == 0
    if name == "dsta":
        assert _std(adapter.spatial_conv.weight) == pytest.approx((2 / 9) ** 0.5, rel=0.1)  # 864 draws
        assert torch.count_nonzero(adapter.spatial_conv.bias) == 0
        assert adapter.beta.item() == adapter.gamma.item() == 1.0


def test_plain_adapter_down_projection_initialises_as_adatad():
    torch.manual_seed(0)
    adapter = PlainAdapter(384)
    assert _std(adapter.down.weight) == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(adapter.down.bias) == 0


def _adapter_config(name: str):
    return OmegaConf.load(REPO_ROOT / "configs" / "adapter" / f"{name}.yaml")


def test_dsta_and_tia_are_built_with_the_same_pointwise_choice():
    """Like with like: the shipped configs and the classes' defaults both put AdaTAD's 1x1 conv
    after every depthwise conv, so DSTA's temporal path is exactly TIA's."""
    from hydra.utils import instantiate

    tia_cfg, dsta_cfg = _adapter_config("tia"), _adapter_config("dsta")
    assert tia_cfg.pointwise is True and dsta_cfg.pointwise is True
    tia, dsta = instantiate(tia_cfg)(384), instantiate(dsta_cfg)(384)
    assert tia.pointwise is not None
    assert dsta.temporal_pointwise is not None and dsta.spatial_pointwise is not None
    assert DSTAdapter(16).temporal_pointwise is not None and TIAdapter(16).pointwise is not None
    # the same temporal path, parameter for parameter
    for ours, theirs in ((dsta.temporal_conv, tia.temporal_conv), (dsta.temporal_pointwise, tia.pointwise)):
        assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]


def test_dsta_temporal_path_computes_what_tia_computes():
    """With TIA's weights copied in and the spatial path silenced (beta = 0), DSTA's output is
    TIA's: the temporal path, its 1x1 conv and the residual are the same computation."""
    torch.manual_seed(0)
    tia = _trained(TIAdapter)
    dsta = DSTAdapter(16, spatial_kernel=1).eval()
    with torch.no_grad():
        dsta.down.load_state_dict(tia.down.state_dict())
        dsta.temporal_conv.load_state_dict(tia.temporal_conv.state_dict())
        dsta.temporal_pointwise.load_state_dict(tia.pointwise.state_dict())
        hidden = tia.hidden
        dsta.up.weight.zero_()
        dsta.up.weight[:, hidden:] = tia.up.weight  # the temporal half of [X_s ; X_t]
        dsta.up.bias.copy_(tia.up.bias)
        dsta.beta.zero_()
    grid = TokenGrid(batch=1, chunks=2, time=4, height=2, width=2)
    x = torch.randn(2, grid.tokens_per_chunk, 16)
    with torch.no_grad():
        assert torch.allclose(dsta(x, grid), tia(x, grid), atol=1e-6)
