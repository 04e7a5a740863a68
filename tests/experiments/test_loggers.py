"""W&B run naming, grouping and tagging, and the cluster launcher configs.

The naming rules are pure functions tested on hand-made Hydra choices; one end-to-end multirun
checks that Hydra really hands them what they expect (group shared by the sweep, one run per job),
and that the report command's run joins the same group.
"""

from __future__ import annotations

import pytest

from experiments.loggers import WandbLogger, choice_tags, hydra_run_identity, run_identity, sweep_group_name
from tests.conftest import REPO_ROOT, offline_runs, run_python

CHOICES = {
    "task": "mmad",
    "data": "synthetic",
    "model": "videomae_tiny",
    "adapter": "dsta",
    "cues": "rgb_flow",
    "fusion": "concat",
    "trainer": "default",
    "logger": "wandb",
    "experiment": None,
    "hydra/launcher": "submitit_local",
    "hydra/job_logging": "default",
    "hydra/env": "default",
}


def test_choice_tags_name_every_experiment_choice_and_the_seed():
    assert choice_tags(CHOICES, seed=1) == [
        "task:mmad",
        "data:synthetic",
        "model:videomae_tiny",
        "adapter:dsta",
        "cues:rgb_flow",
        "fusion:concat",
        "trainer:default",
        "seed:1",
    ]


def test_choice_tags_fit_wandbs_64_character_limit():
    (tag,) = choice_tags({"model": "x" * 100})
    assert tag == ("model:" + "x" * 100)[:64]


def test_a_multirun_job_is_named_after_its_job_dir_and_grouped_by_sweep(tmp_path):
    sweep = tmp_path / "multirun" / "mmad" / "2026-01-02_03-04-05"
    identity = run_identity(
        CHOICES, seed=2, multirun=True, sweep_dir=sweep, job_dir=sweep / "5_cues=rgb_flow,seed=2"
    )
    assert identity["name"] == "5_cues=rgb_flow,seed=2"
    assert identity["group"] == "mmad/2026-01-02_03-04-05"
    assert "cues:rgb_flow" in identity["tags"] and "seed:2" in identity["tags"]


def test_a_job_dir_nested_by_a_path_override_keeps_the_whole_relative_name(tmp_path):
    sweep = tmp_path / "sweep"
    job = sweep / "0_data.root=" / "tmp" / "d,seed=0"  # Hydra's subdir for data.root=/tmp/d,seed=0
    assert (
        run_identity({}, multirun=True, sweep_dir=sweep, job_dir=job)["name"] == "0_data.root=/tmp/d,seed=0"
    )


def test_a_single_run_has_no_group(tmp_path):
    identity = run_identity(CHOICES, seed=0, multirun=False, job_dir=tmp_path / "2026-01-02_03-04-05_seed0")
    assert identity["group"] is None
    assert identity["name"] == "2026-01-02_03-04-05_seed0"


def test_sweep_group_name_is_the_same_from_a_relative_or_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "multirun" / "mmad" / "t1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert (
        sweep_group_name("multirun/mmad/t1") == sweep_group_name(tmp_path / "multirun/mmad/t1") == "mmad/t1"
    )


def test_outside_hydra_nothing_is_derived():
    assert hydra_run_identity({"seed": 0}, None) == {}


def test_wandb_logger_outside_hydra_uses_the_given_name_group_and_tags(tmp_path):
    with WandbLogger(
        project="t", mode="offline", run_dir=tmp_path, name="n", group="g", tags=["x"]
    ) as logger:
        logger.log({"loss": 1.0}, step=0)
        logger.summary({"avg": 2.0})
    (run,) = offline_runs(tmp_path)
    assert (run.display_name, run.run_group, list(run.tags)) == ("n", "g", ["x"])


@pytest.mark.slow
def test_a_multirun_logs_one_wandb_run_per_job_in_one_group_and_the_report_joins_it(tmp_path):
    sweep = tmp_path / "multirun" / "mmad" / "sweep1"
    result = run_python(
        str(REPO_ROOT / "experiments" / "run.py"),
        "-m",
        "experiment=smoke",
        "logger=wandb",
        "seed=0,1",
        f"data.root={tmp_path / 'data'}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "wandb").exists()  # no stray run in the working directory, only in job dirs
    runs = offline_runs(sweep)
    assert len(runs) == 2
    assert {r.run_group for r in runs} == {"mmad/sweep1"}
    assert sorted(r.display_name.split("_")[0] for r in runs) == ["0", "1"]  # job numbers lead the names
    for run in runs:
        seed = run.display_name.rsplit("seed=", 1)[1]
        assert {"task:mmad", "experiment:smoke", "model:videomae_tiny", f"seed:{seed}"} <= set(run.tags)
        assert not any(tag.startswith(("logger:", "hydra")) for tag in run.tags)

    report = run_python("experiments/report.py", str(sweep), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-3000:]
    assert "| combination |" in (tmp_path / "report" / "report.md").read_text()
    (report_run,) = offline_runs(tmp_path / "report")
    assert (report_run.run_group, report_run.job_type) == ("mmad/sweep1", "report")


@pytest.mark.slow
def test_the_local_submitit_launcher_runs_a_job_in_a_subprocess_into_its_job_dir(tmp_path):
    """The synthetic data is generated inside the submitit job on purpose: its fork pool hung there
    until run.py gave forked children SIGTERM back (submitit makes the job ignore it)."""
    sweep = tmp_path / "sweep"
    result = run_python(
        "experiments/run.py",
        "-m",
        "hydra/launcher=local",
        "experiment=smoke",
        "logger=none",
        "seed=0",
        f"data.root={tmp_path / 'data'}",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics,) = sweep.rglob("metrics.json")
    assert (metrics.parent / ".hydra" / "overrides.yaml").is_file()  # the job dir, not the cwd
    assert any((sweep / ".submitit").rglob("*_log.out"))  # the job ran through submitit


@pytest.mark.parametrize(
    ("launcher", "target", "expected"),
    [
        ("local", "LocalLauncher", {"gpus_per_node": 0, "tasks_per_node": 1}),
        (
            "slurm",
            "SlurmLauncher",
            {"partition": None, "gpus_per_node": 1, "tasks_per_node": 1, "cpus_per_task": 8, "mem_gb": 64},
        ),
    ],
)
def test_launcher_configs_compose_onto_the_submitit_plugin(launcher, target, expected):
    from hydra import compose, initialize_config_dir
    from hydra.utils import get_class

    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    options = cfg.hydra.launcher
    assert options._target_.endswith(target)
    assert get_class(options._target_).__name__ == target  # the plugin is installed and importable
    assert {key: options[key] for key in expected} == expected
    assert options.timeout_min > 0
    if launcher == "slurm":
        assert options.array_parallelism > 0
