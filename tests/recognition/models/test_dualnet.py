import pytest
import torch

from recognition.models.dualnet import EntityPath, build_dualnet, mac_loss

SMALL = dict(dim=16, heads=2, roi_size=2, input_size=64)


def _model(tiny_backbone, **options):
    backbone = tiny_backbone(output_stride=16, se_gate=False)
    torch.manual_seed(0)
    return build_dualnet(backbone, **{**SMALL, **options})


def test_routing_weights_sum_to_one_per_entity(tiny_backbone, fixed_batch):
    frames, landmarks, _ = fixed_batch
    model = _model(tiny_backbone).eval()
    out = model(frames, landmarks)
    weights = out["route_weights"]
    assert weights.shape == (2, 6, 2)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 6))
    assert (weights > 0).all() and not torch.allclose(weights, torch.full_like(weights, 0.5))
    # the fused entity of each clip is the routed mix of the two paths
    assert out["entity_present"].tolist() == [[True] * 6, [True, True, False, True, True, True]]


def test_fixed_fusion_and_temperature(tiny_backbone, fixed_batch):
    frames, landmarks, _ = fixed_batch
    out = _model(tiny_backbone, fusion="average").eval()(frames, landmarks)
    torch.testing.assert_close(out["route_weights"], torch.full((2, 6, 2), 0.5))
    hot = _model(tiny_backbone, route_temperature=1.0).eval()(frames, landmarks)["route_weights"]
    cold = _model(tiny_backbone, route_temperature=0.01).eval()(frames, landmarks)["route_weights"]
    assert (cold.max(dim=-1).values >= hot.max(dim=-1).values - 1e-6).all()  # sharper routing


def test_mac_loss_is_zero_when_the_paths_agree():
    torch.manual_seed(0)
    entity = torch.randn(3, 6, 8)
    logits = torch.randn(3, 52)
    present = torch.ones(3, 6, dtype=torch.bool)
    agree = mac_loss(entity, entity.clone(), present, logits, logits.clone())
    assert agree["mac"].item() == pytest.approx(0.0, abs=1e-6)
    scaled = mac_loss(entity, 2.5 * entity, present, logits, logits)  # cosine ignores the norm
    assert scaled["mac_entity"].item() == pytest.approx(0.0, abs=1e-6)
    differ = mac_loss(entity, torch.randn(3, 6, 8), present, logits, torch.randn(3, 52))
    assert differ["mac_entity"].item() > 0.1 and differ["mac_action"].item() > 0.1


def test_mac_loss_values_by_hand():
    e_st = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    e_ts = torch.tensor([[[0.0, 1.0], [-1.0, 0.0]]])  # cos 0 and -1
    present = torch.tensor([[True, False]])  # the second entity is never seen: ignored
    logits_st = torch.log(torch.tensor([[0.5, 0.5]]))
    logits_ts = torch.log(torch.tensor([[0.25, 0.75]]))
    out = mac_loss(e_st, e_ts, present, logits_st, logits_ts)
    assert out["mac_entity"].item() == pytest.approx(1.0)
    kl_pq = 0.5 * torch.log(torch.tensor(2.0)) + 0.5 * torch.log(torch.tensor(0.5 / 0.75))
    kl_qp = 0.25 * torch.log(torch.tensor(0.5)) + 0.75 * torch.log(torch.tensor(1.5))
    assert out["mac_action"].item() == pytest.approx(0.5 * (kl_pq + kl_qp).item(), rel=1e-5)


def test_paths_apply_attention_in_their_order():
    torch.manual_seed(0)
    path = EntityPath("ts", dim=8, heads=2, layers=1, dropout=0.0).eval()
    x = torch.randn(2, 3, 6, 8)
    mask = torch.ones(2, 3, 6, dtype=torch.bool)
    ts = path(x, mask)
    torch.testing.assert_close(ts, path._spatial(path._temporal(x, mask), mask))
    path.order = "st"
    st = path(x, mask)
    torch.testing.assert_close(st, path._temporal(path._spatial(x, mask), mask))
    assert not torch.allclose(st, ts)


def test_masked_entities_do_not_influence_the_others():
    torch.manual_seed(0)
    path = EntityPath("st", dim=8, heads=2, layers=1, dropout=0.0).eval()
    x = torch.randn(1, 3, 6, 8)
    mask = torch.ones(1, 3, 6, dtype=torch.bool)
    mask[0, :, 2] = False
    y = x.clone()
    y[0, :, 2] += 5.0  # change only the masked entity
    diff = (path(x, mask) - path(y, mask)).abs()
    assert diff[0, :, [0, 1, 3, 4, 5]].max() < 1e-5
    everything_masked = torch.zeros_like(mask)
    assert torch.isfinite(path(x, everything_masked)).all()


def test_ablation_switches(tiny_backbone, fixed_batch):
    frames, landmarks, labels = fixed_batch
    single = _model(tiny_backbone, paths=["ts"])
    out = single.eval()(frames, landmarks)
    assert "route_weights" not in out and set(single.path_modules) == {"ts"}
    assert set(single.loss(out, labels)) == {"loss", "ce"}
    baseline = _model(tiny_backbone, entities=False).eval()
    out = baseline(frames)  # no landmarks needed
    assert set(out) == {"logits"} and baseline.fc_cls.in_features == 128
    no_mac = _model(tiny_backbone, mac_weight=0.0)
    losses = no_mac.loss(no_mac.eval()(frames, landmarks), labels)
    assert losses["loss"].item() == pytest.approx(losses["ce"].item())
    with pytest.raises(ValueError, match="needs landmarks"):
        _model(tiny_backbone)(frames)
    with pytest.raises(ValueError, match="paths must be"):
        _model(tiny_backbone, paths=["st", "xy"])


def test_training_steps_reduce_the_loss_on_a_fixed_batch(tiny_backbone, fixed_batch):
    frames, landmarks, labels = fixed_batch
    model = _model(tiny_backbone, dropout=0.0, attention_dropout=0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = []
    for _ in range(6):
        losses = model.loss(model(frames, landmarks), labels)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    assert set(history[0]) == {"loss", "ce", "mac", "mac_entity", "mac_action"}
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert model.path_modules["st"].spatial.layers[0].linear1.weight.grad is not None
