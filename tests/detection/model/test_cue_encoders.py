"""Flow and skeleton encoders: time axis aligned with the backbone, masking, fusion."""

from __future__ import annotations

import functools

import pytest
import torch

from detection.data.cues import FlowCue, RGBCue, SkeletonCue
from detection.model.cue_encoders import FlowEncoder, SkeletonEncoder, frames_to_steps
from detection.model.fusion import ConcatFusion, GatedFusion, LateFusion
from perception.flow import FlowConfig
from perception.skeleton import SkeletonConfig


def test_frames_to_steps_averages_each_tubelet_including_a_short_last_one():
    x = torch.arange(5, dtype=torch.float32).reshape(1, 1, 5)  # frames 0..4, tubelet 2
    assert frames_to_steps(x, 2).tolist() == [[[0.5, 2.5, 4.0]]]


def test_flow_encoder_gives_one_feature_per_backbone_step():
    encoder = FlowEncoder(step_frames=2, dim=16, channels=(4, 8), grid=2)
    out = encoder(torch.randn(1, 37, 32, 32, 2))
    assert out.shape == (1, 16, 19)


def test_flow_encoder_output_depends_on_where_the_motion_is():
    torch.manual_seed(0)
    encoder = FlowEncoder(step_frames=2, dim=16, channels=(4, 8), grid=2).eval()
    left, right = torch.zeros(1, 4, 32, 32, 2), torch.zeros(1, 4, 32, 32, 2)
    left[:, :, :, :8, 0] = 1.0
    right[:, :, :, -8:, 0] = 1.0
    assert not torch.allclose(encoder(left), encoder(right), atol=1e-4)


def skeleton_input(frames: int, present: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(1)
    coords = torch.randn(1, frames, 33, 3) * 0.05
    flag = present.float().reshape(1, frames, 1, 1).expand(1, frames, 33, 1)
    return torch.cat([coords * flag, flag], dim=-1)


def test_skeleton_encoder_ignores_coordinates_of_absent_frames():
    torch.manual_seed(0)
    encoder = SkeletonEncoder(step_frames=2, dim=16, hidden=32)
    present = torch.ones(12, dtype=torch.bool)
    present[4:7] = False
    x = skeleton_input(12, present)
    encoder.train()
    encoder(x)  # fill BatchNorm statistics
    encoder.eval()
    garbage = x.clone()
    garbage[:, 4:7, :, :3] = 123.0  # whatever an absent frame holds must not matter
    reference, out = encoder(x), encoder(garbage)
    assert out.shape == (1, 16, 6)
    torch.testing.assert_close(out, reference)


def test_skeleton_encoder_sees_a_joint_moving():
    encoder = SkeletonEncoder(step_frames=2, dim=16, hidden=32).eval()
    still = skeleton_input(12, torch.ones(12, dtype=torch.bool))
    moving = still.clone()
    moving[:, 6:, 0, 0] += 0.2  # the nose moves right half-way through
    assert not torch.allclose(encoder(still), encoder(moving), atol=1e-5)


def test_skeleton_encoder_trains_on_a_video_with_a_single_present_frame():
    encoder = SkeletonEncoder(step_frames=2, dim=8, hidden=16).train()
    present = torch.zeros(6, dtype=torch.bool)
    present[2] = True
    assert torch.isfinite(encoder(skeleton_input(6, present))).all()


def test_fusions_give_the_declared_branch_widths():
    streams = {"rgb": torch.randn(2, 6, 10), "flow": torch.randn(2, 4, 10)}
    widths = {name: x.shape[1] for name, x in streams.items()}
    concat = ConcatFusion(widths)
    assert {k: v.shape for k, v in concat(streams).items()} == {"fused": (2, 10, 10)}
    assert concat.branch_dims == {"fused": 10}
    gated = GatedFusion(widths, dim=8)
    assert gated(streams)["fused"].shape == (2, 8, 10) and gated.branch_dims == {"fused": 8}
    late = LateFusion(widths)
    assert late.branch_dims == widths and late(streams).keys() == {"rgb", "flow"}


def test_gated_fusion_can_turn_a_stream_off():
    widths = {"a": 3, "b": 3}
    gated = GatedFusion(widths, dim=4)
    with torch.no_grad():
        gated.gate.weight.zero_()
        gated.gate.bias.copy_(torch.tensor([30.0, -30.0]))  # gate a fully open, b closed
    a, b = torch.randn(1, 3, 5), torch.randn(1, 3, 5)
    expected = gated.project["a"](a)
    torch.testing.assert_close(gated({"a": a, "b": b})["fused"], expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fusion", ["concat", "gated", "late"])
def test_detector_with_all_cues_trains_every_stream(fusion, tiny_videomae_config):
    from detection.model.detector import build_detector
    from perception.adapters import DSTAdapter
    from perception.backbone import build_adapted_videomae

    torch.manual_seed(0)
    fusions = {
        "concat": functools.partial(ConcatFusion),
        "gated": functools.partial(GatedFusion, dim=16),
        "late": functools.partial(LateFusion),
    }
    model = build_detector(
        build_adapted_videomae(tiny_videomae_config, adapter=functools.partial(DSTAdapter)),
        cues={
            "rgb": RGBCue(),
            "flow": FlowCue(FlowConfig(), functools.partial(FlowEncoder, channels=(4,), grid=2)),
            "skeleton": SkeletonCue(SkeletonConfig(), functools.partial(SkeletonEncoder, hidden=16)),
        },
        cue_dim=8,
        fusion=fusions[fusion],
        dim=16,
        levels=3,
        regression_ranges=[[0, 4], [4, 8], [8, 10000]],
    )
    assert model.cues == ["rgb", "flow", "skeleton"]
    frames = [40, 30]
    inputs = {
        "rgb": [torch.randint(0, 255, (t, 32, 32, 3), dtype=torch.uint8) for t in frames],
        "flow": [torch.randn(t, 16, 16, 2) for t in frames],
        "skeleton": [skeleton_input(t, torch.ones(t, dtype=torch.bool))[0] for t in frames],
    }
    mask = torch.zeros(2, 20, dtype=torch.bool)
    mask[0, :20], mask[1, :15] = True, True
    losses = model.loss(
        inputs,
        mask,
        [torch.tensor([[2.0, 9.0]]), torch.tensor([[3.0, 12.0]])],
        [torch.tensor([1]), torch.tensor([4])],
    )
    losses["loss"].backward()
    for cue in ("flow", "skeleton"):
        grads = [p.grad for p in model.streams[cue].parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, cue
    adapter_grads = [p.grad for n, p in model.streams["rgb"].named_parameters() if p.requires_grad]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in adapter_grads)
    assert len(model.heads) == (3 if fusion == "late" else 1)


def test_builder_rejects_a_detector_without_cues(tiny_videomae_config):
    from detection.model.detector import build_detector
    from perception.adapters import DSTAdapter
    from perception.backbone import build_adapted_videomae

    backbone = build_adapted_videomae(tiny_videomae_config, adapter=functools.partial(DSTAdapter))
    with pytest.raises(ValueError, match="at least one cue"):
        build_detector(backbone, cues={})
