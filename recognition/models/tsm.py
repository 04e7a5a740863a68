"""TSM ResNet: a 2D ResNet (timm's classes) that exchanges information between frames by
shifting channels in time, with MANet's optional SE gate before every shift.

Input is (N * T, 3, H, W): the T segments of N clips stacked, as TSN/TSM do, so the 2D
network runs unchanged and only the shift sees time. The shift is *residual* (mmaction2's
``shift_place='blockres'``): it acts on the input of ``conv1`` of a residual block, while
the shortcut keeps the unshifted input. Of C channels, the first ``C // shift_div`` take
the next segment's values (shift backward in time: frame t sees t+1), the next
``C // shift_div`` take the previous segment's (forward: t sees t-1), the rest stay; the
vacated ends are zero, so nothing leaks across clips.

MANet's SE gate (official ``TemporalShift.fcce``): per frame, global average pool ->
Linear C -> C/4 -> ReLU -> Linear C/4 -> C -> sigmoid, no biases; the gate multiplies the
block input *before* it is shifted, so a channel moved to frame t carries the gate computed
on its own frame. As in mmaction2, ResNet-101 and deeper (layer3 with >= 23 blocks) shift
only every other block (``shift_every=2``).

The ResNet comes from ``timm.models.resnet.ResNet`` (its blocks are wrapped, not
re-implemented); its parameter names match torchvision's, so ImageNet weights from either
library load by local path (``pretrained=``) before the blocks are wrapped. Nothing is
downloaded. Tiny CPU variants use timm's ``channels`` / ``stem_width`` arguments (``width``
scales the standard 64-128-256-512 widths) and ``layers`` (fewer blocks per stage).

``center_frames`` (off in the published recipe, on in the synthetic demo's configs) subtracts
each pixel's mean over the clip's T sampled frames before the network sees them, so what
reaches it is how the clip changes, not what it looks like. Why the demo needs it: a tiny
network trained from random weights on 1,300 synthetic clips of subject-disjoint splits
learns each subject's colours, chair and background long before the 1-5 px motions that
carry the class, and stays at the class prior (measured: MANet-tiny at the majority-class
rate with plain frames, well above it with centred ones; README). ImageNet-initialised
backbones on real MA-52 do not need it, and the official models do not use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from perception.checkpoints import MissingCheckpointError, read_state_dict

DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
STANDARD_CHANNELS = (64, 128, 256, 512)
STAGES = ("layer1", "layer2", "layer3", "layer4")


def temporal_shift(x: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """Shift 1/shift_div of the channels one segment backward and 1/shift_div forward."""
    nt, channels, height, width = x.shape
    if nt % num_segments:
        raise ValueError(f"batch of {nt} frames is not a multiple of num_segments={num_segments}")
    x = x.view(nt // num_segments, num_segments, channels, height, width)
    fold = channels // shift_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]  # frame t takes frame t+1's channels
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]  # frame t takes frame t-1's
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
    return out.view(nt, channels, height, width)


class SEGate(nn.Module):
    """Squeeze-and-excitation channel gate per frame, without biases (MANet)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc(x.mean(dim=(2, 3)))
        return x * gate[:, :, None, None]


class ShiftConv(nn.Module):
    """``conv(shift(gate(x)))``: replaces a block's ``conv1`` (residual shift)."""

    def __init__(self, conv: nn.Conv2d, num_segments: int, shift_div: int = 8, se_gate: bool = False) -> None:
        super().__init__()
        self.conv = conv
        self.num_segments, self.shift_div = num_segments, shift_div
        self.gate = SEGate(conv.in_channels) if se_gate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(temporal_shift(self.gate(x), self.num_segments, self.shift_div))


class TSMResNet(nn.Module):
    """A timm ResNet with shifted ``conv1`` in its residual blocks; no pooling, no classifier."""

    def __init__(
        self,
        resnet: ResNet,
        num_segments: int = 8,
        shift_div: int = 8,
        se_gate: bool = False,
        shift_every: int = 1,
        center_frames: bool = False,
    ) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.center_frames = center_frames
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.act1, resnet.maxpool)
        for name in STAGES:
            stage = getattr(resnet, name)
            for index, block in enumerate(stage):
                if index % shift_every == 0:
                    block.conv1 = ShiftConv(block.conv1, num_segments, shift_div, se_gate)
            setattr(self, name, stage)
        self.stage_channels = tuple(info["num_chs"] for info in resnet.feature_info[1:])
        self.stage_strides = tuple(info["reduction"] for info in resnet.feature_info[1:])
        self.num_features = self.stage_channels[-1]

    def forward_stages(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of layer1..layer4 for (N * T, 3, H, W) frames."""
        x = self.stem(frames)
        outputs = []
        for name in STAGES:
            x = getattr(self, name)(x)
            outputs.append(x)
        return outputs

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """The last stage's (N * T, C, h, w) feature map."""
        return self.forward_stages(frames)[-1]


def load_imagenet_weights(resnet: ResNet, path: str | Path) -> None:
    """Load a torchvision or timm ResNet state dict from a local file (never a download).

    The classifier (``fc.*``) is dropped; every other parameter must be present with the
    right shape, otherwise the error names the file and the first mismatches.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpointError(f"ImageNet ResNet weights not found: {path} (nothing is downloaded)")
    state = read_state_dict(path)
    for prefix in ("module.", "backbone.", "model."):
        if all(key.startswith(prefix) for key in state):
            state = {key.removeprefix(prefix): value for key, value in state.items()}
    state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    own = resnet.state_dict()
    wrong = [
        f"{key} {tuple(value.shape)} vs {tuple(own[key].shape)}"
        for key, value in state.items()
        if key in own and own[key].shape != value.shape
    ]
    if wrong:
        raise ValueError(f"{path}: weights do not fit this ResNet (depth/width?): {'; '.join(wrong[:3])}")
    missing, unexpected = resnet.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.startswith("fc.")]
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a ResNet state dict of this depth: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )


def build_tsm_resnet(
    depth: int = 50,
    num_segments: int = 8,
    shift_div: int = 8,
    se_gate: bool = True,
    width: float = 1.0,
    layers: Sequence[int] | None = None,
    output_stride: int = 32,
    shift_every: int | None = None,
    pretrained: str | Path | None = None,
    center_frames: bool = False,
) -> TSMResNet:
    """TSM ResNet-``depth``. ``width`` scales channels (0.25 -> 16-32-64-128) and the stem;
    ``layers`` overrides blocks per stage; ``output_stride`` 16 dilates layer4 (finer maps
    for ROIAlign); ``shift_every`` None = 2 for ResNet-101 and deeper (mmaction2), else 1;
    ``center_frames`` subtracts each clip's mean frame first (module docstring: demo only)."""
    if depth not in DEPTHS:
        raise ValueError(f"unsupported ResNet depth {depth}; valid: {sorted(DEPTHS)}")
    block, default_layers = DEPTHS[depth]
    layers = tuple(layers) if layers is not None else default_layers
    if len(layers) != 4:
        raise ValueError(f"layers must give 4 stage depths, got {layers}")
    channels = tuple(max(8, int(round(c * width))) for c in STANDARD_CHANNELS)
    resnet = ResNet(
        block,
        layers,
        num_classes=0,
        channels=channels,
        stem_width=channels[0],
        output_stride=output_stride,
    )
    if pretrained is not None:
        load_imagenet_weights(resnet, pretrained)
    if shift_every is None:
        shift_every = 2 if layers[2] >= 23 else 1
    return TSMResNet(resnet, num_segments, shift_div, se_gate, shift_every, center_frames)
