"""Dual-path body-entity network (seed 003): TSM ResNet + skeleton entities, a
spatial-then-temporal (ST) and a temporal-then-spatial (TS) transformer path, per-entity
routing between them, and a Mutual Action Consistency (MAC) loss between the paths.

Data flow for B clips of T frames::

    frames -> TSM ResNet -> feature map F (B*T, C, h, w) -> global feature g = mean(F)  (B, C)
    landmarks -> entity boxes (B, T, K) -> ROIAlign(F) -> dw-separable conv -> X (B, T, K, D)
    X -> ST path: entities attend within each frame, then each entity across time
    X -> TS path: each entity across time, then entities within each frame
    per entity k: e_st, e_ts = masked time mean of each path (B, K, D)
                  w = softmax(R([e_st; e_ts]) / tau) (B, K, 2), R a linear map 2D -> 2
                  e_k = w_0 e_st + w_1 e_ts
    entity feature e = mean of e_k over entities seen in the clip; logits = fc([g; e])

Entities missing in a frame are padding for the attention (masked keys); a frame or an
entity with nothing to attend to attends to everything instead, so no row is all masked.

**MAC loss (our reading; the paper's formula is not public).** With P the entities seen at
least once in their clip, and ``logits_st`` / ``logits_ts`` the classifier applied to
``[g; mean_k e_st]`` and ``[g; mean_k e_ts]`` (the prediction each path alone would give)::

    L_MAC = mean_{(b,k) in P} (1 - cos(e_st[b,k], e_ts[b,k]))          entity-level agreement
          + (KL(p_st || p_ts) + KL(p_ts || p_st)) / 2,  p = softmax(logits)   action-level agreement

Both terms are zero exactly when the two paths agree, and gradients reach both paths (the
consistency is mutual). Total loss: CE(logits, y) + ``mac_weight`` * L_MAC.

Ablation switches: ``paths`` (["st"], ["ts"] or ["st", "ts"]; one path means no routing
and no MAC), ``fusion`` ("route" or "average": fixed 0.5/0.5), ``mac_weight`` (0 = off),
``entities`` (False: the global TSM feature alone, the seed's TSM baseline row).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from perception.taxonomy import NUM_ACTIONS
from recognition.models.entities import ENTITIES, EntityEncoder, entity_boxes
from recognition.models.manet import frames_to_batch
from recognition.models.tsm import TSMResNet

PATHS = ("st", "ts")
FUSIONS = ("route", "average")


def _encoder(dim: int, heads: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def _padding(mask: torch.Tensor) -> torch.Tensor:
    """Key padding mask from a presence mask; rows with nothing present attend to everything."""
    padding = ~mask
    return padding & ~padding.all(dim=-1, keepdim=True)


class EntityPath(nn.Module):
    """Spatial (across entities) and temporal (across frames) attention in a fixed order."""

    def __init__(self, order: str, dim: int, heads: int, layers: int, dropout: float) -> None:
        super().__init__()
        if order not in PATHS:
            raise ValueError(f"unknown path {order!r}; valid: {', '.join(PATHS)}")
        self.order = order
        self.spatial = _encoder(dim, heads, layers, dropout)
        self.temporal = _encoder(dim, heads, layers, dropout)

    def _spatial(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, frames, entities, dim = x.shape
        out = self.spatial(
            x.reshape(-1, entities, dim), src_key_padding_mask=_padding(mask.reshape(-1, entities))
        )
        return out.view(batch, frames, entities, dim)

    def _temporal(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, frames, entities, dim = x.shape
        tokens = x.transpose(1, 2).reshape(-1, frames, dim)
        padding = _padding(mask.transpose(1, 2).reshape(-1, frames))
        out = self.temporal(tokens, src_key_padding_mask=padding)
        return out.view(batch, entities, frames, dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.order == "st":
            return self._temporal(self._spatial(x, mask), mask)
        return self._spatial(self._temporal(x, mask), mask)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` where ``mask`` (x's shape without the feature axis) is True; 0 if none."""
    weight = mask.to(x.dtype).unsqueeze(-1)
    return (x * weight).sum(dim=dim) / weight.sum(dim=dim).clamp(min=1.0)


def mac_loss(
    entity_st: torch.Tensor,
    entity_ts: torch.Tensor,
    present: torch.Tensor,
    logits_st: torch.Tensor,
    logits_ts: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Mutual Action Consistency (module docstring): {"mac", "mac_entity", "mac_action"}."""
    cosine = F.cosine_similarity(entity_st, entity_ts, dim=-1, eps=1e-6)  # (B, K)
    weight = present.to(cosine.dtype)
    entity = ((1.0 - cosine) * weight).sum() / weight.sum().clamp(min=1.0)
    log_st, log_ts = F.log_softmax(logits_st, dim=-1), F.log_softmax(logits_ts, dim=-1)
    kl_st_ts = F.kl_div(log_ts, log_st, log_target=True, reduction="batchmean")  # KL(p_st || p_ts)
    kl_ts_st = F.kl_div(log_st, log_ts, log_target=True, reduction="batchmean")
    action = 0.5 * (kl_st_ts + kl_ts_st)
    return {"mac": entity + action, "mac_entity": entity, "mac_action": action}


class DualPathNet(nn.Module):
    """``forward(frames, landmarks)`` -> dict of logits and path internals; ``loss`` -> loss dict."""

    def __init__(
        self,
        backbone: TSMResNet,
        num_classes: int = NUM_ACTIONS,
        dim: int = 256,
        heads: int = 8,
        layers: int = 1,
        roi_size: int = 7,
        roi_stage: int = 4,
        paths: Sequence[str] = PATHS,
        fusion: str = "route",
        route_temperature: float = 1.0,
        mac_weight: float = 1.0,
        entities: bool = True,
        dropout: float = 0.5,
        attention_dropout: float = 0.1,
        min_visibility: float = 0.5,
    ) -> None:
        super().__init__()
        paths = tuple(paths)
        if not paths or any(p not in PATHS for p in paths) or len(set(paths)) != len(paths):
            raise ValueError(f"paths must be a non-empty subset of {list(PATHS)}, got {list(paths)}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        if roi_stage not in (3, 4):
            raise ValueError(f"roi_stage must be 3 or 4, got {roi_stage}")
        if route_temperature <= 0:
            raise ValueError(f"route_temperature must be > 0, got {route_temperature}")
        self.backbone = backbone
        self.use_entities, self.paths, self.fusion = entities, paths, fusion
        self.route_temperature, self.mac_weight = route_temperature, mac_weight
        self.roi_stage, self.min_visibility = roi_stage, min_visibility
        self.dropout = nn.Dropout(dropout)
        in_features = backbone.num_features
        if entities:
            channels = backbone.stage_channels[roi_stage - 1]
            self.entity_encoder = EntityEncoder(channels, dim, backbone.num_segments, roi_size, len(ENTITIES))
            self.path_modules = nn.ModuleDict(
                {p: EntityPath(p, dim, heads, layers, attention_dropout) for p in paths}
            )
            self.router = nn.Linear(2 * dim, 2) if len(paths) == 2 and fusion == "route" else None
            in_features += dim
        self.fc_cls = nn.Linear(in_features, num_classes)

    def _classify(self, global_feature: torch.Tensor, entity_feature: torch.Tensor | None) -> torch.Tensor:
        x = global_feature if entity_feature is None else torch.cat([global_feature, entity_feature], dim=-1)
        return self.fc_cls(self.dropout(x))

    def forward(self, frames: torch.Tensor, landmarks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        flat, batch, segments = frames_to_batch(frames, self.backbone)
        stages = self.backbone.forward_stages(flat)
        last = stages[-1]
        global_feature = last.mean(dim=(2, 3)).view(batch, segments, -1).mean(dim=1)
        if not self.use_entities:
            return {"logits": self._classify(global_feature, None)}
        if landmarks is None:
            raise ValueError("the body-entity network needs landmarks (B, T, 33, 4) in input pixels")
        image_size = (frames.shape[-2], frames.shape[-1])
        boxes, mask = entity_boxes(landmarks, image_size, self.min_visibility)
        tokens = self.entity_encoder(stages[self.roi_stage - 1], boxes, image_size)
        present = mask.any(dim=1)  # (B, K): seen in at least one frame
        per_path = {p: masked_mean(self.path_modules[p](tokens, mask), mask, dim=1) for p in self.paths}
        out: dict[str, torch.Tensor] = {"boxes": boxes, "entity_mask": mask, "entity_present": present}
        if len(self.paths) == 1:
            fused = per_path[self.paths[0]]
        else:
            pair = torch.cat([per_path["st"], per_path["ts"]], dim=-1)
            if self.router is not None:
                weights = torch.softmax(self.router(pair) / self.route_temperature, dim=-1)
            else:
                weights = pair.new_full(pair.shape[:-1] + (2,), 0.5)
            fused = weights[..., :1] * per_path["st"] + weights[..., 1:] * per_path["ts"]
            out |= {"route_weights": weights, "entity_st": per_path["st"], "entity_ts": per_path["ts"]}
            out["logits_st"] = self._classify(global_feature, masked_mean(per_path["st"], present, dim=1))
            out["logits_ts"] = self._classify(global_feature, masked_mean(per_path["ts"], present, dim=1))
        out["logits"] = self._classify(global_feature, masked_mean(fused, present, dim=1))
        return out

    def loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(outputs["logits"], labels)
        losses = {"ce": ce}
        total = ce
        if "entity_st" in outputs and self.mac_weight > 0:
            mac = mac_loss(
                outputs["entity_st"],
                outputs["entity_ts"],
                outputs["entity_present"],
                outputs["logits_st"],
                outputs["logits_ts"],
            )
            losses |= mac
            total = total + self.mac_weight * mac["mac"]
        return {"loss": total, **losses}


def build_dualnet(backbone: TSMResNet, input_size: int = 224, **options) -> DualPathNet:
    """The network on a built backbone (Hydra instantiates ``backbone`` from its ``_target_``);
    ``options`` are :class:`DualPathNet`'s (``paths`` may come as an OmegaConf list);
    ``input_size`` (crop side) is kept as ``model.input_size``, as for MANet."""
    if "paths" in options:
        options["paths"] = tuple(options["paths"])
    model = DualPathNet(backbone, **options)
    model.input_size = input_size
    return model
