"""Both pyramid + head kinds (configs/head/): a video's scores never depend on its batch."""

from __future__ import annotations

import functools

import pytest
import torch

from detection.data.cues import RGBCue
from detection.model.detector import build_detector
from detection.model.head import DetectionHead, MaskedGroupNorm, TemporalPyramid
from detection.model.transformer_neck import TransformerPyramid, masked_max_pool
from perception.adapters import DSTAdapter
from perception.backbone import build_adapted_videomae
from tests.conftest import TINY_VIDEOMAE

KINDS = {
    "conv": (functools.partial(TemporalPyramid), functools.partial(DetectionHead, norm="group")),
    "transformer": (
        functools.partial(TransformerPyramid, heads=4, path_drop=0.1, proj_drop=0.1),
        functools.partial(DetectionHead, norm="layer"),
    ),
    "transformer_local": (
        functools.partial(TransformerPyramid, heads=4, window=5),
        functools.partial(DetectionHead, norm="layer"),
    ),
}


def _head(kind: str, in_dim: int = 24, dim: int = 32, levels: int = 4):
    torch.manual_seed(0)
    neck, head = KINDS[kind]
    pyramid, head = neck(in_dim, dim, levels), head(dim, 52, levels)
    for module in (pyramid, head):
        for parameter in module.parameters():  # drop-path scales start at 1e-4: make every branch count
            if parameter.dim() == 3 and parameter.shape[0] == 1 and parameter.shape[2] == 1:
                torch.nn.init.constant_(parameter, 0.5)
    return pyramid.eval(), head.eval()


def _scores(pyramid, head, videos: list[torch.Tensor], padded: int) -> list[torch.Tensor]:
    """Each video's (scores, distances) at its real points, run as one padded batch."""
    x = torch.zeros(len(videos), videos[0].shape[0], padded)
    mask = torch.zeros(len(videos), 1, padded)
    for i, video in enumerate(videos):
        x[i, :, : video.shape[-1]] = video
        mask[i, :, : video.shape[-1]] = 1
    with torch.no_grad():
        logits, offsets = head(*pyramid(x, mask))
        _, masks = pyramid(x, mask)
    valid = torch.cat([m[:, 0] for m in masks], dim=1) > 0
    out = torch.cat([torch.cat(logits, 1).sigmoid(), torch.cat(offsets, 1)], dim=-1)
    return [out[i][valid[i]] for i in range(len(videos))]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("steps", [20, 32])  # 32 = exactly its padded length: the edge is real
def test_a_video_scores_the_same_alone_and_batched_with_a_longer_one(kind, steps):
    pyramid, head = _head(kind)
    torch.manual_seed(1)
    video, longer = torch.randn(24, steps) * 3 + 1, torch.randn(24, 60) * 5 - 2
    (alone,) = _scores(pyramid, head, [video], 32)
    batched, _ = _scores(pyramid, head, [video, longer], 64)
    assert alone.shape == batched.shape and alone.shape[0] > 0
    assert torch.allclose(alone, batched, atol=1e-5, rtol=0)
    assert alone[:, :-2].std() > 1e-3  # the scores vary: the comparison is not between constants


def test_the_whole_detector_scores_a_video_the_same_alone_and_batched():
    torch.manual_seed(0)
    backbone = build_adapted_videomae(TINY_VIDEOMAE, adapter=functools.partial(DSTAdapter))
    neck, head = KINDS["transformer"]
    model = build_detector(
        backbone,
        {"rgb": RGBCue()},
        dim=32,
        levels=4,
        regression_ranges=[[0, 4], [4, 8], [8, 16], [16, 10000]],
        neck=neck,
        head=head,
    ).eval()
    videos = [torch.randint(0, 255, (t, 32, 32, 3), dtype=torch.uint8) for t in (16, 80)]
    masks = torch.zeros(2, 64, dtype=torch.bool)
    masks[0, :8], masks[1, :40] = True, True
    with torch.no_grad():
        alone, _, _, valid_alone = model({"rgb": videos[:1]}, masks[:1, :32])
        batched, _, _, valid = model({"rgb": videos}, masks)
    alone, batched = torch.cat(alone, 1)[0][valid_alone[0]], torch.cat(batched, 1)[0][valid[0]]
    assert torch.allclose(alone.sigmoid(), batched.sigmoid(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_head_runs_all_levels_at_once_exactly_as_one_at_a_time(kind):
    """Levels share each convolution call; a gap too narrow, or norm statistics pooled across
    levels, would leak one level into another and break this equality."""
    pyramid, head = _head(kind)
    for i, scale in enumerate(head.scales):
        torch.nn.init.constant_(scale.scale, 1.0 + i)  # levels differ after the shared branches too
    torch.manual_seed(2)
    x, mask = torch.randn(2, 24, 48) * 4 + 3, torch.ones(2, 1, 48)
    mask[1, :, 30:] = 0
    with torch.no_grad():
        feats, masks = pyramid(x, mask)
        feats = [f + 10.0 * level for level, f in enumerate(feats)]  # levels of different scales
        batched = head(feats, masks)
        reference = head.forward_per_level(feats, masks)
    for got, want in zip(batched, reference, strict=True):
        assert [g.shape for g in got] == [w.shape for w in want]
        for g, w in zip(got, want, strict=True):
            assert torch.allclose(g, w, atol=1e-5, rtol=1e-5), (g - w).abs().max()
    assert torch.cat(reference[0], 1).std() > 1e-2
    head.batch_levels = False  # the option runs the reference loop itself
    with torch.no_grad():
        unbatched = head(feats, masks)
    pairs = zip(unbatched[0] + unbatched[1], reference[0] + reference[1], strict=True)
    assert all(torch.equal(u, r) for u, r in pairs)


def test_segmented_group_norm_normalises_each_segment_alone():
    torch.manual_seed(0)
    norm = MaskedGroupNorm(1, 4)
    a, b = torch.randn(1, 4, 5) * 3 + 7, torch.randn(1, 4, 3) - 5
    x = torch.cat([a, torch.zeros(1, 4, 1), b], dim=-1)
    mask = torch.ones(1, 1, 9)
    mask[..., 5] = 0
    segments = torch.zeros(9, 2)
    segments[:5, 0], segments[6:, 1] = 1, 1
    out = norm(x, mask, segments)
    assert torch.allclose(out[..., :5], norm(a, torch.ones(1, 1, 5)), atol=1e-5)
    assert torch.allclose(out[..., 6:], norm(b, torch.ones(1, 1, 3)), atol=1e-5)
    assert out[..., 5].abs().max() == 0


def test_plain_group_norm_would_see_the_padding():
    """Why the conv pyramid masks its GroupNorm: the unmasked one changes with padding."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 10)
    norm = MaskedGroupNorm(1, 8)
    short, long = torch.ones(1, 1, 16), torch.ones(1, 1, 32)
    short[..., 10:] = 0
    long[..., 10:] = 0
    pad = lambda t, n: torch.nn.functional.pad(t, (0, n - 10))  # noqa: E731
    masked = [norm(pad(x, n), m)[..., :10] for n, m in ((16, short), (32, long))]
    plain = [torch.nn.GroupNorm(1, 8)(pad(x, n))[..., :10] for n in (16, 32)]
    assert torch.allclose(masked[0], masked[1], atol=1e-6)
    assert not torch.allclose(plain[0], plain[1], atol=1e-3)


def test_masked_max_pool_ignores_padding_and_zeroes_it():
    x = torch.tensor([[[-3.0, -2.0, -1.0, 0.0, 0.0, 0.0]]])
    mask = torch.tensor([[[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]])
    # the window of step 2 holds steps 1, 2 and the padded 3: -1, not the padding's 0
    assert masked_max_pool(x, mask, 2).tolist() == [[[-2.0, -1.0, 0.0]]]


def test_transformer_pyramid_has_the_reference_shape():
    pyramid = TransformerPyramid(16, 32, levels=6)
    assert (len(pyramid.embed), len(pyramid.stem), len(pyramid.branch)) == (2, 2, 5)  # arch (2, 2, 5)
    feats, masks = pyramid(torch.randn(2, 16, 64), torch.ones(2, 1, 64))
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4, 2]
    assert all(f.shape[1] == 32 for f in feats) and len(masks) == 6
