import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from perception.skeleton import SkeletonConfig
from recognition.dataset import ClipDataset
from recognition.engine import predict, train_step, tsm_param_groups
from recognition.lists import read_split
from recognition.models.dualnet import build_dualnet
from recognition.models.manet import build_manet
from recognition.models.tsm import build_tsm_resnet
from recognition.transforms import ClipTransform

TINY = dict(depth=18, width=0.25, layers=(1, 1, 1, 1), num_segments=4)


def _loader(root, train):
    dataset = ClipDataset(
        read_split(root, "train"),
        num_segments=4,
        transform=ClipTransform(train=train, crop_size=48, scale_size=56),
        skeleton=SkeletonConfig(source="groundtruth"),
        cache_decoded=True,
    )
    return DataLoader(dataset, batch_size=2, shuffle=False)


def test_train_step_and_predict_on_real_clips(clip_root):
    torch.manual_seed(0)
    model = build_dualnet(
        build_tsm_resnet(**TINY, output_stride=16), dim=16, heads=2, roi_size=2, dropout=0.0
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batch = next(iter(_loader(clip_root, train=True)))
    assert batch["landmarks"].shape == (2, 4, 33, 4) and batch["label"].tolist() == [9, 43]
    history = [train_step(model, batch, optimizer, grad_clip=20.0) for _ in range(5)]
    assert {"loss", "ce", "mac", "grad_norm"} <= set(history[0])
    assert history[-1]["loss"] < history[0]["loss"]
    result = predict(model, _loader(clip_root, train=False), progress=False)
    assert result.files == ["0001_01_0001.mp4", "0002_01_0004.mp4"]
    np.testing.assert_array_equal(result.labels, [9, 43])
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert result.embeddings is None


def test_gradient_clipping_bounds_the_update(clip_root):
    torch.manual_seed(0)
    model = build_manet(build_tsm_resnet(**TINY), dropout=0.0)
    batch = next(iter(_loader(clip_root, train=False)))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    stats = train_step(model, batch, optimizer, grad_clip=1e-3)
    assert stats["grad_norm"] > 1e-3  # reported before clipping
    moved = torch.sqrt(
        sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True))
    )
    assert moved.item() == pytest.approx(1e-3, rel=1e-2)  # lr 1 x clipped norm 1e-3


def test_manet_predict_returns_embeddings(clip_root):
    torch.manual_seed(0)
    model = build_manet(build_tsm_resnet(**TINY))
    result = predict(model, _loader(clip_root, train=False), progress=False)
    assert result.embeddings.shape == (2, 300) and result.probabilities.shape == (2, 52)


def test_param_groups_follow_the_tsm_recipe():
    model = build_manet(build_tsm_resnet(**TINY))
    groups = tsm_param_groups(model, lr=0.01, weight_decay=1e-4)
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert len(by_id) == sum(1 for _ in model.parameters())  # every parameter exactly once
    assert sum(len(g["params"]) for g in groups) == len(by_id)
    assert by_id[id(model.head.fc_emb_t.weight)] == (0.05, 1e-4)  # the last registered Linear: 5x
    assert by_id[id(model.head.fc_emb_t.bias)] == (0.1, 0.0)  # 10x, no decay
    assert by_id[id(model.head.fc_cls.weight)] == (0.01, 1e-4)
    assert by_id[id(model.head.fc_cls.bias)] == (0.02, 0.0)  # biases 2x, no decay
    assert by_id[id(model.backbone.stem[0].weight)] == (0.01, 1e-4)
    assert by_id[id(model.backbone.stem[1].weight)] == (0.01, 0.0)  # batch norm: no decay
    assert by_id[id(model.backbone.layer1[0].conv1.gate.fc[0].weight)] == (0.01, 1e-4)
    dual = build_dualnet(build_tsm_resnet(**TINY), dim=16, heads=2, roi_size=2)
    groups = tsm_param_groups(dual, lr=0.01)
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert len(by_id) == sum(1 for _ in dual.parameters())
    assert by_id[id(dual.entity_encoder.entity_embed)] == (0.01, 0.0)
