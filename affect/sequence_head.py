"""A small temporal transformer over the micro-action timeline (``emotion_head=transformer``).

Pooled counts lose the order and timing of events (a burst of self-touching at the start
reads like the same touches spread out). This head reads the timeline as a sequence: one
token per instance (``timeline_features.timeline_tokens``): a class embedding plus a body
group embedding plus a projection of its continuous fields (relative start and end, log
length, score), so the instant an action happens is its position. A learned summary token
goes first (a video without events still has a sequence), a few encoder layers mix the
tokens, and the summary token's output, concatenated with a projection of the other blocks'
pooled features when the feature set has any (rgb, cue statistics: late fusion), is
classified. Trained with a plain loop: AdamW, class-balanced cross-entropy, fixed epochs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from affect.features import Blocks, pooled_matrix
from perception.taxonomy import NUM_ACTIONS, NUM_BODY_GROUPS


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One intra-op thread while this tiny model runs: its operations are too small to share,
    and on a busy CPU the threads' synchronisation made each step several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TimelineTransformer(nn.Module):
    def __init__(
        self,
        num_labels: int,
        dim: int = 32,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.1,
        fused: int = 0,
    ) -> None:
        super().__init__()
        self.action = nn.Embedding(NUM_ACTIONS, dim)
        self.body = nn.Embedding(NUM_BODY_GROUPS, dim)
        self.continuous = nn.Linear(4, dim)
        self.summary = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.fuse = nn.Sequential(nn.Linear(fused, dim), nn.GELU(), nn.Dropout(dropout)) if fused else None
        self.classify = nn.Linear(dim * (2 if fused else 1), num_labels)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, fused: torch.Tensor | None = None
    ) -> torch.Tensor:
        """tokens (B, L, 6), mask (B, L) True on real tokens, fused (B, F) or None -> logits."""
        x = (
            self.action(tokens[..., 0].long())
            + self.body(tokens[..., 1].long())
            + self.continuous(tokens[..., 2:])
        )
        x = torch.cat([self.summary.expand(len(x), -1, -1), x], dim=1)
        padding = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], dim=1)
        summary = self.norm(self.encoder(x, src_key_padding_mask=padding)[:, 0])
        if self.fuse is not None:
            summary = torch.cat([summary, self.fuse(fused)], dim=1)
        return self.classify(summary)


def pad_tokens(sequences: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Variable-length token arrays -> (B, L, F) zero-padded tokens and a (B, L) mask."""
    length = max(1, max(len(s) for s in sequences))
    width = sequences[0].shape[1] if sequences and sequences[0].ndim == 2 else 6
    tokens = torch.zeros(len(sequences), length, width)
    mask = torch.zeros(len(sequences), length, dtype=torch.bool)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = torch.from_numpy(np.asarray(sequence, dtype=np.float32))
        mask[row, : len(sequence)] = True
    return tokens, mask


class TransformerHead:
    """Hydra target of ``configs/emotion_head/transformer.yaml``."""

    def __init__(
        self,
        sequence_block: str = "microaction",
        dim: int = 32,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.1,
        epochs: int = 60,
        batch_size: int = 16,
        lr: float = 2e-3,
        weight_decay: float = 0.01,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.sequence_block = sequence_block
        self.options = dict(dim=dim, heads=heads, layers=layers, dropout=dropout)
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.seed, self.device = seed, device
        self.model: TimelineTransformer | None = None
        self.scaler: StandardScaler | None = None

    def _inputs(self, blocks: Blocks) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        block = blocks.get(self.sequence_block)
        if block is None or block.sequences is None:
            raise ValueError(
                f"emotion_head=transformer reads the {self.sequence_block!r} timeline sequence; choose a feature "
                f"set with it (features=microaction, microaction_rgb, ...), this one has {sorted(blocks)}"
            )
        tokens, mask = pad_tokens(block.sequences)
        extra = pooled_matrix(blocks, exclude=[self.sequence_block])
        if extra.shape[1] == 0:
            return tokens, mask, None
        if self.scaler is None:
            self.scaler = StandardScaler().fit(extra)
        return tokens, mask, torch.from_numpy(self.scaler.transform(extra).astype(np.float32))

    def fit(self, blocks: Blocks, labels: np.ndarray, num_labels: int) -> None:
        with single_thread():
            self._fit(blocks, labels, num_labels)

    def _fit(self, blocks: Blocks, labels: np.ndarray, num_labels: int) -> None:
        torch.manual_seed(self.seed)
        self.scaler = None
        tokens, mask, fused = self._inputs(blocks)
        self.model = TimelineTransformer(
            num_labels, fused=0 if fused is None else fused.shape[1], **self.options
        ).to(self.device)
        targets = torch.as_tensor(labels, dtype=torch.long)
        counts = torch.bincount(targets, minlength=num_labels).float()
        weights = torch.where(
            counts > 0, counts.sum() / (num_labels * counts.clamp(min=1)), torch.zeros_like(counts)
        )
        loss_fn = nn.CrossEntropyLoss(weight=weights.to(self.device))
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        order = torch.Generator().manual_seed(self.seed)
        self.model.train()
        for _ in range(self.epochs):
            for batch in torch.randperm(len(targets), generator=order).split(self.batch_size):
                logits = self.model(
                    tokens[batch].to(self.device),
                    mask[batch].to(self.device),
                    None if fused is None else fused[batch].to(self.device),
                )
                loss = loss_fn(logits, targets[batch].to(self.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    @torch.no_grad()
    def predict_proba(self, blocks: Blocks) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the head before predicting")
        tokens, mask, fused = self._inputs(blocks)
        self.model.eval()
        with single_thread():
            logits = self.model(
                tokens.to(self.device), mask.to(self.device), None if fused is None else fused.to(self.device)
            )
        return logits.softmax(dim=1).cpu().numpy().astype(np.float64)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters()) if self.model is not None else 0
