"""Bad input and the closed form of the second paper's method (laic_nb.relational, laic_nb.centers).

Fast (a few seconds on CPU): tiny random-weights open_clip model, synthetic data.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from laic_nb.core import l2_normalize
from laic_nb.data import make_vl_blobs
from laic_nb.relational import (RelationalKMeans, candidate_nouns, consistent_pseudo_labels, default_consistency_k,
                                paper2_n_centers, relational_matrix)
from laic_nb.centers import SemanticCenters
from laic_nb.clip import tiny_clip


def _ridge_reference(x, t, lam):
    "Least squares on the stacked system [T^T; sqrt(lam) I] c = [x; 0], one image at a time."
    a = np.vstack([t.T, np.sqrt(lam) * np.eye(len(t))])
    return np.stack([np.linalg.lstsq(a, np.r_[xi, np.zeros(len(t))], rcond=None)[0] for xi in x])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 30), d=st.integers(1, 16),
       lam=st.floats(0.05, 100.0), seed=st.integers(0, 2**16))
def test_relational_matrix_equals_stacked_lstsq(n, m, d, lam, seed):
    rng = np.random.default_rng(seed)
    x = l2_normalize(rng.standard_normal((n, d)))
    t = l2_normalize(rng.standard_normal((m, d)))
    ref = _ridge_reference(x, t, lam)
    tol = 2e-6 * max(1.0, np.abs(ref).max())
    for how in ("auto", "text", "feature"):
        c = relational_matrix(x, t, lam=lam, solve=how)
        assert c.shape == (n, m) and c.dtype == np.float32
        np.testing.assert_allclose(c, ref, atol=tol, rtol=0)


@pytest.mark.parametrize("m,d", [(40, 8), (5, 12)])  # M > d and M < d
def test_relational_matrix_both_solves_agree(m, d):
    rng = np.random.default_rng(1)
    x, t = l2_normalize(rng.standard_normal((30, d))), l2_normalize(rng.standard_normal((m, d)))
    np.testing.assert_allclose(relational_matrix(x, t, 10.0, "text"), relational_matrix(x, t, 10.0, "feature"),
                               atol=1e-6)


@pytest.mark.parametrize("lam", [0, -1.0, float("nan"), float("inf")])
def test_lam_must_be_positive(lam):
    x = np.eye(3, 4, dtype=np.float32)
    with pytest.raises(ValueError, match="lam must be a positive"):
        relational_matrix(x, x, lam=lam)
    with pytest.raises(ValueError, match="'lam' parameter of RelationalKMeans must be a float in the range"):
        RelationalKMeans(2, text_features=x, lam=lam, filter_nouns=False).fit(x)


def test_relational_matrix_rejects_bad_arrays():
    x = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="same CLIP model"):
        relational_matrix(x, np.ones((5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        relational_matrix(np.full((2, 3), np.nan), x)
    with pytest.raises(ValueError, match="2-dimensional"):
        relational_matrix(np.ones(3), x)


def test_relational_matrix_respects_dense_budget(monkeypatch):
    monkeypatch.setenv("LAIC_DENSE_BUDGET_GB", "0.000001")
    x = np.ones((100, 4), dtype=np.float32)
    with pytest.raises(MemoryError, match="relational matrix"):
        relational_matrix(x, np.ones((50, 4)))


@pytest.mark.parametrize("k", [20, 21, 0])
def test_k_must_be_below_n(k):
    c = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 19\] \(N - 1 = 19: a sample is not its own neighbour"):
        consistent_pseudo_labels(c, np.zeros(20, dtype=int), k=k)


def test_no_sample_passes_the_filter_names_the_numbers():
    c = np.random.default_rng(0).standard_normal((30, 4))
    labels = np.arange(30)  # every sample alone in its class: no neighbour ever agrees
    with pytest.raises(ValueError, match=r"N=30, k=5, threshold=1.0, best score 0\.000"):
        consistent_pseudo_labels(c, labels, k=5, threshold=1.0)
    with pytest.raises(ValueError, match="threshold must be in"):
        consistent_pseudo_labels(c, labels, k=5, threshold=1.5)


def test_filter_scores_and_mask():
    b = make_vl_blobs(n_samples=300, n_clusters=5, dim=32, n_nouns=60, random_state=0)
    labels = b.labels.copy()
    s, m = consistent_pseudo_labels(b.image_features, labels, k=5, threshold=0.6)
    assert s.shape == (300,) and m.dtype == bool
    assert np.all((s >= 0) & (s <= 1)) and np.array_equal(m, s >= 0.6)
    assert np.all(np.isclose(s * 5, np.round(s * 5)))  # a share of k neighbours


@pytest.fixture(scope="module")
def small():
    b = make_vl_blobs(n_samples=120, n_clusters=4, dim=64, n_nouns=40, random_state=0)
    return b, b.labels.copy(), np.ones(120, dtype=bool)


def test_one_center_per_pseudo_label_class(small):
    "K is the number of pseudo-label classes, whatever their ids (strings too); labels come back in the same ids."
    b, y, m = small
    names = np.array(["cat", "dog", "ship", "tree"])[y]
    sc = SemanticCenters(model=tiny_clip(), epochs=1, init_steps=5, progress=False, num_threads=1).fit(b.image_features, names, m)
    assert list(sc.classes_) == ["cat", "dog", "ship", "tree"] and sc.centers_.shape == (4, 64)
    assert set(sc.labels_) <= set(sc.classes_) and set(sc.predict(b.image_features[:5])) <= set(sc.classes_)


def test_semantic_centers_other_bad_input(small):
    b, y, m = small
    model = tiny_clip()
    with pytest.raises(ValueError, match="needs an open_clip model"):
        SemanticCenters().fit(b.image_features, y, m)
    with pytest.raises(ValueError, match="keeps no sample"):
        SemanticCenters(model=model).fit(b.image_features, y, np.zeros(120, bool))
    with pytest.raises(ValueError, match="boolean vector"):
        SemanticCenters(model=model).fit(b.image_features, y, np.ones(120, int))
    with pytest.raises(ValueError, match="one label per image"):
        SemanticCenters(model=model).fit(b.image_features, y[:-1], m)
    with pytest.raises(ValueError, match="requires y"):
        SemanticCenters(model=model).fit(b.image_features, None)
    with pytest.raises(TypeError, match="not supported"):
        SemanticCenters(model=torch.nn.Linear(2, 2)).fit(b.image_features, y, m)


def test_only_class_tokens_learn(small):
    b, y, m = small
    model = tiny_clip(custom_text=True)  # the CustomTextCLIP tower path
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sc = SemanticCenters(model=model, epochs=2, init_steps=10, progress=False, num_threads=1)
    sc.fit(b.image_features, y, m)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert not np.allclose(sc.centers_, sc.initial_centers_)  # the tokens did move


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 100_000), k=st.integers(1, 200))
def test_paper2_n_centers_rule(n, k):
    kf = paper2_n_centers(n, k)
    assert 1 <= kf <= n
    assert kf == min(n, 3 * k if n / k < 300 else round(n / 300))


def test_candidate_nouns_rule_and_bad_input():
    rng = np.random.default_rng(2)
    x, t = l2_normalize(rng.standard_normal((60, 8))), l2_normalize(rng.standard_normal((90, 8)))
    idx = candidate_nouns(x, t, 6, per_center=2, random_state=0)
    assert np.all(np.diff(idx) > 0) and len(idx) <= 12
    assert np.array_equal(idx, candidate_nouns(x, t, 6, per_center=2, random_state=0))  # seeded
    assert len(candidate_nouns(x, t, 6, per_center=200)) == 90  # every noun is some center's member
    with pytest.raises(ValueError, match="gamma"):
        candidate_nouns(x, t, 6, per_center=0)
    with pytest.raises(ValueError, match="same CLIP model"):
        candidate_nouns(x, t[:, :4], 6)
    with pytest.raises(ValueError, match="n_clusters must be an integer >= 1"):
        paper2_n_centers(10, 0)


def test_relational_predict_needs_fit_and_same_dim():
    b = make_vl_blobs(n_samples=200, n_clusters=4, dim=32, n_nouns=40, random_state=0)
    with pytest.raises(ValueError, match="not fitted"):
        RelationalKMeans(4, text_features=b.text_features).predict(b.image_features)
    r = RelationalKMeans(4, text_features=b.text_features).fit(b.image_features)
    assert r.predict(b.image_features[:7]).shape == (7,) and r.transform(b.image_features[:7]).shape == (7, len(r.noun_indices_))
    with pytest.raises(ValueError, match="X has 16 features, but RelationalKMeans is expecting 32 features"):
        r.predict(b.image_features[:, :16])


def test_consistency_k_smaller_for_many_clusters():
    assert default_consistency_k("cifar10") == 10 and default_consistency_k("dtd") == 5
    assert default_consistency_k("CIFAR_100") == 5 and default_consistency_k(None, 101) == 5
    assert default_consistency_k("stl10", 10, 30) == 2 and default_consistency_k("dtd", 47, 47) == 1  # tiny inputs
