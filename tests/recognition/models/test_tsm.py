import numpy as np
import pytest
import torch
from torch import nn

from perception.checkpoints import MissingCheckpointError
from recognition.models.tsm import SEGate, ShiftConv, build_tsm_resnet, temporal_shift

TINY = dict(depth=18, width=0.25, layers=(1, 1, 1, 1))


def test_shift_moves_one_eighth_each_way_with_zero_ends():
    # 2 clips x 4 segments, 8 channels, 1x1 maps; value = 100 * clip + 10 * t + c + 1 (never 0)
    clips, segments, channels = 2, 4, 8
    x = torch.tensor(
        [
            [[100 * n + 10 * t + c + 1 for c in range(channels)] for t in range(segments)]
            for n in range(clips)
        ],
        dtype=torch.float32,
    ).view(clips * segments, channels, 1, 1)
    out = temporal_shift(x, segments, shift_div=8).view(clips, segments, channels)
    x = x.view(clips, segments, channels)
    for n in range(clips):
        for t in range(segments):
            # channel 0 (first 1/8): frame t takes frame t+1; the last frame gets zeros
            assert out[n, t, 0] == (x[n, t + 1, 0] if t + 1 < segments else 0)
            # channel 1 (second 1/8): frame t takes frame t-1; the first frame gets zeros
            assert out[n, t, 1] == (x[n, t - 1, 1] if t > 0 else 0)
            torch.testing.assert_close(out[n, t, 2:], x[n, t, 2:])  # 3/4 untouched
    assert out[0, 3, 0] == 0 and out[1, 0, 1] == 0  # nothing leaks across clips


def _identity_conv(channels):
    conv = nn.Conv2d(channels, channels, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels)[:, :, None, None])
    return conv


def test_se_gate_scales_each_frame_before_the_shift():
    torch.manual_seed(0)
    segments, channels = 4, 8
    module = ShiftConv(_identity_conv(channels), segments, shift_div=8, se_gate=True)
    x = torch.rand(segments, channels, 2, 2) * torch.arange(1, segments + 1.0)[:, None, None, None]
    out = module(x)

    w1 = module.gate.fc[0].weight.detach().numpy()
    w2 = module.gate.fc[2].weight.detach().numpy()
    xs = x.numpy()
    gate = 1 / (1 + np.exp(-(w2 @ np.maximum(w1 @ xs.mean(axis=(2, 3)).T, 0)).T))  # (T, C), per frame
    gated = xs * gate[:, :, None, None]
    expected = gated.copy()  # reference: gate first, then shift channel 0 back and channel 1 forward
    expected[:-1, 0], expected[-1, 0] = gated[1:, 0], 0
    expected[1:, 1], expected[0, 1] = gated[:-1, 1], 0
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-6)

    # the other order (shift, then gate on the shifted tensor) is measurably different
    shifted = temporal_shift(x, segments, 8)
    after = (shifted * module.gate.fc(shifted.mean(dim=(2, 3)))[:, :, None, None]).detach().numpy()
    assert np.abs(after - expected).max() > 1e-3


def test_se_gate_has_no_biases_and_a_quarter_width():
    gate = SEGate(64)
    assert [tuple(p.shape) for p in gate.parameters()] == [(16, 64), (64, 16)]


def test_backbone_wraps_conv1_of_every_block_and_keeps_the_shortcut():
    model = build_tsm_resnet(**TINY, se_gate=True)
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            assert isinstance(block.conv1, ShiftConv) and isinstance(block.conv1.gate, SEGate)
            assert not isinstance(block.conv2, ShiftConv)
            if block.downsample is not None:
                assert not any(isinstance(m, ShiftConv) for m in block.downsample.modules())
    plain = build_tsm_resnet(**TINY, se_gate=False)
    assert isinstance(plain.layer1[0].conv1.gate, nn.Identity)
    assert model.stage_channels == (16, 32, 64, 128) and model.num_features == 128


def test_resnet101_shifts_every_other_block():
    model = build_tsm_resnet(101, width=0.125, num_segments=4)
    shifted = [isinstance(b.conv1, ShiftConv) for b in model.layer3]
    assert len(shifted) == 23 and shifted == [i % 2 == 0 for i in range(23)]
    assert [isinstance(b.conv1, ShiftConv) for b in model.layer1] == [True, False, True]


def test_information_travels_one_segment_per_shifted_block_and_stays_in_its_clip():
    torch.manual_seed(0)
    model = build_tsm_resnet(**TINY, num_segments=8).eval()  # 4 shifted blocks
    for module in model.modules():  # timm starts residual branches at zero (zero_init_last): undo
        if isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
    x = torch.randn(16, 3, 32, 32)
    y = x.clone()
    y[0] += 1.0  # perturb frame 0 of clip 0
    with torch.no_grad():
        changed = (model(x) - model(y)).abs().flatten(1).amax(dim=1)
    assert (changed[:5] > 1e-6).all()  # frames 0..4 of clip 0 feel it
    assert (changed[5:8] == 0).all()  # frames 5..7 are out of reach of 4 shifts
    assert (changed[8:] == 0).all()  # clip 1 never sees clip 0


def test_imagenet_weights_load_by_path_only(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(reference, tmp_path / "resnet18.pth")
    model = build_tsm_resnet(18, pretrained=tmp_path / "resnet18.pth")
    torch.testing.assert_close(model.layer1[0].conv1.conv.weight, reference["layer1.0.conv1.weight"])
    torch.testing.assert_close(model.stem[0].weight, reference["conv1.weight"])
    torch.testing.assert_close(model.layer4[1].bn2.running_var, reference["layer4.1.bn2.running_var"])
    with pytest.raises(MissingCheckpointError, match="nowhere.pth"):
        build_tsm_resnet(18, pretrained=tmp_path / "nowhere.pth")
    with pytest.raises(ValueError, match="resnet18.pth: weights do not fit"):
        build_tsm_resnet(18, width=0.5, pretrained=tmp_path / "resnet18.pth")
    with pytest.raises(ValueError, match="resnet18.pth: not a ResNet state dict"):
        build_tsm_resnet(34, pretrained=tmp_path / "resnet18.pth")
