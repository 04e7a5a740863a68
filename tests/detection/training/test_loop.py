"""Training-loop behaviour on tiny synthetic data: exact resume and real learning."""

import copy
import math

import pytest
import torch
from torch.utils.data import Subset

from detection.data.annotations import annotations_to_frame, read_mma52_csv
from detection.data.dataset import MMADataset
from detection.evaluation.inference import predict_dataset
from detection.evaluation.metrics import evaluate_detection
from detection.training import TrainerConfig, train
from engine.schedule import accumulation_groups
from perception.adapters import DSTAdapter, PlainAdapter, TIAdapter
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def train_set(tiny_synthetic_root):
    videos = read_mma52_csv(tiny_synthetic_root / "train.csv", video_root=tiny_synthetic_root)
    return MMADataset(videos, tiny_synthetic_root / "train", frame_stride=4, image_size=32, tubelet=2)


class Interrupt(Exception):
    pass


def _stop_after_first_epoch(epoch, _summary):
    if epoch == 0:
        raise Interrupt


def _straight_and_interrupted(model, train_set, config, tmp_path):
    """One uninterrupted run in ``a/`` and one killed after its first epoch in ``b/``, both
    from copies of ``model``; returns the uninterrupted model."""
    straight = copy.deepcopy(model)
    train(straight, train_set, config, tmp_path / "a" / "checkpoint.pt", seed=1)
    with pytest.raises(Interrupt):
        train(
            copy.deepcopy(model),
            train_set,
            config,
            tmp_path / "b" / "checkpoint.pt",
            seed=1,
            on_epoch_end=_stop_after_first_epoch,
        )
    return straight


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_detector, train_set, tmp_path):
    config = TrainerConfig(epochs=2, batch_size=2, lr=1e-3)
    fresh = copy.deepcopy(tiny_detector)
    straight = _straight_and_interrupted(tiny_detector, train_set, config, tmp_path)
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


# --------------------------------------------------------------------------- accumulation and precision


class RecordingLogger:
    def __init__(self) -> None:
        self.logs: list[dict] = []
        self.summaries: dict = {}

    def log(self, metrics, step=None) -> None:
        self.logs.append(dict(metrics, step=step))

    def summary(self, values) -> None:
        self.summaries.update(values)


def test_accumulation_groups_cover_the_epoch():
    assert accumulation_groups(4, 1) == [1, 1, 1, 1]
    assert accumulation_groups(4, 3) == [3, 1]
    assert accumulation_groups(2, 5) == [2]


def test_bad_trainer_options_are_rejected():
    with pytest.raises(ValueError, match="precision"):
        TrainerConfig(precision="fp8")
    with pytest.raises(ValueError, match="accumulate"):
        TrainerConfig(accumulate=0)


def test_accumulating_two_copies_of_a_batch_equals_one_step_on_it(tiny_detector, train_set, tmp_path):
    """Averaging the gradients of two identical batches is exactly the gradient of one: a run
    over [v, v, v, v] accumulating 2 must take the same optimizer steps (count, gradient norm,
    learning rate, resulting weights) as a run over [v, v] without accumulation."""
    runs = {}
    for name, copies, accumulate in (("accumulated", 4, 2), ("reference", 2, 1)):
        model, logger = copy.deepcopy(tiny_detector), RecordingLogger()
        config = TrainerConfig(epochs=2, batch_size=1, lr=1e-3, accumulate=accumulate, log_every=1)
        train(model, Subset(train_set, [0] * copies), config, tmp_path / name / "ckpt.pt", logger=logger)
        runs[name] = (model, logger.logs)
    (accumulated, acc_logs), (reference, ref_logs) = runs["accumulated"], runs["reference"]
    assert len(acc_logs) == len(ref_logs) == 4  # one log per optimizer step, 2 per epoch
    for a, r in zip(acc_logs, ref_logs, strict=True):
        assert a["train/grad_norm"] == pytest.approx(r["train/grad_norm"], rel=1e-4)
        assert a["train/lr"] == pytest.approx(r["train/lr"])
    for (name, a), r in zip(accumulated.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.allclose(a, r, rtol=1e-4, atol=1e-6), name


def test_bf16_autocast_trains_with_16_bit_activations(tiny_detector, train_set, tmp_path):
    dtypes = set()
    block = tiny_detector.streams["rgb"].encoder.encoder.layer[0]
    block.register_forward_hook(
        lambda _m, _i, out: dtypes.add((out[0] if isinstance(out, tuple) else out).dtype)
    )
    before = copy.deepcopy(tiny_detector.state_dict())
    history = train(
        tiny_detector, Subset(train_set, [0, 1]), TrainerConfig(epochs=1, precision="bf16"), tmp_path / "c.pt"
    )
    assert dtypes == {torch.bfloat16}
    assert math.isfinite(history[0]["loss"])
    after = tiny_detector.state_dict()
    assert after["heads.fused.cls_out.weight"].dtype == torch.float32  # master weights stay fp32
    assert not torch.equal(after["heads.fused.cls_out.weight"], before["heads.fused.cls_out.weight"])


def test_fp16_with_accumulation_resumes_exactly(tiny_detector, train_set, tmp_path):
    """fp16 adds a gradient scaler whose state must survive a resume; 4 batches accumulated by
    3 leave a short last group in every epoch."""
    config = TrainerConfig(epochs=2, batch_size=2, lr=1e-3, precision="fp16", accumulate=3)
    straight = _straight_and_interrupted(tiny_detector, train_set, config, tmp_path)
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert state["scaler"]["scale"] > 0  # the scaler's state is checkpointed
    assert state["scheduler"]["last_epoch"] == 2  # optimizer steps in epoch 1: groups of 3 and 1
    resumed = copy.deepcopy(tiny_detector)
    train(resumed, train_set, config, tmp_path / "b" / "checkpoint.pt", seed=1, resume=True)
    for (key, expected), value in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.allclose(expected, value, atol=1e-6), key


# --------------------------------------------------------------------------- the adapter zoo, end to end


def _compose_model(adapter: str):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    overrides = [f"adapter={adapter}", "experiment=smoke", "cues=rgb", "fusion=concat", "logger=none"]
    with initialize_config_dir(config_dir=str(REPO_ROOT / "configs"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    torch.manual_seed(0)
    return instantiate(cfg.model)


@pytest.mark.parametrize("adapter", ["dsta", "tia", "plain", "full", "frozen"])
def test_each_adapter_config_trains_the_right_parameters(adapter, train_set, tmp_path):
    model = _compose_model(adapter)
    backbone = model.streams["rgb"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logger = RecordingLogger()
    train(
        model,
        Subset(train_set, [0, 1]),
        TrainerConfig(epochs=1, batch_size=2),
        tmp_path / "c.pt",
        logger=logger,
    )
    after = model.state_dict()

    def changed(prefix: str) -> bool:
        return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))

    assert changed("heads.")
    assert changed("streams.rgb.encoder.") is (adapter == "full")
    assert changed("streams.rgb.adapters.") is (adapter in ("dsta", "tia", "plain"))
    expected_types = {"dsta": DSTAdapter, "tia": TIAdapter, "plain": PlainAdapter}
    assert {type(a) for a in backbone.adapters} == (
        {expected_types[adapter]} if adapter in expected_types else set()
    )

    counts = logger.summaries
    encoder = sum(p.numel() for p in backbone.encoder.parameters())
    adapters = sum(p.numel() for p in backbone.adapters.parameters())
    assert counts["params/backbone_trainable"] == {"full": encoder, "frozen": 0}.get(adapter, adapters)
    assert counts["params/backbone_total"] == encoder + adapters
    assert counts["params/trainable"] == counts["params/backbone_trainable"] + counts["params/head_trainable"]
