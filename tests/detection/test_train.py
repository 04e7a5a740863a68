"""Training-loop behaviour on tiny synthetic data: exact resume and real learning."""

import copy

import pytest
import torch

from detection.annotations import annotations_to_frame, read_mma52_csv
from detection.dataset import MMADataset
from detection.inference import predict_dataset
from detection.metrics import evaluate_detection
from detection.train import TrainerConfig, train


@pytest.fixture(scope="module")
def train_set(tiny_synthetic_root):
    videos = read_mma52_csv(tiny_synthetic_root / "train.csv", video_root=tiny_synthetic_root)
    return MMADataset(videos, tiny_synthetic_root / "train", frame_stride=4, image_size=32, tubelet=2)


class Interrupt(Exception):
    pass


def _stop_after_first_epoch(epoch, _summary):
    if epoch == 0:
        raise Interrupt


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_detector, train_set, tmp_path):
    config = TrainerConfig(epochs=2, batch_size=2, lr=1e-3)
    fresh = copy.deepcopy(tiny_detector)
    straight = copy.deepcopy(tiny_detector)
    train(straight, train_set, config, tmp_path / "a" / "checkpoint.pt", seed=1)

    interrupted = copy.deepcopy(tiny_detector)
    with pytest.raises(Interrupt):
        train(
            interrupted,
            train_set,
            config,
            tmp_path / "b" / "checkpoint.pt",
            seed=1,
            on_epoch_end=_stop_after_first_epoch,
        )
    history = train(fresh, train_set, config, tmp_path / "b" / "checkpoint.pt", seed=1, resume=True)
    assert len(history) == 1  # only the second epoch ran after resuming

    expected, resumed = straight.state_dict(), fresh.state_dict()
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.allclose(expected[key], resumed[key], atol=1e-6), key
    assert not torch.allclose(
        expected["heads.fused.cls_out.weight"], tiny_detector.state_dict()["heads.fused.cls_out.weight"]
    )


def test_no_partial_checkpoint_is_left_behind(tiny_detector, train_set, tmp_path):
    train(tiny_detector, train_set, TrainerConfig(epochs=1), tmp_path / "checkpoint.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


@pytest.mark.slow
def test_training_raises_map_above_the_untrained_model(tiny_detector, train_set, tmp_path):
    gt = annotations_to_frame({a.video_id: a for a in train_set.annotations})
    before = evaluate_detection(gt, predict_dataset(tiny_detector, train_set), protocol="activitynet")
    train(
        tiny_detector,
        train_set,
        TrainerConfig(epochs=25, batch_size=2, lr=3e-3, warmup_epochs=1),
        tmp_path / "checkpoint.pt",
    )
    after = evaluate_detection(gt, predict_dataset(tiny_detector, train_set), protocol="activitynet")
    assert after["action"]["avg"] > before["action"]["avg"] + 5.0
