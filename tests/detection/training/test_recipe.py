"""The published training recipe's parts (trainer=adatad): parameter-group learning rates,
warm-up, EMA weights, validation with the best checkpoint kept, and the temporal crop."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from detection.data.annotations import read_mma52_csv
from detection.data.dataset import MMADataset, VideoSample, temporal_crop
from detection.training import TrainerConfig, train
from detection.training.loop import best_checkpoint_path, build_ema
from detection.training.step import build_optimizer
from engine.checkpoint import load_checkpoint
from engine.schedule import warmup_cosine
from tests.conftest import compose_root


def _lrs(optimizer) -> dict[str, set[float]]:
    rates: dict[str, set[float]] = {}
    for group in optimizer.param_groups:
        rates.setdefault(group["group"], set()).add(group["lr"])
    return rates


def test_parameter_groups_get_their_own_learning_rates(tiny_detector):
    rates = {"head": 1e-4, "adapters": 3e-4, "backbone": 1e-5}
    optimizer = build_optimizer(tiny_detector, 2e-3, 0.05, rates)
    assert _lrs(optimizer) == {"head": {1e-4}, "adapters": {3e-4}}  # the frozen backbone is absent
    adapter_ids = {id(p) for p in tiny_detector.streams["rgb"].adapters.parameters()}
    for group in optimizer.param_groups:
        assert all((id(p) in adapter_ids) == (group["group"] == "adapters") for p in group["params"])

    full = copy.deepcopy(tiny_detector)
    for parameter in full.parameters():
        parameter.requires_grad_(True)
    assert _lrs(build_optimizer(full, 2e-3, 0.05, {"backbone": 1e-5}))["backbone"] == {1e-5}
    assert _lrs(build_optimizer(full, 2e-3, 0.05, None)) == {
        g: {2e-3} for g in ("head", "adapters", "backbone")
    }
    with pytest.raises(ValueError, match="unknown parameter groups"):
        build_optimizer(full, 2e-3, 0.05, {"neck": 1e-4})


def test_warmup_then_cosine_scales_every_group_alike(tiny_detector):
    factor = warmup_cosine(total_steps=100, warmup_steps=10)  # e.g. 5 warm-up epochs of 2 steps
    assert [factor(s) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert [factor(s) for s in (10, 55, 100)] == pytest.approx([1.0, 0.5, 0.0])
    optimizer = build_optimizer(tiny_detector, 1.0, 0.0, {"head": 1e-4, "adapters": 2e-4})
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    assert {g["group"]: g["lr"] for g in optimizer.param_groups} == pytest.approx(
        {"head": 0.5e-4, "adapters": 1e-4}
    )


def test_ema_follows_its_update_formula():
    model = torch.nn.Linear(2, 2)
    ema = build_ema(model, 0.9)
    ema.update_parameters(model)  # the first update copies the weights
    first = model.weight.detach().clone()
    assert torch.equal(ema.module.weight, first)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update_parameters(model)
    assert torch.allclose(ema.module.weight, 0.9 * first + 0.1 * model.weight)


@pytest.fixture(scope="module")
def small_train_set(tiny_synthetic_root):
    videos = read_mma52_csv(tiny_synthetic_root / "train.csv", video_root=tiny_synthetic_root)
    videos = dict(list(videos.items())[:4])
    return MMADataset(videos, tiny_synthetic_root / "train", frame_stride=4, image_size=32, tubelet=2)


def test_validation_keeps_the_best_epoch_and_the_run_ends_on_its_ema_weights(
    tiny_detector, small_train_set, tmp_path
):
    scores = iter([1.0, 3.0, 2.0])
    seen: list[dict[str, torch.Tensor]] = []

    def validate(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    config = TrainerConfig(
        epochs=3, batch_size=2, lr=1e-3, ema=0.5, validate_every=1, temporal_crop=[0.9, 1.0]
    )
    history = train(tiny_detector, small_train_set, config, tmp_path / "checkpoint.pt", validate=validate)
    assert [h["val_score"] for h in history] == [1.0, 3.0, 2.0]
    best = load_checkpoint(best_checkpoint_path(tmp_path / "checkpoint.pt"))
    assert (best["epoch"], best["val_score"]) == (1, 3.0)
    final = tiny_detector.state_dict()
    for name, value in seen[1].items():  # the validated (EMA) weights of epoch 2 are kept and loaded
        assert torch.equal(best["model"][name], value) and torch.equal(final[name], value)
    last = load_checkpoint(tmp_path / "checkpoint.pt")
    assert last["best_score"] == 3.0 and "ema_model" in last  # resuming keeps both
    differs = [n for n in last["model"] if not torch.equal(last["model"][n], last["ema_model"][n])]
    assert differs  # the average is not the raw weights


def _sample(frames: int = 100) -> VideoSample:
    return VideoSample(
        "v",
        np.arange(frames, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3),
        fps=10.0,
        duration=frames / 10.0,
        step_seconds=0.2,  # tubelet 2 at 10 fps
        segments=np.array([[0.0, 1.0], [4.0, 6.0], [9.5, 10.0]], dtype=np.float32),
        labels=np.array([1, 2, 3]),
        cues={
            "skeleton": {"body": np.arange(frames), "present": np.ones(frames, bool)},
            "flow": {"clip": 4.0},
        },
    )


def test_temporal_crop_stays_within_its_bounds_and_shifts_everything_alike():
    sample = _sample()
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(200):
        cut = temporal_crop(sample, (0.9, 1.0), tubelet=2, rng=rng)
        length = len(cut.frames)
        lengths.add(length)
        assert 90 <= length <= 100 and length % 2 == 0
        start = int(cut.frames[0, 0, 0, 0])
        assert start % 2 == 0 and np.array_equal(cut.frames[:, 0, 0, 0], np.arange(start, start + length))
        assert np.array_equal(cut.cues["skeleton"]["body"], np.arange(start, start + length))
        assert cut.cues["flow"]["clip"] == 4.0
        span = length / 10.0
        assert np.all(cut.segments >= 0) and np.all(cut.segments <= span + 1e-6)
        assert cut.duration <= span + 1e-6
        # the middle action is always whole, shifted by the crop's start
        middle = cut.segments[cut.labels == 2]
        assert np.allclose(middle, [[4.0 - start / 10.0, 6.0 - start / 10.0]])
        assert len(cut.segments) == len(cut.labels)
    assert len(lengths) > 1  # the share varies


def test_temporal_crop_drops_an_action_mostly_cut_away():
    sample = _sample()
    rng = np.random.default_rng(1)
    for _ in range(100):
        cut = temporal_crop(sample, (0.9, 0.9), tubelet=2, rng=rng)
        start = int(cut.frames[0, 0, 0, 0]) / 10.0
        kept_first = 1 in cut.labels
        assert kept_first == (1.0 - start >= 0.5)  # [0, 1] s keeps its target while half remains


def test_the_real_configs_carry_the_published_recipe():
    real = compose_root("task=mmad", "data=mma52", "data.root=/data", "model=videomae_s")
    trainer = real.trainer
    assert (trainer.warmup_epochs, trainer.ema, trainer.precision) == (5, 0.999, "bf16")
    assert dict(trainer.lr_groups) == {"head": 1e-4, "adapters": 2e-4, "backbone": 1e-5}
    assert trainer.validate_every > 0 and list(trainer.temporal_crop) == [0.9, 1.0]
    assert trainer.augment.channel_shuffle == 0 and real.model.neck.standardize is False
    assert list(trainer.augment.crop_area) == [0.08, 1.0]  # AdaTAD's random resized crop
    assert real.model.backbone.grad_checkpointing is True
    assert (real.model.postprocess.sigma, real.model.postprocess.max_segments) == (0.7, 2000)
    assert real.model.postprocess.min_score == 0
    assert (real.data.fit, real.data.stream) == ("center_crop", True)
    demo = compose_root("task=mmad")
    assert demo.trainer.ema is None and demo.trainer.validate_every == 0 and demo.data.stream is False
    assert demo.trainer.augment.crop_area is None
