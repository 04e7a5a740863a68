"""``make reproduce``: the spec it reruns, the comparison it prints, and that the README shows
the figures the spec records (so a README number always comes from a command anyone can run)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from benchmarks import reproduce
from tests.conftest import REPO_ROOT


def test_comparison_reports_per_seed_differences_and_flags_a_mismatch():
    run = {
        "name": "r",
        "metrics": ["action.avg"],
        "expected": {"seeds": {"action.avg": {"0": 10.0, "1": 12.0}}},
    }
    same = {0: {"action": {"avg": 10.0}}, 1: {"action": {"avg": 12.0}}}
    lines, agree = reproduce.compare(run, same, tolerance=0.0)
    assert agree and any("diff +0.000" in line for line in lines)
    assert any("README 11.000 ± 1.414  here 11.000 ± 1.414" in line for line in lines)
    off = {0: {"action": {"avg": 10.5}}, 1: {"action": {"avg": 12.0}}}
    lines, agree = reproduce.compare(run, off, tolerance=0.1)
    assert not agree and any("diff +0.500" in line for line in lines)
    assert reproduce.compare(run, off, tolerance=1.0)[1]
    assert not any("note" in line for line in lines)  # no recording CPU known: no note


def test_comparison_says_when_the_cpu_differs_from_the_recording():
    run = {
        "name": "r",
        "metrics": ["avg"],
        "expected": {"seeds": {"avg": {"0": 1.0}}, "recorded_on": {"cpu": "AMD EPYC", "commit": "abc"}},
    }
    other, _ = reproduce.compare(run, {0: {"avg": 1.0}}, tolerance=0.0, cpu="Intel(R) Xeon(R) Processor")
    same, _ = reproduce.compare(run, {0: {"avg": 1.0}}, tolerance=0.0, cpu="AMD EPYC")
    assert "recorded on 'AMD EPYC', run here on 'Intel(R) Xeon(R) Processor'" in other[0]
    assert not any("recorded on" in line for line in same)


def test_record_stores_seeds_mean_and_std():
    spec = {"runs": [{"name": "r", "metrics": ["avg"]}]}
    reproduce.record(spec, "r", {0: {"avg": 1.0}, 1: {"avg": 3.0}}, {0: 10.0, 1: 12.0}, "CPU X", "abc1234")
    expected = spec["runs"][0]["expected"]
    assert expected["recorded_on"] == {"cpu": "CPU X", "commit": "abc1234"}
    assert expected["seeds"] == {"avg": {"0": 1.0, "1": 3.0}}
    assert expected["summary"]["avg"]["mean"] == pytest.approx(2.0)
    assert expected["summary"]["avg"]["std"] == pytest.approx(2**0.5)


def test_every_spec_run_composes_and_names_metrics_and_fresh_paths():
    from hydra import compose, initialize_config_dir

    spec = json.loads(reproduce.SPEC.read_text())
    assert {r["name"] for r in spec["runs"]} >= {"mmad_demo", "emotion_default"}
    for run in spec["runs"]:
        with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
            cfg = compose("config", overrides=list(run["overrides"]))
        for key in run.get("paths", {}):  # every fresh path replaces a real config value
            node = cfg
            for part in key.split("."):
                node = node[part]
        assert run["metrics"]


def test_the_readme_shows_the_recorded_headline_figures():
    """Each recorded mean ± std appears in the README, formatted with two decimals."""
    spec = json.loads(reproduce.SPEC.read_text())
    readme = (REPO_ROOT / "README.md").read_text()
    recorded = [r for r in spec["runs"] if "expected" in r and not r.get("sweep")]
    for run in recorded:
        for metric, stats in run["expected"]["summary"].items():
            if metric in run.get("readme_skip", []):
                continue
            scale = run.get("readme_scale", 1)
            text = f"{stats['mean'] * scale:.2f} ± {(stats['std'] or 0) * scale:.2f}"
            assert re.search(re.escape(text), readme), f"{run['name']} {metric}: README lacks {text}"


def test_lookup_reads_keys_that_hold_dots():
    metrics = {"action": {"per_tiou": {"0.5": 12.5, "0.1": 20.0}, "avg": 10.0}, "accuracy": 0.5}
    assert reproduce.lookup(metrics, "action.per_tiou.0.5") == 12.5
    assert reproduce.lookup(metrics, "action.avg") == 10.0
    assert reproduce.lookup(metrics, "accuracy") == 0.5
    with pytest.raises(KeyError):
        reproduce.lookup(metrics, "action.per_tiou.0.7")


def test_an_interrupted_record_leaves_the_spec_whole(tmp_path, monkeypatch):
    """``--record`` rewrites the spec the README is checked against: if the write dies before it
    completes (here: the final rename fails), the old spec must still be there, unchanged."""
    spec = tmp_path / "headline.json"
    original = json.dumps({"runs": [{"name": "r", "overrides": [], "metrics": ["avg"]}]}, indent=2) + "\n"
    spec.write_text(original)
    monkeypatch.setattr(reproduce, "run_once", lambda run, seed, workdir, threads: ({"avg": 1.0}, 1.0))

    real_replace = os.replace  # what perception.atomic renames with

    def interrupted(source, destination):
        if Path(destination) == spec:  # as if the process were stopped between write and rename
            raise KeyboardInterrupt
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce.main(["--spec", str(spec), "--record", "--seeds", "0", "--workdir", str(tmp_path / "w")])
    assert spec.read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["headline.json", "w"]  # no temporary left
