"""The micro-action detector: cue streams (the RGB backbone, flow and skeleton encoders)
-> fusion -> temporal pyramid -> head, with its losses and its inference. Times inside the
model are in level-0 feature steps (one per ``step_frames`` sampled frames, the backbone's
tubelet); the dataset and pipeline convert to and from seconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from detection.data.cues import Cue
from detection.model.head import DetectionHead, TemporalPyramid, make_points
from detection.model.losses import diou_loss_1d, sigmoid_focal_loss
from detection.model.postprocess import PostprocessConfig, decode_video
from detection.model.targets import assign_targets
from engine import distributed
from perception.taxonomy import NUM_ACTIONS

DEFAULT_RANGES = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10_000))


@dataclass
class Detections:
    """One video's detections: segments (K, 2) in feature steps, scores (K,), labels (K,)."""

    segments: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


Inputs = dict[str, list[torch.Tensor]]  # cue -> per video tensor, first axis = sampled frames
Pyramid = tuple[list[torch.Tensor], list[torch.Tensor]]  # per level: features (B, C, T_l), masks (B, 1, T_l)


class MicroActionDetector(nn.Module):
    """Streams (each mapping one video's cue tensor ``(1, T, ...)`` to ``(1, C, T')``), a
    fusion module giving one or more branches, and a pyramid + head per branch whose
    outputs are averaged (one branch unless fusion is late)."""

    def __init__(
        self,
        streams: dict[str, nn.Module],
        fusion: nn.Module,
        step_frames: int,
        image_size: int,
        cue_specs: Mapping[str, Cue] | None = None,
        num_classes: int = NUM_ACTIONS,
        dim: int = 128,
        levels: int = 6,
        regression_ranges: tuple[tuple[float, float], ...] = DEFAULT_RANGES,
        head_layers: int = 2,
        neck: Callable[..., nn.Module] | None = None,
        head: Callable[..., nn.Module] | None = None,
        center_radius: float = 1.5,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        reg_weight: float = 1.0,
        loss_normalizer_momentum: float = 0.9,
        postprocess: PostprocessConfig | None = None,
    ) -> None:
        super().__init__()
        if len(regression_ranges) != levels:
            raise ValueError(
                f"need one regression range per pyramid level: {levels} levels, "
                f"{len(regression_ranges)} ranges"
            )
        if not streams:
            raise ValueError("the detector needs at least one cue stream")
        self.streams = nn.ModuleDict(streams)
        # how each stream is fed (dataset, collate, predict); plain objects, not in the state dict
        self.cue_specs: dict[str, Cue] = dict(cue_specs) if cue_specs is not None else {}
        if cue_specs is not None and list(self.cue_specs) != list(streams):
            raise ValueError(f"cue specs {list(self.cue_specs)} do not match the streams {list(streams)}")
        self.fusion = fusion
        self.step_frames, self.image_size = step_frames, image_size
        self.num_classes = num_classes
        self.dim = dim  # width of every branch's pyramid and head
        self.levels = levels
        self.regression_ranges = [tuple(map(float, r)) for r in regression_ranges]
        # the pyramid and head kinds (configs/head/): partials completed here, one per branch
        neck = neck or TemporalPyramid
        head = head or functools.partial(DetectionHead, layers=head_layers)
        self.pyramids = nn.ModuleDict(
            {name: neck(width, dim, levels) for name, width in fusion.branch_dims.items()}
        )
        self.heads = nn.ModuleDict({name: head(dim, num_classes, levels) for name in fusion.branch_dims})
        self.center_radius = center_radius
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.reg_weight = reg_weight
        self.momentum = loss_normalizer_momentum
        self.postprocess = postprocess or PostprocessConfig()
        self.register_buffer("loss_normalizer", torch.tensor(-1.0))

    @property
    def cues(self) -> list[str]:
        return list(self.streams)

    @property
    def length_multiple(self) -> int:
        """Feature sequences are padded to a multiple of this so every level divides evenly."""
        return 2 ** (self.levels - 1)

    def encode(self, inputs: Inputs, feature_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-stream features for videos of different lengths, zero-padded to the mask's length.

        Each video goes through each stream on its own, so no compute is spent on padding
        frames (videos are 5-15 s; padding all to 15 s would double the cost on average).
        """
        padded = feature_mask.shape[-1]
        features = {}
        for name, stream in self.streams.items():
            if name not in inputs:
                raise KeyError(f"the batch has no {name!r} input (it has {sorted(inputs)})")
            out = []
            for video in inputs[name]:
                feats = stream(video[None])
                if feats.shape[-1] > padded:
                    raise ValueError(
                        f"{name} stream gave {feats.shape[-1]} steps, the mask has only {padded}"
                    )
                out.append(torch.nn.functional.pad(feats, (0, padded - feats.shape[-1])))
            features[name] = torch.cat(out)
        return features

    def pyramid_features(self, inputs: Inputs, feature_mask: torch.Tensor) -> dict[str, Pyramid]:
        """Per branch, the temporal pyramid's features (each level ``(B, dim, T_l)``) and
        masks (``(B, 1, T_l)``): what the heads read, and what distillation matches."""
        branches = self.fusion(self.encode(inputs, feature_mask))
        mask = feature_mask[:, None].float()
        return {name: self.pyramids[name](feats, mask) for name, feats in branches.items()}

    def head_outputs(self, pyramids: dict[str, Pyramid]):
        """Per branch (class logits, boundary distances), each a list over pyramid levels,
        plus the candidate points and which of them lie on real (unpadded) steps."""
        outputs = [self.heads[name](feats, masks) for name, (feats, masks) in pyramids.items()]
        masks = next(iter(pyramids.values()))[1]
        points = make_points([f.shape[1] for f in outputs[0][0]], self.regression_ranges)
        valid = torch.cat([m[:, 0] for m in masks], dim=1) > 0  # (B, P)
        return outputs, points.to(masks[0].device), valid

    def branch_outputs(self, inputs: Inputs, feature_mask: torch.Tensor):
        """:meth:`head_outputs` of the inputs' :meth:`pyramid_features`."""
        return self.head_outputs(self.pyramid_features(inputs, feature_mask))

    @staticmethod
    def combine(outputs) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The detector's logits and distances per level: with several branches (late
        fusion) every level's logits and distances are averaged over the branches."""
        if len(outputs) == 1:
            return outputs[0]
        logits = [torch.stack(level).mean(0) for level in zip(*[o[0] for o in outputs], strict=True)]
        offsets = [torch.stack(level).mean(0) for level in zip(*[o[1] for o in outputs], strict=True)]
        return logits, offsets

    def forward(self, inputs: Inputs, feature_mask: torch.Tensor):
        """inputs: cue -> per video tensors; feature_mask: (B, T') bool of real steps."""
        outputs, points, valid = self.branch_outputs(inputs, feature_mask)
        logits, offsets = self.combine(outputs)
        return logits, offsets, points, valid

    def loss(self, inputs: Inputs, feature_mask, segments: list[torch.Tensor], labels: list[torch.Tensor]):
        """Focal + DIoU losses; ``segments`` per video in feature steps. Returns a dict."""
        return self.detection_loss(*self.branch_outputs(inputs, feature_mask), segments, labels)

    def detection_loss(
        self, outputs, points, valid, segments: list[torch.Tensor], labels: list[torch.Tensor]
    ):
        """The losses of :meth:`loss` from outputs already computed (:meth:`head_outputs`).

        With several branches (late fusion) each branch is trained to detect on its own and
        the losses are averaged, as two-stream networks train each stream: trained only
        through their averaged output, a branch that memorises the training videos (the
        appearance stream does) would leave the others nothing to learn.
        """
        cls_targets, reg_targets = zip(
            *[
                assign_targets(points, s, lab, self.num_classes, self.center_radius)
                for s, lab in zip(segments, labels, strict=True)
            ],
            strict=True,
        )
        cls_targets, reg_targets = torch.stack(cls_targets), torch.stack(reg_targets)
        positive = (cls_targets.sum(-1) > 0) & valid
        num_pos = positive.sum().float()
        # ActionFormer's trick: normalise by a running average of the positive count so one
        # batch with few positives does not blow up the step. Under torchrun the count is the
        # whole global batch's and each rank divides by its 1/N share of it: DDP averages the
        # N ranks' gradients, so the step equals one process's on the global batch.
        global_pos = float(distributed.all_reduce_sum(num_pos)) if self.training else float(num_pos)
        if self.training:
            if self.loss_normalizer < 0:
                self.loss_normalizer.fill_(max(global_pos, 1.0))
            else:
                self.loss_normalizer.mul_(self.momentum).add_((1 - self.momentum) * max(global_pos, 1.0))
        normalizer = (
            self.loss_normalizer.clamp(min=1.0) if self.loss_normalizer > 0 else num_pos.clamp(min=1.0)
        )
        if self.training:
            normalizer = normalizer / distributed.world_size()
        cls_losses, reg_losses = [], []
        for logits, offsets in outputs:
            # losses in float32 even under autocast: focal weights and DIoU lose too much in 16 bits
            all_logits = torch.cat(logits, dim=1).float()
            all_offsets = torch.cat(offsets, dim=1).float()
            cls_losses.append(
                sigmoid_focal_loss(
                    all_logits[valid],
                    cls_targets[valid],
                    alpha=self.focal_alpha,
                    gamma=self.focal_gamma,
                    reduction="sum",
                )
                / normalizer
            )
            if positive.any():
                reg_losses.append(
                    diou_loss_1d(all_offsets[positive], reg_targets[positive]).sum() / normalizer
                )
            else:
                reg_losses.append(all_offsets.sum() * 0.0)
        cls_loss, reg_loss = torch.stack(cls_losses).mean(), torch.stack(reg_losses).mean()
        total = cls_loss + self.reg_weight * reg_loss
        return {
            "loss": total,
            "cls_loss": cls_loss.detach(),
            "reg_loss": reg_loss.detach(),
            "num_pos": num_pos.detach(),
        }

    @torch.no_grad()
    def predict(self, inputs: Inputs, feature_mask) -> list[Detections]:
        logits, offsets, points, valid = self(inputs, feature_mask)
        results = []
        for b in range(feature_mask.shape[0]):
            segs, scores, labels = decode_video(
                [lg[b] for lg in logits], [of[b] for of in offsets], points, valid[b], self.postprocess
            )
            results.append(Detections(segs, scores, labels))
        return results

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def total_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def parameter_counts(self) -> dict[str, int]:
        """Trainable and total parameters, split so they compare with published figures.

        Papers (AdaTAD, MMAD) report the *backbone's* trainable parameters (adapters, or the
        whole backbone when fine-tuned) without the detection head; ``backbone_trainable`` is
        that number. ``adapters`` counts the adapter modules alone, ``head_trainable`` what trains
        outside the RGB backbone (other cue encoders, fusion, pyramids, heads).
        """

        def count(params, trainable_only: bool = False) -> int:
            return sum(p.numel() for p in params if p.requires_grad or not trainable_only)

        backbone = dict(self.streams.items()).get("rgb", nn.Module())  # empty when RGB is no cue
        backbone_ids = {id(p) for p in backbone.parameters()}
        rest = [p for p in self.parameters() if id(p) not in backbone_ids]
        adapters = getattr(backbone, "adapters", nn.Module())
        return {
            "trainable": self.trainable_parameters(),
            "total": self.total_parameters(),
            "backbone_trainable": count(backbone.parameters(), True),
            "backbone_total": count(backbone.parameters()),
            "adapters": count(adapters.parameters()),
            "head_trainable": count(rest, True),
        }


def build_detector(
    backbone: nn.Module,
    cues: Mapping[str, Cue],
    cue_dim: int = 128,
    fusion: Callable[[dict[str, int]], nn.Module] | None = None,
    postprocess: dict | None = None,
    **kwargs,
) -> MicroActionDetector:
    """Builder used by the Hydra configs (``model._target_``).

    ``cues`` are the cue group's nodes, built (``detection.data.cues``): each makes its stream,
    the RGB cue from ``backbone``, the others from their encoders completed with the backbone's
    time axis and ``cue_dim`` channels. ``backbone`` sets the time axis (its tubelet) and the
    input size even when RGB is not among the cues. ``fusion`` is a partially built fusion
    module, completed with the stream widths (default: concat).
    """
    from detection.model.fusion import ConcatFusion

    if "regression_ranges" in kwargs:
        kwargs["regression_ranges"] = tuple(tuple(r) for r in kwargs["regression_ranges"])
    if not cues:
        raise ValueError("the detector needs at least one cue (the cues group is empty)")
    streams = {name: cue.build_stream(backbone, cue_dim) for name, cue in cues.items()}
    widths = {name: stream.out_dim for name, stream in streams.items()}
    return MicroActionDetector(
        streams,
        (fusion or ConcatFusion)(widths),
        step_frames=backbone.tubelet,
        image_size=backbone.image_size,
        cue_specs=dict(cues),
        postprocess=PostprocessConfig(**(postprocess or {})),
        **kwargs,
    )
