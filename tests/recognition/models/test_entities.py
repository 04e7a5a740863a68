import math

import pytest
import torch

from recognition.models.entities import ENTITIES, EntityEncoder, entity_boxes, pool_entities

NAN = math.nan


def _skeleton():
    """One seated figure in a 100 x 100 crop, pixel coordinates, visibility 1; shoulder width 30."""
    points = {
        0: (50, 20), 1: (46, 18), 2: (45, 18), 3: (44, 18), 4: (54, 18), 5: (55, 18), 6: (56, 18),
        7: (40, 20), 8: (60, 20), 9: (47, 25), 10: (53, 25),
        11: (35, 40), 12: (65, 40), 13: (30, 55), 14: (70, 55),
        15: (28, 70), 16: (72, 70), 17: (26, 74), 18: (74, 74), 19: (28, 76), 20: (72, 76),
        21: (30, 73), 22: (70, 73),
        23: (40, 80), 24: (60, 80), 25: (38, 95), 26: (62, 95), 27: (38, 110), 28: (62, 110),
        29: (37, 112), 30: (63, 112), 31: (40, 114), 32: (60, 114),
    }  # fmt: skip
    frame = torch.tensor([[*points[i], 0.0, 1.0] for i in range(33)])
    return frame


def test_boxes_of_a_hand_made_skeleton():
    frame = _skeleton()
    clip = frame.repeat(4, 1, 1)
    clip[1, [15, 17, 19, 21], :2] = NAN  # left hand lost
    clip[1, [16, 18, 20, 22], 3] = 0.2  # right hand barely visible
    clip[2] = NAN  # nobody in frame 2
    clip[3, 23:, 1] += 25  # legs pushed below the crop
    boxes, mask = entity_boxes(clip[None], (100, 100))
    assert boxes.shape == (1, 4, 6, 4) and mask.shape == (1, 4, 6)
    expected = {  # landmark extremes grown by margin x 30 px, clipped to the crop
        "head": [29.5, 7.5, 70.5, 35.5],  # ears/eyes/mouth 40..60 x 18..25, margin 10.5
        "face": [40.4, 14.4, 59.6, 28.6],  # 44..56 x 18..25, margin 3.6
        "left_hand": [17.0, 61.0, 39.0, 85.0],  # 26..30 x 70..76, margin 9
        "right_hand": [61.0, 61.0, 83.0, 85.0],
        "torso": [30.5, 35.5, 69.5, 84.5],  # 35..65 x 40..80, margin 4.5
        "lower_body": [32.5, 75.5, 67.5, 100.0],  # 37..63 x 80..114, bottom clipped
    }
    for k, name in enumerate(ENTITIES):
        torch.testing.assert_close(boxes[0, 0, k], torch.tensor(expected[name]))
    assert mask[0, 0].all()
    whole = torch.tensor([0.0, 0.0, 100.0, 100.0])
    assert mask[0, 1].tolist() == [True, True, False, False, True, True]
    torch.testing.assert_close(boxes[0, 1, 2], whole)
    torch.testing.assert_close(boxes[0, 1, 3], whole)
    assert not mask[0, 2].any() and torch.equal(boxes[0, 2], whole.expand(6, 4))
    assert mask[0, 3].tolist() == [True, True, True, True, True, False]  # legs 105..139: off the crop


def test_scale_falls_back_when_no_shoulders_are_seen():
    clip = _skeleton().repeat(2, 1, 1)
    clip[:, [11, 12], 3] = 0.0  # shoulders invisible in every frame: scale = 0.25 * 100
    boxes, mask = entity_boxes(clip[None], (100, 100))
    torch.testing.assert_close(boxes[0, 0, 2], torch.tensor([26 - 7.5, 70 - 7.5, 30 + 7.5, 76 + 7.5]))
    assert mask[0, 0, 4]  # torso: hips still count


def test_roi_align_pools_a_known_pattern():
    # channel 0 holds each cell's x index, channel 1 its y index: a 10 x 10 map of a 100 px image
    ys, xs = torch.meshgrid(torch.arange(10.0), torch.arange(10.0), indexing="ij")
    features = torch.stack([xs, ys])[None]
    boxes = torch.tensor([[[20.0, 30.0, 60.0, 70.0], [0.0, 0.0, 100.0, 100.0]]])
    pooled = pool_entities(features, boxes, output_size=2, spatial_scale=0.1)
    assert pooled.shape == (1, 2, 2, 2, 2)
    # aligned: box x 2..6 in cells -> 1.5..5.5 in cell centres; bins 1.5..3.5 and 3.5..5.5
    torch.testing.assert_close(pooled[0, 0, 0], torch.tensor([[2.5, 4.5], [2.5, 4.5]]))
    torch.testing.assert_close(pooled[0, 0, 1], torch.tensor([[3.5, 3.5], [5.5, 5.5]]))
    assert pooled[0, 1, 0].mean() == pytest.approx(4.5, abs=0.3)  # whole image: centred


def test_encoder_adds_entity_and_time_embeddings():
    torch.manual_seed(0)
    encoder = EntityEncoder(in_channels=8, dim=16, num_frames=2, roi_size=3)
    features = torch.zeros(2, 8, 7, 7)  # no signal: every token is its embeddings plus a constant
    boxes = torch.tensor([0.0, 0.0, 56.0, 56.0]).expand(1, 2, 6, 4)
    tokens = encoder.eval()(features, boxes, (56, 56))
    assert tokens.shape == (1, 2, 6, 16)
    base = tokens[0, 0, 0] - encoder.entity_embed[0] - encoder.time_embed[0]
    expected = base + encoder.entity_embed[:, None] + encoder.time_embed[None]  # (K, T, D)
    torch.testing.assert_close(tokens[0].transpose(0, 1), expected)
    assert not torch.allclose(tokens[0, 0, 0], tokens[0, 0, 1])
