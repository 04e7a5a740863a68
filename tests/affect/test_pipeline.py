"""``task=emotion`` end to end on a tiny synthetic emotion set, as a user runs it: a sweep
over two feature sets that shares one detector and its timelines, then the sweep report; and
the other options (ground-truth timelines, RGB fusion, the transformer head, cross-validation)
in process."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from affect.pipeline import run_emotion
from experiments.loggers import NullLogger
from tests.conftest import REPO_ROOT, run_python


def check_metrics(job, num_videos: int) -> dict:
    metrics = json.loads((job / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "uar"):
        assert 0.0 <= metrics[key] <= 1.0
    assert sum(map(sum, metrics["confusion_matrix"])) == num_videos == metrics["num_videos"]
    assert set(metrics["per_class_recall"]) == {"calm", "stressed", "engaged"}
    assert (job / "confusion_matrix.png").is_file()
    predictions = pd.read_csv(job / "predictions.csv")
    assert len(predictions) == num_videos
    assert metrics["accuracy"] == pytest.approx((predictions["label"] == predictions["predicted"]).mean())
    return metrics


@pytest.mark.slow
def test_emotion_sweep_shares_the_detector_and_reports(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_python(
        "experiments/run.py",
        "-m",
        "task=emotion",
        "experiment=emotion_smoke",
        "features=microaction,microaction_cues",
        f"emotion.root={tmp_path / 'data'}",
        f"emotion.cache={tmp_path / 'cache'}",
        f"cue_cache={tmp_path / 'cues'}",
        f"hydra.sweep.dir={sweep}",
        "logger=wandb",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the overrides hold paths, so Hydra's job folders nest: find them by their metrics
    jobs = sorted(
        (p.parent for p in sweep.rglob("metrics.json")), key=lambda p: p.relative_to(sweep).parts[0]
    )
    assert [j.relative_to(sweep).parts[0].split("_", 1)[0] for j in jobs] == ["0", "1"]
    first, second = (check_metrics(job, 9) for job in jobs)
    assert first["features"]["blocks"] == {"microaction": 274}
    assert second["features"]["blocks"]["cues"] == 36 + 24
    assert (
        first["features"]["timelines"]["checkpoint_sha256"]
        == second["features"]["timelines"]["checkpoint_sha256"]
    )
    assert len(list((tmp_path / "cache" / "detectors").iterdir())) == 1  # one detector for the sweep
    first_info, second_info = first["features"]["timelines"], second["features"]["timelines"]
    assert (first_info["detector_from_cache"], second_info["detector_from_cache"]) == (False, True)
    assert (first_info["predicted"], first_info["cached"]) == (24, 0)
    assert (second_info["predicted"], second_info["cached"]) == (0, 24)
    timelines = pd.read_csv(jobs[0] / "timelines.csv")
    assert set(timelines.columns) == {"video_id", "t_start", "t_end", "class", "score"}
    assert (jobs[0] / "wandb").is_dir()

    report = run_python("experiments/report.py", str(sweep), "--no-wandb")
    assert report.returncode == 0, report.stderr[-3000:]
    text = (sweep / "report.md").read_text()
    assert "| combination | accuracy | macro_f1 | uar |" in text
    assert "features=microaction " in text.replace("|", " ") and "features=microaction_cues" in text


@pytest.fixture
def compose_emotion():
    def make(*overrides: str, smoke: bool = True):
        GlobalHydra.instance().clear()
        base = ["task=emotion", "experiment=emotion_smoke"] if smoke else ["task=emotion"]
        with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
            return compose("config", overrides=[*base, *overrides])

    yield make
    GlobalHydra.instance().clear()


def test_groundtruth_timelines_rgb_fusion_transformer_and_cross_validation(
    tmp_path, tiny_emotion_root, compose_emotion
):
    cfg = compose_emotion(
        f"emotion.root={tiny_emotion_root}",
        "emotion.synthetic=null",
        "emotion.timelines=groundtruth",
        "emotion.protocol=cv",
        "emotion.folds=3",
        "features=microaction_rgb",
        "emotion_head=transformer",
        "emotion_head.epochs=5",
        f"emotion.cache={tmp_path / 'cache'}",
    )
    report = run_emotion(cfg, run_dir=tmp_path, logger=NullLogger())
    metrics = check_metrics(tmp_path, 15)
    assert report["accuracy"] == metrics["accuracy"] and metrics["features"]["timelines"] == {
        "source": "groundtruth"
    }
    assert set(metrics["folds"]) == {"fold0", "fold1", "fold2"}
    assert sum(f["num_videos"] for f in metrics["folds"].values()) == 15
    assert metrics["features"]["blocks"]["rgb"] == 2 * 4 * 32  # mean + std of 2 x 2 cells x 32 dims
    assert not (tmp_path / "cache").exists()  # ground truth needs no detector
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    for fold, rows in predictions.groupby("fold"):  # every fold held out whole subjects
        assert not set(rows["subject_id"]) & set(predictions.loc[predictions["fold"] != fold, "subject_id"])


def test_predicted_timelines_need_train_annotations_or_a_checkpoint(
    tmp_path, tiny_emotion_root, compose_emotion
):
    import shutil

    root = tmp_path / "emotion"
    shutil.copytree(tiny_emotion_root, root)
    (root / "train.csv").unlink()
    cfg = compose_emotion(
        f"emotion.root={root}", "emotion.synthetic=null", f"emotion.cache={tmp_path / 'cache'}"
    )
    with pytest.raises(ValueError, match="set emotion.detector_ckpt=PATH"):
        run_emotion(cfg, run_dir=tmp_path, logger=NullLogger())


def test_a_checkpoint_from_elsewhere_is_rebuilt_from_its_stored_config(
    tmp_path, tiny_emotion_root, compose_emotion
):
    """A detector saved with another architecture than this run's config (as a task=mmad run
    saves it) is rebuilt from the config inside the checkpoint, and its timelines are cached."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from engine.checkpoint import save_checkpoint

    trained = compose_emotion("cues=rgb", "model.dim=16")
    model = instantiate(trained.model)
    checkpoint = tmp_path / "elsewhere" / "checkpoint.pt"
    record = json.dumps(OmegaConf.to_container(trained, resolve=True))
    save_checkpoint(checkpoint, {"model": model.state_dict(), "config": record})

    cfg = compose_emotion(  # this run's own model group differs (dim 32, three cues)
        f"emotion.root={tiny_emotion_root}",
        "emotion.synthetic=null",
        f"emotion.detector_ckpt={checkpoint}",
        f"emotion.cache={tmp_path / 'cache'}",
        f"cue_cache={tmp_path / 'cues'}",
    )
    run_dir = tmp_path / "run"
    report = run_emotion(cfg, run_dir=run_dir, logger=NullLogger())
    check_metrics(run_dir, 6)
    timelines = report["features"]["timelines"]
    assert timelines["trained_here"] is False and timelines["checkpoint"] == str(checkpoint)
    assert timelines["detector_params"] == sum(p.numel() for p in model.parameters())
    assert len(list((tmp_path / "cache" / "timelines").rglob("*.csv"))) == 15
    assert not (tmp_path / "cues").exists()  # an RGB-only detector needs no flow or skeletons


def test_the_folder_option_needs_a_root(tmp_path, compose_emotion):
    cfg = compose_emotion("emotion=folder", smoke=False)
    assert cfg.emotion.synthetic is None and cfg.emotion.timelines == "predicted"
    with pytest.raises(ValueError, match="emotion.root is not set"):
        run_emotion(cfg, run_dir=tmp_path, logger=NullLogger())
