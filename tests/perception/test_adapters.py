import pytest
import torch

from perception.adapters import DSTAdapter, TokenGrid


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
    expected = (
        (dim * hidden + hidden) + (2 * hidden * dim + dim) + (hidden * 9 + hidden) + (hidden * 3 + hidden) + 3
    )
    assert sum(p.numel() for p in adapter.parameters()) == expected


def test_even_kernels_are_rejected():
    with pytest.raises(ValueError, match="odd"):
        DSTAdapter(16, spatial_kernel=2)
