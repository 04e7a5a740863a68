"""The model configs build the models they describe (Hydra ``_target_`` instantiation)."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recognition.models.dualnet import DualPathNet
from recognition.models.manet import MANet
from recognition.models.tsm import SEGate, ShiftConv
from tests.conftest import REPO_ROOT


def _build(name, **overrides):
    cfg = OmegaConf.load(REPO_ROOT / "configs" / "model" / f"{name}.yaml")
    cfg = OmegaConf.merge(cfg, OmegaConf.create(overrides))
    torch.manual_seed(0)
    return cfg, instantiate(cfg)


def test_real_manet_config_is_the_official_model():
    cfg, model = _build("manet")
    assert isinstance(model, MANet) and model.input_size == 224
    assert model.backbone.num_segments == 8 and model.backbone.num_features == 2048
    assert [len(s) for s in (model.backbone.layer1, model.backbone.layer2, model.backbone.layer3)] == [
        3,
        4,
        6,
    ]
    assert all(
        isinstance(b.conv1, ShiftConv) and isinstance(b.conv1.gate, SEGate) for b in model.backbone.layer3
    )
    assert model.head.dropout.p == 0.5 and model.embedding_weight == 50.0
    assert tuple(model.label_embedding.shape) == (52, 300) and cfg.backbone.pretrained is None


def test_real_dualnet_config_uses_resnet101():
    _, model = _build("dualnet")
    assert isinstance(model, DualPathNet) and model.input_size == 224
    assert len(model.backbone.layer3) == 23 and model.paths == ("st", "ts") and model.fusion == "route"
    assert isinstance(model.backbone.layer1[0].conv1, ShiftConv) and not isinstance(
        model.backbone.layer1[1].conv1, ShiftConv
    )
    assert model.fc_cls.in_features == 2048 + 256


@pytest.mark.parametrize("name", ["manet_tiny", "dualnet_tiny"])
def test_tiny_configs_run_forward(name):
    cfg, model = _build(name)
    size = cfg.input_size
    frames = torch.randn(1, cfg.backbone.num_segments, 3, size, size)
    landmarks = torch.rand(1, cfg.backbone.num_segments, 33, 4) * size
    landmarks[..., 3] = 1.0
    out = model.eval()(frames, landmarks)
    assert out["logits"].shape == (1, 52)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000


def test_ablation_overrides():
    _, model = _build("dualnet_tiny", paths=["ts"], fusion="average", mac_weight=0.0)
    assert model.paths == ("ts",) and model.mac_weight == 0.0
    _, baseline = _build("dualnet_tiny", entities=False)
    assert not hasattr(baseline, "entity_encoder")


def test_only_the_synthetic_demo_centres_frames():
    from tests.conftest import compose_root

    for model in ("manet", "dualnet"):
        demo = compose_root("task=recognition", f"model={model}")
        real = compose_root("task=recognition", f"model={model}", "data=ma52", "data.root=/data")
        assert demo.model.backbone.center_frames is True
        assert real.model.backbone.center_frames is False
