"""Multi-process training: two CPU ranks over gloo take the same steps as one process with
the same global batch, and only rank 0 writes."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch

from engine import distributed
from engine.sampler import epoch_sampler
from tests.conftest import run_python


def test_rank_shards_of_an_epoch_together_are_the_single_process_order(monkeypatch):
    dataset = list(range(10))
    single = list(epoch_sampler(dataset, seed=3, epoch=2))
    shards = []
    for rank in range(2):
        monkeypatch.setattr(distributed, "world_size", lambda: 2)
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        shards.append(list(epoch_sampler(dataset, seed=3, epoch=2)))
    # rank r's k-th index is position r + 2k of the single-process order, so batch s of size
    # B on each rank covers exactly the single-process batch s of size 2B
    assert shards[0] == single[0::2] and shards[1] == single[1::2]
    assert sorted(shards[0] + shards[1]) == sorted(single) == dataset
    assert single != list(epoch_sampler(dataset, seed=3, epoch=3))  # reshuffled every epoch


def test_ranks_above_zero_get_a_throwaway_hydra_folder(monkeypatch):
    argv = ["run.py", "task=mmad", "hydra.run.dir=/data/run"]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert distributed.secondary_rank_argv(argv) == argv
    monkeypatch.setenv("RANK", "1")
    changed = distributed.secondary_rank_argv(argv)
    assert "hydra.run.dir=/data/run" not in changed and "hydra.output_subdir=null" in changed
    scratch = next(a for a in changed if a.startswith("hydra.run.dir=")).split("=", 1)[1]
    assert "rank1" in scratch


def _run(launcher: tuple[str, ...], run_dir, batch_size: int, tmp_path) -> subprocess.CompletedProcess:
    overrides = [
        "task=mmad",
        "experiment=smoke",
        "cues=rgb_flow",
        "logger=none",
        "trainer.epochs=2",
        f"trainer.batch_size={batch_size}",
        "trainer.augment=null",
        f"data.root={tmp_path / 'data'}",
        f"cue_cache={tmp_path / 'cues'}",
        "data.synthetic.num_train=4",
        "data.synthetic.num_val=0",
        "data.synthetic.num_test=3",
        # equal lengths: a batch is padded to its longest video, and the head's GroupNorm sees
        # the padding, so only equal-length videos batch identically in 1 or 2 processes
        "+data.synthetic.min_duration_s=5",
        "+data.synthetic.max_duration_s=5",
        f"hydra.run.dir={run_dir}",
        # the head one pyramid level at a time: its sums then round alike with 1 or 2 videos per
        # process; the batched head's (one call over the levels) round differently enough that
        # Adam carries it to 111 weights moved past 1e-4 and scores apart by up to 6e-4, which
        # would blur the bounds below that tell synchronised ranks from unsynchronised ones
        "model.head.batch_levels=false",
    ]
    return run_python("experiments/run.py", *overrides, launcher=launcher)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    single = _run((), single_dir, batch_size=2, tmp_path=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    ddp = _run(torchrun, ddp_dir, batch_size=1, tmp_path=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]

    one = torch.load(single_dir / "checkpoint.pt", weights_only=True)
    two = torch.load(ddp_dir / "checkpoint.pt", weights_only=True)
    assert one["epoch"] == two["epoch"] == 1
    # Float sums run in another order across ranks, so equal up to rounding. Adam's step hardly
    # depends on a gradient's size, so rounding in a near-zero gradient can move a weight by up
    # to a step (2e-3 here) in one run and not the other: how far the worst weight lands depends
    # on the CPU's float kernels (under 2e-4 on one machine, 3.4e-4 on another). What does not
    # is how many weights move: rounding moved 2 of 314,879 by over 1e-4, while ranks that did
    # not synchronise (DDP left out), each training on its half batch, moved 228,559.
    differences = {n: (two["model"][n].float() - w.float()).abs() for n, w in one["model"].items()}
    flat = torch.cat([d.flatten() for d in differences.values()])
    worst = max(differences, key=lambda n: differences[n].max())
    assert (flat > 1e-4).float().mean() < 1e-3, (
        f"{(flat > 1e-4).sum().item()} of {flat.numel()} weights differ; worst {worst}"
    )
    assert flat.mean() < 1e-6

    # evaluation was sharded over the ranks and gathered: every test video once, the same
    # detections (near-equal scores may swap places, so compare each video's sorted scores)
    a, b = pd.read_csv(single_dir / "predictions.csv"), pd.read_csv(ddp_dir / "predictions.csv")
    assert list(a["video_id"].unique()) == list(b["video_id"].unique()) and a["video_id"].nunique() == 3
    for video, scores in a.groupby("video_id")["score"]:
        other = b.loc[b["video_id"] == video, "score"]
        np.testing.assert_allclose(np.sort(other)[::-1], np.sort(scores)[::-1], atol=1e-5)
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (single_dir, ddp_dir)]
    assert metrics[0]["num_videos"] == metrics[1]["num_videos"] == 3
    assert metrics[1]["action"]["avg"] == pytest.approx(metrics[0]["action"]["avg"], abs=1e-3)
    # rank 1 wrote nothing into the run directory: it has exactly one run's files
    assert sorted(p.name for p in ddp_dir.iterdir()) == sorted(p.name for p in single_dir.iterdir())
