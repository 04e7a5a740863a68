"""The sweep report on hand-made sweep directories whose means and stds are known exactly."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from experiments.report import collect_runs, human_count, human_duration, main, metric_value, resolve_metric
from tests.conftest import REPO_ROOT, offline_runs


def mmad_metrics(action: float, body: float, at05: float, seconds: float | None = 60.0) -> dict:
    per_tiou = {f"0.{i}": action for i in range(1, 10)} | {"0.5": at05}
    metrics = {
        "action": {"per_tiou": per_tiou, "avg": action},
        "body": {"per_tiou": {f"0.{i}": body for i in range(1, 10)}, "avg": body},
        "avg": (action + body) / 2,
        "protocol": "official",
        "split": "test",
        "num_videos": 60,
        "permuted_labels_action_avg": 2.0,
        "params": {"trainable": 123456, "total": 999999},
    }
    if seconds is not None:
        metrics["train_seconds"] = seconds
    return metrics


def make_job(sweep: Path, num: int, overrides: list[str], metrics: dict | None) -> Path:
    """A job directory as Hydra writes it; no metrics.json when the job failed."""
    job = sweep / f"{num}_{','.join(overrides)}"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    seed = int(next(o for o in overrides if o.startswith("seed=")).split("=")[1])
    config = {"seed": seed, "logger": {"project": "microactions", "group": None}}
    (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


@pytest.fixture
def sweep(tmp_path) -> Path:
    """cues=rgb: action Avg 10/12/14 (mean 12, std 2), no train_seconds (evaluated from checkpoints);
    cues=rgb_flow: 15/16/17 (mean 16, std 1) in 60/90/120 s, plus a fourth seed that failed."""
    root = tmp_path / "multirun" / "mmad" / "2026-01-01_00-00-00"
    num = 0
    for cues, actions in (("rgb", (10.0, 12.0, 14.0)), ("rgb_flow", (15.0, 16.0, 17.0))):
        for seed, action in enumerate(actions):
            seconds = None if cues == "rgb" else 60.0 + 30 * seed
            overrides = ["task=mmad", f"cues={cues}", f"seed={seed}", "logger=wandb"]
            make_job(root, num, overrides, mmad_metrics(action, 20.0 + seed, action / 2, seconds))
            num += 1
    make_job(root, num, ["task=mmad", "cues=rgb_flow", "seed=3", "logger=wandb"], None)
    return root


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).set_index("combination")


def test_report_csv_holds_exact_means_and_sample_stds(sweep):
    assert main([str(sweep), "--no-wandb"]) == 0
    table = read_csv(sweep / "report.csv")
    assert list(table.index) == ["cues=rgb", "cues=rgb_flow"]  # task=mmad is shared, seed/logger ignored
    assert table.loc["cues=rgb", "action.avg_mean"] == pytest.approx(12.0)
    assert table.loc["cues=rgb", "action.avg_std"] == pytest.approx(2.0)
    assert table.loc["cues=rgb_flow", "action.avg_mean"] == pytest.approx(16.0)
    assert table.loc["cues=rgb_flow", "action.avg_std"] == pytest.approx(1.0)
    assert table.loc["cues=rgb", "body.avg_mean"] == pytest.approx(21.0)
    assert table.loc["cues=rgb", "body.avg_std"] == pytest.approx(1.0)
    assert table.loc["cues=rgb", "avg_mean"] == pytest.approx(16.5)
    assert table.loc["cues=rgb_flow", "action.per_tiou.0.5_mean"] == pytest.approx(8.0)
    assert table.loc["cues=rgb_flow", "action.per_tiou.0.5_std"] == pytest.approx(0.5)
    assert table["n_seeds"].tolist() == [3, 3]
    assert table["n_failed"].tolist() == [0, 1]
    assert table["best"].tolist() == [False, True]
    assert table.loc["cues=rgb_flow", "train_seconds_mean"] == pytest.approx(90.0)
    assert math.isnan(table.loc["cues=rgb", "train_seconds_mean"])  # blank, not 0
    assert table["params_trainable"].tolist() == [123456, 123456]


def test_report_md_marks_the_best_row_lists_the_failure_and_names_the_winner(sweep):
    assert main([str(sweep), "--no-wandb"]) == 0
    text = (sweep / "report.md").read_text()
    assert "| **cues=rgb_flow (best)** | **16.00 ± 1.00** |" in text
    assert "| cues=rgb (best)" not in text
    assert "- jobs: 7 (6 finished, 1 failed)" in text
    assert "`task=mmad`" in text  # what every job shared is stated once
    assert "## Failed jobs" in text
    assert "| `6_task=mmad,cues=rgb_flow,seed=3,logger=wandb` | cues=rgb_flow | 3 | no metrics.json |" in text
    assert "3 (1 failed)" in text
    assert "1m 30s" in text and "123.5K" in text
    assert (
        "**Winner:** `cues=rgb_flow` has the highest action.avg (16.00 ± 1.00), 4.00 above the runner-up "
        "`cues=rgb` (12.00 ± 2.00); the margin is larger than the std over seeds (2.00)."
    ) in text


def test_a_margin_below_the_seed_std_is_reported_as_seed_noise(tmp_path):
    root = tmp_path / "sweep"
    for num, (cues, seed, action) in enumerate(
        [("a", 0, 10.0), ("a", 1, 14.0), ("b", 0, 11.0), ("b", 1, 12.0)]
    ):
        make_job(root, num, [f"cues={cues}", f"seed={seed}"], mmad_metrics(action, 1.0, 1.0))
    assert main([str(root), "--no-wandb"]) == 0
    text = (root / "report.md").read_text()
    assert "`cues=a` has the highest action.avg (12.00 ± 2.83), 0.50 above the runner-up `cues=b`" in text
    assert "within seed noise" in text


def test_one_seed_per_combination_has_no_std_and_says_noise_is_unknown(tmp_path):
    root = tmp_path / "sweep"
    make_job(root, 0, ["cues=a", "seed=0"], mmad_metrics(10.0, 1.0, 1.0))
    make_job(root, 1, ["cues=b", "seed=0"], mmad_metrics(9.0, 1.0, 1.0))
    assert main([str(root), "--no-wandb"]) == 0
    table = read_csv(root / "report.csv")
    assert table["action.avg_std"].isna().all()
    assert "| **cues=a (best)** | **10.00** |" in (root / "report.md").read_text()
    assert "seed noise is unknown" in (root / "report.md").read_text()


def test_report_png_is_a_valid_image(sweep, tmp_path):
    out = tmp_path / "elsewhere"
    assert main([str(sweep), "--no-wandb", "--out", str(out)]) == 0
    with Image.open(out / "report.png") as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 300
    assert not (sweep / "report.md").exists()  # --out, not the sweep dir


def test_emotion_metrics_are_detected_from_metrics_json(tmp_path):
    root = tmp_path / "sweep"
    for num, (fusion, seed, accuracy) in enumerate([("late", 0, 0.5), ("late", 1, 0.7), ("early", 0, 0.8)]):
        metrics = {
            "accuracy": accuracy,
            "macro_f1": accuracy - 0.1,
            "uar": 0.6,
            "confusion": [[1, 0], [0, 1]],
        }
        make_job(root, num, ["task=emotion", f"fusion={fusion}", f"seed={seed}"], metrics)
    assert main([str(root), "--no-wandb"]) == 0
    table = read_csv(root / "report.csv")
    assert [c for c in table.columns if c.endswith("_mean") and c != "train_seconds_mean"] == [
        "accuracy_mean",
        "macro_f1_mean",
        "uar_mean",
    ]
    assert table.loc["fusion=late", "accuracy_mean"] == pytest.approx(0.6)
    assert table.loc["fusion=early", "best"]
    assert "| combination | accuracy | macro_f1 | uar |" in (root / "report.md").read_text()


def test_metric_paths_resolve_keys_that_contain_dots():
    tree = {"action": {"per_tiou": {"0.5": 3.0, "0.10": 1.0}}, "a.b": {"c": 1}, "a": {"b": {"d": 2}}}
    assert resolve_metric(tree, "action.per_tiou.0.5") == 3.0
    assert resolve_metric(tree, "action.per_tiou.0.10") == 1.0
    assert resolve_metric(tree, "a.b.c") == 1  # the longest key first...
    assert resolve_metric(tree, "a.b.d") == 2  # ...and back to shorter ones when that leads nowhere
    assert math.isnan(metric_value(tree, "action.per_tiou.0.7"))
    assert math.isnan(metric_value(tree, "action.per_tiou"))  # a dict is not a number


def test_metrics_option_picks_columns_and_the_ranking_metric(sweep):
    assert main([str(sweep), "--no-wandb", "--metrics", "body.avg,action.per_tiou.0.5"]) == 0
    table = read_csv(sweep / "report.csv")
    assert "action.avg_mean" not in table.columns
    assert table.loc["cues=rgb", "body.avg_mean"] == pytest.approx(21.0)
    assert table.loc["cues=rgb", "action.per_tiou.0.5_mean"] == pytest.approx(6.0)
    assert table["best"].tolist() == [True, False]  # body.avg: tie broken by sweep order


def test_an_unknown_metric_is_a_clear_error(sweep, capsys):
    assert main([str(sweep), "--no-wandb", "--metrics", "action.map"]) == 2
    error = capsys.readouterr().err
    assert "'action.map'" in error and "action.per_tiou.0.5" in error


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None])
def test_a_directory_without_jobs_is_a_clear_error(tmp_path, capsys, make):
    empty = tmp_path / "empty"
    make(empty)
    assert main([str(empty), "--no-wandb"]) == 2
    error = capsys.readouterr().err
    assert "error:" in error and str(empty) in error
    assert not (empty / "report.md").exists()


def test_all_jobs_failed_is_a_clear_error(tmp_path, capsys):
    make_job(tmp_path, 0, ["seed=0"], None)
    assert main([str(tmp_path), "--no-wandb"]) == 2
    assert "all 1 jobs failed" in capsys.readouterr().err


def test_seed_only_sweep_is_one_row_named_by_the_shared_overrides(tmp_path):
    for seed in range(2):
        make_job(tmp_path, seed, ["experiment=smoke", f"seed={seed}"], mmad_metrics(5.0 + seed, 1.0, 1.0))
    frame = collect_runs(tmp_path)
    assert set(frame["combination"]) == {"experiment=smoke"}
    assert main([str(tmp_path), "--no-wandb"]) == 0
    assert "Only one combination" in (tmp_path / "report.md").read_text()


def test_human_readable_numbers():
    assert human_duration(412.5) == "6m 52s"
    assert human_duration(3725) == "1h 02m"
    assert human_duration(42) == "42s"
    assert human_count(123456) == "123.5K"
    assert human_count(20_890_000) == "20.89M"


def test_the_command_line_writes_the_report_into_the_sweep(sweep):
    result = subprocess.run(
        [sys.executable, "experiments/report.py", str(sweep), "--no-wandb"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "| **cues=rgb_flow (best)** |" in (sweep / "report.md").read_text()
    assert (sweep / "report.csv").is_file() and (sweep / "report.png").is_file()


def test_the_table_is_logged_to_an_offline_wandb_run_in_the_sweeps_group(sweep, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out)]) == 0
    (run,) = offline_runs(out)
    assert (run.run_group, run.job_type, run.display_name) == ("mmad/2026-01-01_00-00-00", "report", "report")
    (table_file,) = out.rglob("report_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"][:2] == ["combination", "best"]
    rows = {row[0]: dict(zip(table["columns"], row, strict=True)) for row in table["data"]}
    assert rows["cues=rgb_flow"]["action.avg_mean"] == pytest.approx(16.0)
    assert rows["cues=rgb"]["train_seconds_mean"] is None  # null, not NaN


def test_wandb_report_without_credentials_says_what_it_needs_and_keeps_the_local_report(
    sweep, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc, no stored login
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "home" / ".config" / "wandb"))
    assert main([str(sweep), "--no-wandb", "--wandb-report"]) == 1
    error = capsys.readouterr().err
    assert "wandb login" in error and "server" in error
    assert str(sweep / "report.md") in error
    assert (sweep / "report.md").is_file() and (sweep / "report.csv").is_file()


def test_baseline_states_every_combination_against_it(sweep, capsys):
    """cues=rgb: action Avg mean 12 (std 2); cues=rgb_flow: mean 16 (std 1): +4.00, beyond noise."""
    assert main([str(sweep), "--no-wandb", "--baseline", "cues=rgb"]) == 0
    text = (sweep / "report.md").read_text()
    assert "**Against `cues=rgb`** (action.avg 12.00 ± 2.00):" in text
    assert "- `cues=rgb_flow`: +4.00\n" in text
    assert main([str(sweep), "--no-wandb", "--baseline", "cues=flow"]) == 2
    assert "--baseline 'cues=flow' is not a combination of this sweep" in capsys.readouterr().err


def test_baseline_difference_within_seed_noise_is_said(tmp_path):
    root = tmp_path / "sweep"
    for num, (features, seed, accuracy) in enumerate(
        [("rgb", 0, 0.30), ("rgb", 1, 0.40), ("microaction", 0, 0.32), ("microaction", 1, 0.44)]
    ):
        metrics = {"accuracy": accuracy, "macro_f1": accuracy, "uar": accuracy}
        make_job(root, num, ["task=emotion", f"features={features}", f"seed={seed}"], metrics)
    assert main([str(root), "--no-wandb", "--baseline", "features=rgb"]) == 0
    assert "- `features=microaction`: +0.030 (within seed noise)" in (root / "report.md").read_text()


def test_recognition_metrics_are_detected_from_metrics_json(tmp_path):
    root = tmp_path / "sweep"
    for num, (weight, seed, top1) in enumerate([("50", 0, 20.0), ("50", 1, 24.0), ("0", 0, 18.0)]):
        metrics = {
            "action_top1": top1,
            "action_top5": 50.0,
            "body_top1": 40.0,
            "f1_mean": top1 + 5,
            "control": {"action_top1": 11.0, "f1_mean": 10.0},
            "chance": {"uniform": 100 / 52, "majority_class": 11.0},
        }
        make_job(root, num, ["task=recognition", f"model.embedding_weight={weight}", f"seed={seed}"], metrics)
    assert main([str(root), "--no-wandb"]) == 0
    table = read_csv(root / "report.csv")
    means = [c for c in table.columns if c.endswith("_mean") and c != "train_seconds_mean"]
    assert means == [
        "action_top1_mean",
        "f1_mean_mean",
        "body_top1_mean",
        "action_top5_mean",
        "control.action_top1_mean",
    ]
    assert table.loc["model.embedding_weight=50", "action_top1_mean"] == pytest.approx(22.0)
    assert table.loc["model.embedding_weight=50", "best"]


def test_recognition_sweeps_without_a_control_report_without_its_column(tmp_path):
    root = tmp_path / "sweep"
    for num, (weight, top1) in enumerate([("50", 20.0), ("0", 18.0)]):
        metrics = {"action_top1": top1, "action_top5": 50.0, "body_top1": 40.0, "f1_mean": top1 + 5}
        make_job(root, num, ["task=recognition", f"model.embedding_weight={weight}", "seed=0"], metrics)
    assert main([str(root), "--no-wandb"]) == 0
    table = read_csv(root / "report.csv")
    assert "control.action_top1_mean" not in table.columns
    assert table.loc["model.embedding_weight=50", "action_top1_mean"] == pytest.approx(20.0)
