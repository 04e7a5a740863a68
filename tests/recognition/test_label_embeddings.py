import numpy as np
import pytest

from perception.taxonomy import ACTION_TO_BODY
from recognition.label_embeddings import label_embeddings, load_label_embeddings, synthetic_label_embeddings
from tests.conftest import SHARED_DATA


def _cosines(matrix):
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    cos = unit @ unit.T
    body = np.asarray(ACTION_TO_BODY)
    same = (body[:, None] == body[None]) & ~np.eye(len(body), dtype=bool)
    return cos[same].mean(), cos[body[:, None] != body[None]].mean()


def test_synthetic_target_is_deterministic_and_shaped_like_word_vectors():
    first, second = synthetic_label_embeddings(), synthetic_label_embeddings()
    assert first.shape == (52, 300) and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, synthetic_label_embeddings(seed=1))
    norms = np.linalg.norm(first, axis=1)
    assert norms.min() > 2.5 and norms.max() < 7.0 and 4.0 < norms.mean() < 5.5
    within, across = _cosines(first)
    assert within > across + 0.1  # body groups share a component
    np.testing.assert_array_equal(label_embeddings(None), first)


def test_loader_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="emb.npy"):
        load_label_embeddings(tmp_path / "emb.npy")
    np.save(tmp_path / "bad.npy", np.zeros((51, 300), np.float32))
    with pytest.raises(ValueError, match=r"bad\.npy: expected a \(52, D\) matrix, got shape \(51, 300\)"):
        load_label_embeddings(tmp_path / "bad.npy")
    np.save(tmp_path / "narrow.npy", np.zeros((52, 200), np.float32))
    with pytest.raises(ValueError, match="width 200 != the model's 300"):
        label_embeddings(tmp_path / "narrow.npy")
    nan = np.zeros((52, 300), np.float32)
    nan[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(ValueError, match="NaN"):
        load_label_embeddings(tmp_path / "nan.npy")


def test_published_embedding_loads():
    path = SHARED_DATA / "ma52" / "label_embeddings_52x300.npy"
    if not path.is_file():
        pytest.skip(f"published label embedding not available at {path}")
    matrix = label_embeddings(path)
    assert matrix.shape == (52, 300) and matrix.dtype == np.float32
    norms = np.linalg.norm(matrix, axis=1)
    assert norms[0] == pytest.approx(4.8123, abs=1e-3) and norms[9] == pytest.approx(6.5102, abs=1e-3)
    within, across = _cosines(matrix)
    assert within == pytest.approx(0.418, abs=0.005) and across == pytest.approx(0.352, abs=0.005)
