"""The order of an epoch, identical for any number of processes.

The order is ``randperm(len(dataset))`` from a generator seeded with ``seed * 100_003 + epoch``
(``DistributedSampler``'s own seeding), so a resumed run replays exactly the orders an
uninterrupted one would have used; rank r takes every N-th index from position r, so the
ranks' batches of step s together are the single-process batch s of N times the size.
"""

from __future__ import annotations

from torch.utils.data import Dataset, DistributedSampler

from engine import distributed


def epoch_sampler(dataset: Dataset, seed: int, epoch: int, shuffle: bool = True) -> DistributedSampler:
    """This rank's share of epoch ``epoch``'s (shuffled) order."""
    sampler = DistributedSampler(
        dataset,
        num_replicas=distributed.world_size(),
        rank=distributed.rank(),
        shuffle=shuffle,
        seed=seed * 100_003,
        drop_last=False,
    )
    sampler.set_epoch(epoch)
    return sampler
