import math

import pytest
import torch

from detection.model.head import make_points
from detection.model.losses import diou_loss_1d, sigmoid_focal_loss
from detection.model.postprocess import PostprocessConfig, decode_video, soft_nms
from detection.model.targets import assign_targets

RANGES = [(0, 4), (4, 8), (8, 16)]


def _points():
    return make_points([32, 16, 8], RANGES)


def test_diou_is_zero_for_perfect_regression_and_matches_hand_computation():
    assert diou_loss_1d(torch.tensor([[2.0, 3.0]]), torch.tensor([[2.0, 3.0]])).item() == pytest.approx(0.0)
    # pred [t-1, t+1], gt [t-1, t+3]: IoU = 2/4; enclosing = 4; centre distance = 1 -> 0.5 + (1/4)^2
    loss = diou_loss_1d(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 3.0]]))
    assert loss.item() == pytest.approx(0.5625)


def test_focal_loss_prefers_confident_correct_scores():
    target = torch.tensor([[1.0, 0.0]])
    good = sigmoid_focal_loss(torch.tensor([[4.0, -4.0]]), target, reduction="sum")
    bad = sigmoid_focal_loss(torch.tensor([[-4.0, 4.0]]), target, reduction="sum")
    assert good < 0.01 < bad


def test_center_sampling_and_regression_ranges_pick_the_hand_computed_points():
    cls, reg = assign_targets(_points(), torch.tensor([[10.0, 20.0]]), torch.tensor([3]), num_classes=5)
    positive = torch.nonzero(cls.sum(1)).squeeze(1).tolist()
    # level 0 (stride 1): centre points 14..16 reach >= 5 > 4, out of range.
    # level 1 (stride 2, radius 3): 12 < t < 18 -> t = 14, 16 (reach 6 in [4, 8]): indices 32 + 7, 32 + 8.
    # level 2 (stride 4, radius 6): 10 < t < 20 -> t = 12 (reach 8 in [8, 16]), t = 16 (reach 6, out).
    assert positive == [39, 40, 51]
    assert torch.all(cls[positive, 3] == 1) and cls.sum() == 3
    assert reg[39].tolist() == [2.0, 3.0]  # (14 - 10) / 2, (20 - 14) / 2
    assert reg[51].tolist() == [0.5, 2.0]  # (12 - 10) / 4, (20 - 12) / 4


def test_overlapping_actions_of_equal_length_give_multi_label_targets():
    segments = torch.tensor([[10.0, 20.0], [10.0, 20.0]])
    cls, _ = assign_targets(_points(), segments, torch.tensor([1, 4]), num_classes=5)
    assert torch.equal(cls[39], torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0]))


def test_shortest_action_wins_the_point():
    segments = torch.tensor([[8.0, 22.0], [11.0, 19.0]])  # both centred at 15
    cls, reg = assign_targets(make_points([32], [(0, 10_000)]), segments, torch.tensor([0, 2]), num_classes=3)
    assert cls[15].tolist() == [0.0, 0.0, 1.0] and reg[15].tolist() == [4.0, 4.0]


def test_no_actions_gives_all_negative_targets():
    cls, reg = assign_targets(_points(), torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), num_classes=5)
    assert cls.sum() == 0 and cls.shape == (56, 5) and reg.shape == (56, 2)


def test_soft_nms_decays_overlaps_and_keeps_disjoint_segments():
    segments = torch.tensor([[0.0, 10.0], [0.0, 10.0], [20.0, 30.0]])
    kept, scores = soft_nms(segments, torch.tensor([0.9, 0.8, 0.7]), sigma=0.5, min_score=0.0)
    assert scores.tolist() == pytest.approx([0.9, 0.7, 0.8 * math.exp(-1 / 0.5)])
    assert kept[1].tolist() == [20.0, 30.0]


def test_decoding_never_suppresses_across_classes():
    points = make_points([8], [(0, 10_000)])
    logits = torch.full((8, 3), -20.0)
    logits[4, 0] = logits[4, 2] = 5.0  # two classes fire at the same point
    offsets = torch.full((8, 2), 2.0)
    config = PostprocessConfig(min_score=0.01)
    segments, scores, labels = decode_video(
        [logits], [offsets], points, torch.ones(8, dtype=torch.bool), config
    )
    assert sorted(labels.tolist()) == [0, 2]
    assert torch.allclose(segments, torch.tensor([[2.0, 6.0], [2.0, 6.0]]))
    assert torch.allclose(scores, torch.sigmoid(torch.tensor(5.0)).expand(2))


def test_detector_loss_and_predictions_on_padded_batch(tiny_detector):
    frames = [torch.randint(0, 255, (t, 32, 32, 3), dtype=torch.uint8) for t in (40, 64)]
    mask = torch.zeros(2, 32, dtype=torch.bool)
    mask[0, :20] = True
    mask[1, :32] = True
    losses = tiny_detector.loss(
        {"rgb": frames},
        mask,
        [torch.tensor([[2.0, 9.0]]), torch.tensor([[5.0, 25.0]])],
        [torch.tensor([3]), torch.tensor([9])],
    )
    assert torch.isfinite(losses["loss"]) and losses["num_pos"] > 0
    losses["loss"].backward()
    assert tiny_detector.heads["fused"].cls_out.weight.grad.abs().sum() > 0
    tiny_detector.eval()
    found = tiny_detector.predict({"rgb": frames}, mask)
    assert len(found) == 2
    # candidates come only from the shorter video's real (unpadded) steps
    assert found[0].segments.shape[0] > 0
    assert float(found[0].segments[:, 0].max()) < 20


def test_standardize_over_time_removes_per_video_constants_and_ignores_padding():
    from detection.model.head import standardize_over_time

    torch.manual_seed(0)
    motion = torch.randn(1, 4, 10)
    offset = torch.randn(1, 4, 1) * 50  # appearance: constant through the video
    mask = torch.ones(1, 1, 10)
    a = standardize_over_time(motion, mask)
    b = standardize_over_time(motion + offset, mask)
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(a.mean(-1), torch.zeros(1, 4), atol=1e-5)

    padded = torch.cat([motion, torch.full((1, 4, 6), 99.0)], dim=-1)
    padded_mask = torch.cat([mask, torch.zeros(1, 1, 6)], dim=-1)
    c = standardize_over_time(padded, padded_mask)
    assert torch.allclose(c[..., :10], a, atol=1e-5) and torch.all(c[..., 10:] == 0)
