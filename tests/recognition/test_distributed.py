"""task=recognition under torchrun: two CPU ranks over gloo train together and rank 0 alone
writes the run's outputs. (The weights are not compared with a single process: the TSM
ResNets' BatchNorm sees each rank's own batch, so N ranks of batch B do not equal one of N*B.)"""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_python


@pytest.mark.slow
def test_two_gloo_processes_train_and_rank_zero_writes_the_outputs(tmp_path):
    run_dir = tmp_path / "ddp"
    result = run_python(
        "experiments/run.py",
        "task=recognition",
        "model=manet",
        "logger=none",
        "task.control=false",
        f"data.root={tmp_path / 'data'}",
        "data.synthetic.num_train=4",
        "data.synthetic.num_val=0",
        "data.synthetic.num_test=2",
        "data.synthetic.size=48",
        "+data.synthetic.min_per_class=0",
        "data.synthetic.workers=1",
        "model.input_size=32",
        "trainer.epochs=1",
        "trainer.batch_size=1",
        "threads=1",
        f"hydra.run.dir={run_dir}",
        launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 0
    assert json.loads((run_dir / "metrics.json").read_text())["num_clips"] == 2
    written = {p.name for p in run_dir.iterdir()}
    assert {"checkpoint.pt", "metrics.json", "confusion.png", "prediction_mac2025.zip"} <= written
    assert "control" not in written
