"""MANet (official MA-52 code): TSM ResNet-50 with SE gates, a classifier and a 300-d
joint-embedding branch, trained with CE + 50 * MSE(embedding, label embedding).

Head (official ``MANetHead``): per frame, global average pool -> dropout 0.5 -> ``fc_cls``
(C -> 52) and ``fc_emb_t(tanh(fc_emb(x)))`` (C -> 300 -> 300); both are averaged over the
segments (average consensus). Linear layers start from N(0, 0.001^2) weights, zero bias.
The embedding target is the fixed 52 x 300 matrix of :mod:`recognition.label_embeddings`
(the published file by path, or the synthetic derivation), kept as a buffer so a
checkpoint carries the target it was trained with. MSE is the mean over elements.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from perception.taxonomy import NUM_ACTIONS
from recognition.label_embeddings import EMBEDDING_DIM, label_embeddings
from recognition.models.tsm import TSMResNet


def frames_to_batch(frames: torch.Tensor, backbone: TSMResNet) -> tuple[torch.Tensor, int, int]:
    """(B, T, 3, H, W) clips -> (B * T, 3, H, W), checking T against the backbone's shift;
    with ``backbone.center_frames`` each clip's mean frame is subtracted first."""
    if frames.ndim != 5:
        raise ValueError(f"expected clips of shape (B, T, 3, H, W), got {tuple(frames.shape)}")
    batch, segments = frames.shape[:2]
    if segments != backbone.num_segments:
        raise ValueError(
            f"clips have {segments} frames but the TSM backbone shifts over {backbone.num_segments}"
        )
    if getattr(backbone, "center_frames", False):
        frames = frames - frames.mean(dim=1, keepdim=True)
    return frames.flatten(0, 1), batch, segments


class MANetHead(nn.Module):
    """Classifier + embedding branch on per-frame features, averaged over segments."""

    def __init__(
        self,
        in_features: int,
        num_classes: int = NUM_ACTIONS,
        embedding_dim: int = EMBEDDING_DIM,
        dropout: float = 0.5,
        init_std: float = 0.001,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(in_features, num_classes)
        self.fc_emb = nn.Linear(in_features, embedding_dim)
        self.fc_emb_t = nn.Linear(embedding_dim, embedding_dim)
        for layer in (self.fc_cls, self.fc_emb, self.fc_emb_t):
            nn.init.normal_(layer.weight, std=init_std)
            nn.init.zeros_(layer.bias)

    def forward(self, features: torch.Tensor, segments: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B * T, C, h, w) -> class logits (B, classes) and embeddings (B, D)."""
        x = self.dropout(features.mean(dim=(2, 3)))
        logits = self.fc_cls(x)
        embedding = self.fc_emb_t(torch.tanh(self.fc_emb(x)))
        return (
            logits.view(-1, segments, logits.shape[-1]).mean(dim=1),
            embedding.view(-1, segments, embedding.shape[-1]).mean(dim=1),
        )


class MANet(nn.Module):
    """``forward(frames)`` -> {"logits", "embedding"}; ``loss(outputs, labels)`` -> loss dict."""

    def __init__(
        self,
        backbone: TSMResNet,
        head: MANetHead,
        label_embedding: torch.Tensor,
        embedding_weight: float = 50.0,
    ) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head
        if label_embedding.shape != (head.fc_cls.out_features, head.fc_emb_t.out_features):
            raise ValueError(
                f"label embedding {tuple(label_embedding.shape)} does not fit the head "
                f"({head.fc_cls.out_features} classes x {head.fc_emb_t.out_features} dims)"
            )
        self.register_buffer("label_embedding", label_embedding.float())
        self.embedding_weight = embedding_weight

    def forward(self, frames: torch.Tensor, landmarks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``landmarks`` is accepted and ignored, so every recognition model takes one batch."""
        flat, _, segments = frames_to_batch(frames, self.backbone)
        logits, embedding = self.head(self.backbone(flat), segments)
        return {"logits": logits, "embedding": embedding}

    def loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(outputs["logits"], labels)
        mse = F.mse_loss(outputs["embedding"], self.label_embedding[labels])
        return {"loss": ce + self.embedding_weight * mse, "ce": ce, "embedding_mse": mse}


def build_manet(
    backbone: TSMResNet,
    num_classes: int = NUM_ACTIONS,
    embedding_dim: int = EMBEDDING_DIM,
    dropout: float = 0.5,
    embedding_weight: float = 50.0,
    label_embeddings_path: str | Path | None = None,
    init_std: float = 0.001,
    input_size: int = 224,
) -> MANet:
    """MANet on a built backbone (Hydra instantiates ``backbone`` from its own ``_target_``).
    ``label_embeddings_path`` None -> the synthetic target (recognition.label_embeddings);
    ``input_size`` is the crop side the model is trained for, kept as ``model.input_size`` so
    data pipelines and inference read it from the model config."""
    head = MANetHead(backbone.num_features, num_classes, embedding_dim, dropout, init_std)
    target = torch.from_numpy(label_embeddings(label_embeddings_path, embedding_dim))
    model = MANet(backbone, head, target, embedding_weight)
    model.input_size = input_size
    return model
