"""VideoMAE backbone (Hugging Face transformers) with adapters after every block.

Blocks come from ``transformers.VideoMAEModel``; this module only decides how a long video
is fed to them: cut into fixed chunks of ``chunk_frames`` (the length the position
embeddings were trained for), all chunks of a batch run as one big batch through each
block, and after each block an adapter sees the tokens laid out as (video, chunk, time,
height, width) so its temporal path can cross chunk boundaries.

The output is one feature vector per tubelet (``tubelet_size`` frames): the temporal
feature sequence the detection head works on. ``spatial_pool=1`` averages the whole token
grid (as AdaTAD does with pretrained VideoMAE); ``spatial_pool=k`` averages it down to a
k x k grid and concatenates the cells, so the head can tell *where* in the frame a motion
happened (a nod and a foot tap look alike once averaged over the frame). This matters most
when the backbone's features carry little semantics, as with the randomly initialised
tiny backbone of the CPU demo.

``center_frames`` subtracts each video's mean frame (per pixel, over all its sampled frames) from
its frames before the blocks: what stays is how the video departs from its own average, a
displaced head held for seconds as much as a nod, while the subject's colours, chair and
background cancel. The recognition demo's tiny TSM networks need the same (recognition/models/
tsm.py); the published recipe does not use it. Each video passes through the backbone alone
(detection/model/detector.py), so the mean never mixes videos or padding; ``task=predict`` cuts a
long video into windows of about a training video's length (detection/predict/video.py), and
each window is centred on its own mean.

``frame_difference`` feeds each frame's difference with the previous one (the first frame's is
zero) instead of the frame: the RGB-difference input of TSN, the motion a 1-2 px nod leaves
between two frames handed to the patch embedding directly, still from the RGB frames alone (no
flow, no skeleton). A constant image added to every frame cancels, as with ``center_frames``,
but so does a displacement held still. ``task=predict``'s windows each start from a zero
difference, one frame of edge effect per window. ``difference_std`` divides the differences by
their typical size: a frame-to-frame change is some 20-30 times smaller than a frame (on the
synthetic default at 64 px, rms 0.03 between neighbouring frames and 0.05 between frames 4 apart,
against 0.9, in the pixel-normalised units the patch embedding was pretrained on), so without it
the motion tokens are a small ripple on the position embedding added to them.
perception/motion_scale.py measures it for a folder of videos.

Which blocks get an adapter is an option (``adapter_blocks``), and so is what trains: with
adapters the backbone is usually frozen; with no adapter it is either fine-tuned whole
(``freeze_backbone=False``, "full") or frozen, in which case nothing in it needs gradients and
it runs under ``torch.no_grad`` ("frozen": the head learns on fixed features, as with the
pre-extracted snippet features of the MMAD paper's Table 4, without storing activations).

Where the weights come from: random (``pretrained=None``), a local checkpoint
(``pretrained=PATH``; a checkpoint trained at another resolution gets its position table resized,
perception/position_table.py), or ``self_pretrain={...}``: VideoMAE pretraining on the given
videos, cached by recipe and video content (perception/pretrain/), then loaded like a checkpoint.
The position table is a buffer of the encoder's embeddings, so detector checkpoints carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import VideoMAEConfig, VideoMAEModel

from perception.adapters import TokenGrid
from perception.checkpoints import MissingCheckpointError, load_pretrained_videomae
from perception.position_table import TABLE_KEY, install_table, table_for

# ImageNet statistics, as used by every public VideoMAE checkpoint.
PIXEL_MEAN = (0.485, 0.456, 0.406)
PIXEL_STD = (0.229, 0.224, 0.225)

AdapterFactory = Callable[[int], nn.Module]


__all__ = ["AdaptedVideoMAE", "MissingCheckpointError", "build_adapted_videomae", "load_videomae"]


def load_videomae(
    config: dict[str, Any], pretrained: str | Path | None = None, pretrained_image_size: int | None = None
) -> VideoMAEModel:
    """A VideoMAE encoder: random weights from ``config``, or the weights at ``pretrained``: a
    local Hugging Face-format directory, or a .safetensors / .pth file in the Hugging Face or
    the original VideoMAE / VideoMAEv2 layout (see perception/checkpoints.py), with its position
    table resized to ``config``'s grid (``pretrained_image_size``: the checkpoint's resolution,
    for files that record neither a table nor a config).

    Never downloads: this platform runs without network, so a missing path is an error that
    names it rather than a silent hub request.
    """
    if pretrained is None:
        model = VideoMAEModel(VideoMAEConfig(**config))
        install_table(model, table_for(model.config))
        return model
    return load_pretrained_videomae(config, pretrained, native_image_size=pretrained_image_size)


def resolve_blocks(blocks: Sequence[int] | None, depth: int) -> tuple[int, ...]:
    """Sorted block indices from a list that may count from the end (``[-4, -3, -2, -1]`` = the
    last four); ``None`` means every block."""
    if blocks is None:
        return tuple(range(depth))
    resolved = []
    for block in blocks:
        if not -depth <= int(block) < depth:
            raise ValueError(f"adapter block {block} does not exist in a {depth}-block backbone")
        resolved.append(int(block) % depth)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"adapter_blocks names a block twice: {list(blocks)}")
    return tuple(sorted(resolved))


class AdaptedVideoMAE(nn.Module):
    """VideoMAE encoder + an adapter after each chosen block (all by default), processing
    videos of any length in chunks. ``grad_checkpointing`` recomputes each block (with its
    adapter) in the backward pass instead of storing its activations."""

    def __init__(
        self,
        encoder: VideoMAEModel,
        adapter: AdapterFactory | None = None,
        chunk_frames: int = 16,
        freeze_backbone: bool = True,
        grad_checkpointing: bool = False,
        spatial_pool: int = 1,
        adapter_blocks: Sequence[int] | None = None,
        center_frames: bool = False,
        frame_difference: bool = False,
        difference_std: float = 1.0,
    ) -> None:
        super().__init__()
        config = encoder.config
        if not difference_std > 0:
            raise ValueError(f"difference_std must be positive, got {difference_std}")
        if difference_std != 1.0 and not frame_difference:
            raise ValueError(
                f"difference_std={difference_std} only scales frame differences: set "
                "frame_difference=true as well, or leave difference_std at 1"
            )
        self.center_frames = center_frames
        self.frame_difference = frame_difference
        self.difference_std = difference_std
        if chunk_frames != config.num_frames:
            raise ValueError(
                f"chunk_frames={chunk_frames} must equal the backbone's num_frames={config.num_frames} "
                f"(its position embeddings are defined for that many frames)"
            )
        self.encoder = encoder
        self.chunk_frames = chunk_frames
        self.tubelet = config.tubelet_size
        self.patch = config.patch_size
        self.image_size = config.image_size
        side = config.image_size // config.patch_size
        if not 1 <= spatial_pool <= side:
            raise ValueError(
                f"spatial_pool must be between 1 and the token grid side {side}, got {spatial_pool}"
            )
        self.spatial_pool = spatial_pool
        self.out_dim = config.hidden_size * spatial_pool**2
        self.grad_checkpointing = grad_checkpointing
        if freeze_backbone:
            for parameter in self.encoder.parameters():
                parameter.requires_grad_(False)
        depth = len(self.encoder.encoder.layer)
        # adapters sit in a ModuleList in block order, so with every block adapted the state
        # dict keys (adapters.0 ...) are the block indices, as before the option existed
        self.adapter_blocks = resolve_blocks(adapter_blocks, depth) if adapter is not None else ()
        self.adapters = nn.ModuleList([adapter(config.hidden_size) for _ in self.adapter_blocks])
        self._adapter_of_block = {block: i for i, block in enumerate(self.adapter_blocks)}
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 1, 3, 1, 1), persistent=False)
        self.register_load_state_dict_pre_hook(_keep_table_missing_from_old_checkpoints)

    def output_length(self, num_frames: int) -> int:
        """Number of feature steps produced for a video of ``num_frames`` frames."""
        return -(-num_frames // self.tubelet)

    def _block(self, index: int, tokens: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
        out = self.encoder.encoder.layer[index](tokens)
        tokens = out[0] if isinstance(out, tuple) else out
        if index in self._adapter_of_block:
            tokens = self.adapters[self._adapter_of_block[index]](tokens, grid)
        return tokens

    @property
    def needs_grad(self) -> bool:
        """Whether anything in the backbone trains; if not, it runs without autograd."""
        return any(p.requires_grad for p in self.parameters())

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: (B, T, H, W, 3) uint8 or float in [0, 1]; returns (B, C, ceil(T / tubelet))."""
        if frames.dim() != 5 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames as (batch, time, height, width, 3), got {tuple(frames.shape)}")
        # a fully frozen backbone ("frozen" mode) keeps no activations for a backward pass
        track = torch.is_grad_enabled() and self.needs_grad
        with torch.set_grad_enabled(track):
            return self._features(frames, checkpointed=track and self.grad_checkpointing and self.training)

    def _features(self, frames: torch.Tensor, checkpointed: bool) -> torch.Tensor:
        b, t = frames.shape[:2]
        x = frames.permute(0, 1, 4, 2, 3).float()
        if frames.dtype == torch.uint8:
            x = x / 255.0
        x = (x - self.pixel_mean) / self.pixel_std
        if self.center_frames:  # each video passes alone (detector.encode): its own mean frame
            x = x - x.mean(dim=1, keepdim=True)
        chunks = -(-t // self.chunk_frames)
        pad = chunks * self.chunk_frames - t
        if pad:  # repeat the last frame: padding with black would be a fake scene cut
            x = torch.cat([x, x[:, -1:].expand(b, pad, *x.shape[2:])], dim=1)
        if self.frame_difference:  # after padding (a still tail: zero differences), before chunking
            x = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
            if self.difference_std != 1.0:
                x = x / self.difference_std
        x = x.reshape(b * chunks, self.chunk_frames, *x.shape[2:])

        tokens = self.encoder.embeddings(x, None)
        side = self.image_size // self.patch
        grid = TokenGrid(b, chunks, self.chunk_frames // self.tubelet, side, side)
        for index in range(len(self.encoder.encoder.layer)):
            if checkpointed:
                tokens = checkpoint(self._block, index, tokens, grid, use_reentrant=False)
            else:
                tokens = self._block(index, tokens, grid)
        if self.encoder.layernorm is not None:
            tokens = self.encoder.layernorm(tokens)

        steps = chunks * grid.time
        hidden = tokens.shape[-1]
        if self.spatial_pool == 1:
            feats = tokens.reshape(b, steps, side * side, hidden).mean(dim=2)
        else:
            cells = tokens.reshape(b * steps, side, side, hidden).permute(0, 3, 1, 2)
            cells = F.adaptive_avg_pool2d(cells, self.spatial_pool)
            feats = cells.reshape(b, steps, self.out_dim)
        return feats[:, : self.output_length(t)].transpose(1, 2).contiguous()


def _keep_table_missing_from_old_checkpoints(
    module: AdaptedVideoMAE, state: dict, prefix: str, *_: Any
) -> None:
    """Checkpoints written before the position table was a buffer lack it: keep the model's own
    (they were trained with the table their config regenerates, which is what it holds)."""
    key = f"{prefix}encoder.{TABLE_KEY}"
    if key not in state and any(k.startswith(f"{prefix}encoder.") for k in state):
        state[key] = module.encoder.embeddings.position_embeddings


def build_adapted_videomae(
    config: dict[str, Any],
    adapter: AdapterFactory | None = None,
    pretrained: str | None = None,
    freeze_backbone: bool = True,
    grad_checkpointing: bool = False,
    spatial_pool: int = 1,
    adapter_blocks: Sequence[int] | None = None,
    pretrained_image_size: int | None = None,
    self_pretrain: Mapping[str, Any] | None = None,
    center_frames: bool = False,
    frame_difference: bool = False,
    difference_std: float = 1.0,
) -> AdaptedVideoMAE:
    """Builder used by the Hydra configs (``model.backbone._target_``).

    ``adapter`` None with ``freeze_backbone=False`` fine-tunes the whole backbone ("full");
    with ``freeze_backbone=True`` the backbone is a fixed feature extractor ("frozen").
    ``self_pretrain``: a pretraining recipe (perception/pretrain/settings.py) plus ``videos`` (and
    optionally ``cache``): the backbone pretrained with it on those videos, from the cache or
    pretrained now; exclusive with ``pretrained``.
    """
    config = _plain(config)
    if self_pretrain is not None:
        if pretrained is not None:
            raise ValueError(
                "model.backbone: set either pretrained (a checkpoint) or self_pretrain (pretrain on "
                f"videos), not both (pretrained={pretrained})"
            )
        from perception.pretrain import ensure_from_config  # heavy, and only needed here

        pretrained = str(ensure_from_config(_plain(self_pretrain), config))
    encoder = load_videomae(config, pretrained, pretrained_image_size)
    return AdaptedVideoMAE(
        encoder,
        adapter=adapter,
        chunk_frames=encoder.config.num_frames,
        freeze_backbone=freeze_backbone,
        grad_checkpointing=grad_checkpointing,
        spatial_pool=spatial_pool,
        adapter_blocks=adapter_blocks,
        center_frames=center_frames,
        frame_difference=frame_difference,
        difference_std=difference_std,
    )


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """A Hydra DictConfig (or any mapping) as plain Python containers."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(values, DictConfig):
        return OmegaConf.to_container(values, resolve=True)
    return dict(values)
