import numpy as np
import pytest
import torch

from recognition.label_embeddings import synthetic_label_embeddings
from recognition.models.manet import MANetHead, build_manet


def test_head_averages_frame_predictions_over_segments():
    torch.manual_seed(0)
    head = MANetHead(in_features=6, num_classes=5, embedding_dim=3, dropout=0.0, init_std=0.5).eval()
    features = torch.randn(2 * 4, 6, 3, 3)
    logits, embedding = head(features, segments=4)
    pooled = features.mean(dim=(2, 3))
    frame_logits = pooled @ head.fc_cls.weight.T + head.fc_cls.bias
    frame_embedding = head.fc_emb_t(torch.tanh(head.fc_emb(pooled)))
    torch.testing.assert_close(logits, frame_logits.view(2, 4, 5).mean(dim=1))
    torch.testing.assert_close(embedding, frame_embedding.view(2, 4, 3).mean(dim=1))


def test_loss_is_ce_plus_fifty_mse_to_the_label_embedding(tiny_backbone):
    model = build_manet(tiny_backbone())
    np.testing.assert_array_equal(model.label_embedding.numpy(), synthetic_label_embeddings())
    logits = torch.zeros(2, 52)
    logits[0, 3] = 2.0
    embedding = torch.zeros(2, 300)
    labels = torch.tensor([3, 7])
    losses = model.loss({"logits": logits, "embedding": embedding}, labels)
    ce = (-torch.log_softmax(logits, -1)[[0, 1], [3, 7]]).mean()
    mse = (synthetic_label_embeddings()[[3, 7]] ** 2).mean()
    assert losses["ce"].item() == pytest.approx(ce.item(), rel=1e-6)
    assert losses["embedding_mse"].item() == pytest.approx(float(mse), rel=1e-6)
    assert losses["loss"].item() == pytest.approx(ce.item() + 50 * float(mse), rel=1e-6)


def test_forward_shapes_and_segment_check(tiny_backbone, fixed_batch):
    frames, _, _ = fixed_batch
    model = build_manet(tiny_backbone(), input_size=64).eval()
    out = model(frames)
    assert out["logits"].shape == (2, 52) and out["embedding"].shape == (2, 300)
    assert model.input_size == 64
    with pytest.raises(ValueError, match="clips have 3 frames but the TSM backbone shifts over 4"):
        model(frames[:, :3])


def test_published_embedding_by_path(tiny_backbone, tmp_path):
    matrix = np.arange(52 * 300, dtype=np.float32).reshape(52, 300) / 1e4
    np.save(tmp_path / "emb.npy", matrix)
    model = build_manet(tiny_backbone(), label_embeddings_path=tmp_path / "emb.npy")
    np.testing.assert_array_equal(model.label_embedding.numpy(), matrix)
    assert "label_embedding" in model.state_dict()  # the target travels with checkpoints


def test_training_steps_reduce_the_loss_on_a_fixed_batch(tiny_backbone, fixed_batch):
    frames, _, labels = fixed_batch
    model = build_manet(tiny_backbone(), dropout=0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = []
    for _ in range(6):
        losses = model.loss(model(frames), labels)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert history[-1]["embedding_mse"] < history[0]["embedding_mse"]


def test_centred_frames_ignore_what_stays_still(tiny_backbone, fixed_batch):
    """With ``center_frames`` a static change of appearance (a new background added to every
    frame) leaves the outputs unchanged; without it the same change moves them."""
    frames = fixed_batch[0]
    background = torch.randn(1, 1, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    for centred in (True, False):
        model = build_manet(tiny_backbone(center_frames=centred), init_std=0.5).eval()
        with torch.no_grad():
            before = model(frames)["logits"]
            after = model(frames + background)["logits"]
        assert torch.allclose(before, after, atol=1e-4) == centred
