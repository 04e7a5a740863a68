"""The recognition training loop: a run stopped after an epoch and resumed ends with exactly the
weights of an uninterrupted one; the schedule follows the recipe's steps."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recognition.training import RecognitionTrainer, build_optimizer, train
from tests.conftest import REPO_ROOT

SIZE = 32


class RandomClips(torch.utils.data.Dataset):
    """Fixed random clips; the transform randomness of ClipDataset is covered in test_dataset."""

    def __init__(self, count: int = 4) -> None:
        generator = torch.Generator().manual_seed(0)
        self.frames = torch.randn(count, 8, 3, SIZE, SIZE, generator=generator)
        self.labels = torch.randint(0, 52, (count,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"frames": self.frames[index], "label": int(self.labels[index]), "file": f"{index:04d}.mp4"}


def _model() -> torch.nn.Module:
    cfg = OmegaConf.load(REPO_ROOT / "configs" / "model" / "manet_tiny.yaml")
    cfg.input_size = SIZE
    torch.manual_seed(0)
    return instantiate(cfg)


def _trainer(epochs: int) -> RecognitionTrainer:
    # lr steps inside the run, so the resumed part must restore the scheduler too
    return RecognitionTrainer(epochs=epochs, batch_size=2, lr=0.05, lr_steps=[1], workers=0, log_every=1)


@pytest.mark.slow
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    data = RandomClips()
    straight = _model()
    history = train(straight, data, _trainer(3), tmp_path / "straight.pt", seed=1)
    assert len(history) == 3 and all(h["loss"] > 0 for h in history)

    resumed = _model()
    train(resumed, data, _trainer(1), tmp_path / "resumed.pt", seed=1)  # "killed" after epoch 1
    again = _model()  # a fresh process: weights come from the checkpoint alone
    later = train(again, data, _trainer(3), tmp_path / "resumed.pt", seed=1, resume=True)
    assert len(later) == 2  # epochs 2 and 3 only
    for name, value in straight.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    assert not torch.equal(
        straight.state_dict()["head.fc_cls.weight"], resumed.state_dict()["head.fc_cls.weight"]
    )


def test_optimizer_is_the_recipes_sgd_with_tsm_groups():
    model = _model()
    optimizer = build_optimizer(model, RecognitionTrainer(lr=0.02))
    assert isinstance(optimizer, torch.optim.SGD)
    rates = sorted({group["lr"] for group in optimizer.param_groups})
    assert rates == [0.02, 0.04, 0.1, 0.2]  # weights / biases 2x / last linear 5x and 10x
    assert all(group["momentum"] == 0.9 for group in optimizer.param_groups)
    decays = {group["weight_decay"] for group in optimizer.param_groups}
    assert decays == {0.0, 1e-4}
