"""Foundation checks that notebooks test poorly: offline WordNet, the generator's contract, the memory guard."""
import socket

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from laic_nb import vocab
from laic_nb.core import check_dense_budget, check_features
from laic_nb.data import make_vl_blobs


def test_wordnet_nouns_without_network(monkeypatch):
    def refuse(*args, **kwargs): raise OSError("network disabled by the test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    vocab._noun_table.cache_clear()
    nouns = vocab.wordnet_nouns()
    assert len(nouns) > 100_000 and nouns[0] == "entity"
    assert all("_" not in n for n in nouns[:1000])


def test_package_ships_wordnet_licence():
    assert "Princeton" in (vocab.RESOURCES / "WORDNET_LICENSE").read_text()


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(0, 60), st.integers(8, 40), st.floats(0, 1.5), st.integers(0, 10**6))
def test_make_vl_blobs_contract(k, extra, dim, confusion, seed):
    n = k + extra
    d = make_vl_blobs(n, k, dim, n_nouns=5 * k + 7, n_prompts=3, confusion=confusion, random_state=seed)
    assert d.image_features.shape == (n, dim) and d.prompt_text_features.shape == (3, 5 * k + 7, dim)
    assert np.allclose(np.linalg.norm(d.image_features, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(d.text_features, axis=1), 1, atol=1e-5)
    assert set(np.unique(d.labels)) == set(range(k)) and len(d.nouns) == 5 * k + 7
    assert np.isfinite(d.prompt_text_features).all()


def test_dense_guard_raises_before_allocating():
    with pytest.raises(MemoryError, match="sparse path"):
        check_dense_budget(2_000_000, budget_gb=1)


def test_check_features_rejects_object_and_inf():
    with pytest.raises(ValueError, match="numeric"):
        check_features(np.array([["a", None]], dtype=object))
    with pytest.raises(ValueError, match="NaN or inf"):
        check_features(np.array([[1.0, np.inf]]))
