"""Feature distillation (detection/training/distill.py) and task=distill end to end."""

from __future__ import annotations

import copy
import functools
import json

import pytest
import torch

from detection.data.cues import RGBCue
from detection.model.detector import build_detector
from detection.training.distill import (
    DistillConfig,
    DistillStep,
    TeacherMismatch,
    feature_loss,
    score_loss,
)
from perception.adapters import DSTAdapter
from perception.backbone import build_adapted_videomae
from tests.conftest import TINY_VIDEOMAE, run_python

RANGES = [[0, 4], [4, 8], [8, 16], [16, 10000]]


def _detector(dim: int = 32, seed: int = 0, levels: int = 4):
    torch.manual_seed(seed)
    backbone = build_adapted_videomae(TINY_VIDEOMAE, adapter=functools.partial(DSTAdapter))
    return build_detector(
        backbone, {"rgb": RGBCue()}, dim=dim, levels=levels, regression_ranges=RANGES[:levels]
    )


def _batch(seed: int = 1):
    """Two videos of different lengths (32 and 24 frames at the tiny model's 32 px)."""
    generator = torch.Generator().manual_seed(seed)
    videos = [torch.rand(n, 32, 32, 3, generator=generator) for n in (32, 24)]
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :16], mask[1, :12] = True, True
    segments = [torch.tensor([[2.0, 6.0]]), torch.tensor([[1.0, 3.0], [5.0, 9.0]])]
    labels = [torch.tensor([3]), torch.tensor([0, 7])]
    return {"rgb": videos}, mask, segments, labels


def test_feature_and_score_losses_are_zero_for_equal_outputs_and_positive_otherwise():
    generator = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 8, n, generator=generator) for n in (8, 4)]
    masks = [torch.ones(2, 1, n) for n in (8, 4)]
    masks[0][1, :, 6:] = 0  # padding never counts
    assert float(feature_loss(feats, feats, masks)) == pytest.approx(0.0, abs=1e-7)
    shifted = [f + 0.5 for f in feats]
    assert float(feature_loss(shifted, feats, masks)) == pytest.approx(0.25, rel=1e-5)
    only_padding = [feats[0].clone(), feats[1]]
    only_padding[0][1, :, 6:] += 10.0
    assert float(feature_loss(only_padding, feats, masks)) == pytest.approx(0.0, abs=1e-7)

    logits = torch.randn(2, 12, 5, generator=generator)
    valid = torch.ones(2, 12, dtype=torch.bool)
    assert float(score_loss(logits, logits, valid, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(score_loss(logits + 1.0, logits, valid, 2.0)) > 1e-3
    valid[1, 10:] = False
    masked = logits.clone()
    masked[1, 10:] += 5.0
    assert float(score_loss(masked, logits, valid, 2.0)) == pytest.approx(0.0, abs=1e-6)


def test_distill_step_is_zero_for_a_student_equal_to_its_teacher_and_positive_otherwise():
    teacher = _detector()
    config = DistillConfig(detection_weight=0.0)
    same = DistillStep(copy.deepcopy(teacher), teacher, config)
    assert isinstance(same.projection, torch.nn.Identity)  # equal widths: nothing to learn there
    same.detector.eval()
    losses = same(*_batch())
    assert losses["loss"].item() == pytest.approx(0.0, abs=1e-6)
    assert float(losses["detection_loss"]) > 0  # reported, even when weighted out

    other = DistillStep(_detector(seed=1), teacher, config)
    other.detector.eval()
    losses = other(*_batch())
    assert float(losses["feature_loss"]) > 1e-3 and float(losses["score_loss"]) > 1e-6
    assert losses["loss"].item() == pytest.approx(
        float(losses["feature_loss"] + losses["score_loss"]), rel=1e-5
    )


def test_gradients_reach_the_student_and_projection_but_never_the_frozen_teacher():
    teacher = _detector(dim=32)
    student = _detector(dim=16, seed=2)
    step = DistillStep(student, teacher, DistillConfig())
    assert isinstance(step.projection, torch.nn.Conv1d)  # 16 -> 32 channels
    step.train()
    student.train()
    step(*_batch())["loss"].backward()
    assert not teacher.training  # the loop's .train() never reaches the teacher
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert step.projection.weight.grad is not None and step.projection.weight.grad.abs().sum() > 0
    trained = [p for p in student.parameters() if p.requires_grad]
    assert trained and all(p.grad is not None for p in student.heads.parameters())
    # the teacher is neither saved with the student nor optimised: only the projection is extra
    assert set(step.auxiliary_state()) == {"projection.weight", "projection.bias"}
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert not any(id(p) in teacher_ids for p in step.parameters())


def test_a_teacher_on_another_time_axis_is_refused():
    with pytest.raises(TeacherMismatch, match="levels"):
        DistillStep(_detector(levels=3), _detector(levels=4), DistillConfig())
    with pytest.raises(ValueError, match="temperature"):
        DistillConfig(temperature=0.0)


@pytest.mark.slow
def test_tiny_distill_run_gives_an_rgb_only_checkpoint_that_predict_loads(predict_checkpoint, tmp_path):
    """The smoke-size fused detector (untrained: the format is what matters) teaches an RGB
    student; task=predict then runs the student without flow or skeletons."""
    from detection.predict.model import load_predictor

    data, run_dir = tmp_path / "data", tmp_path / "student"
    result = run_python(
        "experiments/run.py",
        "task=distill",
        "experiment=smoke",
        f"distill.teacher={predict_checkpoint.parent}",  # a run directory
        f"data.root={data}",
        "data.synthetic.num_train=3",  # few videos: generating and extracting them is most of the time
        "data.synthetic.num_val=1",
        "data.synthetic.num_test=1",
        f"cue_cache={tmp_path / 'cues'}",
        f"hydra.run.dir={run_dir}",
        "logger=none",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["cues"] == ["rgb"] and metrics["num_videos"] == 1
    assert metrics["teacher"] == str(predict_checkpoint)
    assert (run_dir / "predictions.csv").is_file()
    # the teacher's cues were extracted for training, the student needs none of them
    assert list((tmp_path / "cues" / "flow").glob("*.npz"))

    predictor = load_predictor(run_dir / "checkpoint.pt")
    assert predictor.cues == ["rgb"] and predictor.extractors == {}
    video = sorted((data / "test").glob("*.mp4"))[0]
    predicted = run_python(
        "experiments/run.py",
        "task=predict",
        f"ckpt={run_dir / 'checkpoint.pt'}",
        f"input={video}",
        f"hydra.run.dir={tmp_path / 'predict'}",
        "logger=none",
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert (tmp_path / "predict" / "timelines" / f"{video.stem}.csv").is_file()


def test_the_projection_is_saved_with_the_training_state_and_restored_on_resume(tmp_path):
    from detection.training.resume import restore_training_state, save_training_state
    from detection.training.step import build_optimizer
    from engine.precision import grad_scaler

    def parts(seed: int):
        step = DistillStep(_detector(dim=16, seed=seed), _detector(dim=32), DistillConfig())
        optimizer = build_optimizer(step, 1e-3, 0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        return step, optimizer, scheduler, grad_scaler(torch.device("cpu"), "fp32")

    saved, optimizer, scheduler, scaler = parts(seed=2)
    with torch.no_grad():  # as if trained: no longer what a fresh step initialises
        saved.projection.weight.add_(1.0)
        saved.projection.bias.add_(1.0)
    path = tmp_path / "checkpoint.pt"
    save_training_state(path, saved.detector, optimizer, scheduler, scaler, 0, None, saved.auxiliary_state())
    resumed, optimizer, scheduler, scaler = parts(seed=3)
    assert not torch.equal(resumed.projection.weight, saved.projection.weight)
    epoch = restore_training_state(
        path, resumed.detector, optimizer, scheduler, scaler, torch.device("cpu"), resumed
    )
    assert epoch == 1
    assert torch.equal(resumed.projection.weight, saved.projection.weight)
    assert torch.equal(resumed.projection.bias, saved.projection.bias)
