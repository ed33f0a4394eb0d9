"""Properties of `laic_nb.selection` that the chapter's examples do not pin: invariances of the indices, dense and sparse
graphs, the seed rule, agreement of the K chosen with the library's eigengap on planted partitions, the adaptive diffusion
time, and many weak classes, which the default finds and the fixed t = 16 misses."""
import numpy as np
import pytest
import scipy.sparse as sp

from laic_nb.selection import (CRITERIA, DIFFUSION_TIME, EDGE_FLOOR, adaptive_diffusion_time, calinski_harabasz, cosine_silhouette,
                               criteria_table, davies_bouldin, select_n_clusters, select_tau)
from laic_nb.spectral import estimate_n_clusters, planted_partition


@pytest.mark.parametrize("seed", range(5))
def test_indices_ignore_label_ids(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((80, 6))
    y = rng.integers(0, 5, 80)
    relabel = rng.permutation(5)[y] * 7 - 3  # another id for every cluster
    for index in (cosine_silhouette, davies_bouldin, calinski_harabasz):
        assert index(x, y) == pytest.approx(index(x, relabel), rel=1e-12)


def test_cosine_silhouette_ignores_row_scale():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 4)), rng.integers(0, 3, 60)
    assert cosine_silhouette(x, y) == pytest.approx(cosine_silhouette(x * rng.uniform(0.1, 10, (60, 1)), y), rel=1e-10)


def test_dense_and_sparse_graphs_give_the_same_table():
    a, _ = planted_partition([30, 40, 50], p_in=0.4, p_out=0.03, random_state=3)
    crit = tuple(c for c in CRITERIA if c != "stability")
    ts, td = criteria_table(a, 2, 8, criteria=crit), criteria_table(a.toarray(), 2, 8, criteria=crit)
    assert ts.chosen == td.chosen
    for c in crit: np.testing.assert_allclose(ts.scores[c], td.scores[c], atol=1e-8)


def test_seed_rule():
    a, _ = planted_partition([30, 40, 50], random_state=4)
    k1 = select_n_clusters(a, 2, 8, criterion="stability", random_state=np.random.default_rng(5), n_boot=2)
    k2 = select_n_clusters(a, 2, 8, criterion="stability", random_state=np.random.default_rng(5), n_boot=2)
    assert k1 == k2 == 3
    with pytest.raises(ValueError, match="random_state"): select_n_clusters(a, random_state="zero")


@pytest.mark.parametrize("sizes", [[50, 50], [40, 60, 80], [30, 30, 40, 40, 50, 60]])
def test_planted_partitions_are_found_by_the_default_and_the_eigengap(sizes):
    a, _ = planted_partition(sizes, p_in=0.35, p_out=0.01, random_state=len(sizes))
    assert select_n_clusters(a, 2, 12) == estimate_n_clusters(a, 12) == len(sizes)


def test_isolated_nodes_are_labelled():
    a, _ = planted_partition([40, 40, 40], random_state=0)
    a = sp.block_diag([a, sp.csr_matrix((3, 3))]).tocsr()  # three nodes without edges
    table = criteria_table(a, 2, 6, criteria=("silhouette",))
    assert table.best() == 3 and table.labels.min() >= 0 and table.labels_at(3).max() == 2


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("floor", [0.1, 0.01, 0.001])
def test_adaptive_time_leaves_the_floor_to_the_last_eigenvector(seed, floor):
    vals = np.sort(np.random.default_rng(seed).uniform(0.05, 0.99, 12))[::-1]
    t = adaptive_diffusion_time(vals, floor)
    assert vals[-1] ** t == pytest.approx(floor, rel=1e-9)
    assert np.all(vals ** t >= floor * (1 - 1e-9))  # every direction a candidate uses keeps at least the floor


@pytest.mark.parametrize("p_in, p_out", [(0.3, 0.02), (0.4, 0.03)])
def test_many_weak_classes_are_found_by_the_default_and_missed_at_t16(p_in, p_out):
    a, _ = planted_partition([25] * 40, p_in=p_in, p_out=p_out, random_state=0)  # class eigenvalues near 0.3
    ks = np.arange(2, 81)
    assert abs(select_n_clusters(a, ks=ks) - 40) <= 6  # 40 with AVX-512 or AVX2 kernels, 42 with SSE ones (p_in 0.3): near ties
    assert select_n_clusters(a, ks=ks, diffusion_time=DIFFUSION_TIME) < 5  # t = 16 weighs them by ~1e-8
    assert estimate_n_clusters(a, 80) < 5


def test_select_tau_chooses_k_as_select_n_clusters_does():
    a, _ = planted_partition([40, 50, 60, 30], p_in=0.3, p_out=0.03, random_state=5)
    x = np.zeros((a.shape[0], 2))  # ignored by the builder
    sel = select_tau(x, x, taus=(0.02, 0.04), k_max=10, build_graph=lambda x_, t_, tau: a)
    assert sel.n_clusters == select_n_clusters(a, 2, 10) == 4
    assert sel.k_criteria.diffusion_time == pytest.approx(adaptive_diffusion_time(sel.k_criteria.eigenvalues[:10]))  # the default footing
    on_edge = select_tau(x, x, taus=(0.02, 0.04), k_max=10, build_graph=lambda x_, t_, tau: a, k_diffusion_time="edge")
    assert on_edge.k_criteria.bulk_edge ** on_edge.k_criteria.diffusion_time == pytest.approx(EDGE_FLOOR)
    fixed = select_tau(x, x, taus=(0.02, 0.04), k_max=10, build_graph=lambda x_, t_, tau: a, k_diffusion_time=DIFFUSION_TIME)
    assert fixed.k_criteria.diffusion_time == DIFFUSION_TIME
    with pytest.raises(ValueError, match="diffusion_time"): select_n_clusters(a, diffusion_time="long")


def test_gaussian_bic_matches_the_formula_and_ignores_ids():
    from laic_nb.selection import gaussian_bic
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((120, 7)), rng.integers(0, 4, 120)
    sizes = np.bincount(y)
    cen = np.stack([x[y == c].mean(0) for c in range(4)])
    var = ((x - cen[y]) ** 2).sum() / x.size
    want = (sizes * np.log(sizes / 120)).sum() - 120 * 7 / 2 * np.log(var) - (3 + 4 * 7 + 1) / 2 * np.log(120)
    assert gaussian_bic(x, y) == pytest.approx(want, rel=1e-10)
    assert gaussian_bic(x, rng.permutation(4)[y] * 5 + 2) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_bic_finds_spherical_blobs_and_penalises_splits(seed):
    from laic_nb.selection import gaussian_bic
    rng = np.random.default_rng(seed)
    k = 6
    y = rng.integers(0, k, 600)
    x = rng.standard_normal((k, 32))[y] * 2 + rng.standard_normal((600, 32))
    from sklearn.cluster import KMeans
    scores = {c: gaussian_bic(x, KMeans(c, n_init=2, random_state=0).fit_predict(x)) for c in range(2, 13)}
    assert max(scores, key=scores.get) == k
    split = np.where(rng.random(600) < 0.5, y, y + k)  # every blob cut in two at random: no tighter, more parameters
    assert gaussian_bic(x, split) < gaussian_bic(x, y)


def test_bic_criterion_reads_image_features_and_keeps_the_table_api():
    a, y = planted_partition([40, 50, 60, 70], p_in=0.3, p_out=0.02, random_state=3)
    x = np.eye(4)[y] * 4 + np.random.default_rng(0).standard_normal((len(y), 4))
    t = criteria_table(a, 2, 10, criteria=("eigengap", "silhouette", "bic"), image_features=x)
    assert t.chosen == {"eigengap": 4, "silhouette": 4, "bic": 4}
    assert select_n_clusters(a, 2, 10, criterion="bic", image_features=x) == 4
    assert "bic" not in CRITERIA  # an extra: criteria_table's default list and the explore chapter's calls are unchanged
    assert set(criteria_table(a, 2, 6, criteria=("eigengap", "silhouette", "davies_bouldin", "calinski_harabasz")).scores) == \
        {"eigengap", "silhouette", "davies_bouldin", "calinski_harabasz"}
    with pytest.raises(ValueError, match="image_features"):
        criteria_table(a, 2, 6, criteria="bic", image_features=x[:10])


# Issue #24, item 4: one rule for "auto" everywhere, and the curve that chose K kept on the estimator.

def test_select_n_clusters_returns_the_table_that_chose():
    from laic_nb.selection import DEFAULT_CRITERION
    a, _ = planted_partition([40, 50, 60], p_in=0.35, p_out=0.02, random_state=1)
    k = select_n_clusters(a, 2, 8, random_state=0)
    t = select_n_clusters(a, 2, 8, random_state=0, return_table=True)
    assert k == t.best(t.criterion) == 3 and t.criterion == DEFAULT_CRITERION
    assert "candidates K = 2..8" in t.describe()


def _blobs(seed=0, n=240, k=4):
    from laic_nb.data import make_vl_blobs
    return make_vl_blobs(n, k, 32, 80, confusion=0.0, random_state=seed)


@pytest.mark.parametrize("method", ["kmeans", "tac-notrain", "ntk-naive", "sc", "relational"])
def test_auto_k_is_the_default_criterion_on_every_method(method):
    "run_method(k='auto') and k=None: the estimators' 'auto' where they take it, else the same criterion on _estimate_k's "
    "graph; the curve is kept as n_clusters_selection_ and K is its choice."
    from laic_nb.pipeline import run_method, _estimate_k, _positive_nouns
    from laic_nb.selection import DEFAULT_CRITERION
    b = _blobs()
    r = run_method(method, b.image_features, "auto", b.text_features, random_state=0)
    sel = r.estimator.n_clusters_selection_
    assert sel.criterion == DEFAULT_CRITERION and r.n_clusters == sel.best(sel.criterion)
    assert run_method(method, b.image_features, None, b.text_features, random_state=0).n_clusters == r.n_clusters
    if method in ("kmeans", "tac-notrain"):  # K before the fit: the criterion on the default NTK (or cosine) graph
        x = b.image_features / np.linalg.norm(b.image_features, axis=1, keepdims=True)
        t = b.text_features / np.linalg.norm(b.text_features, axis=1, keepdims=True)
        ref = _estimate_k(x, None if method == "kmeans" else t[_positive_nouns(x, t, None, random_state=0)], random_state=0)
        assert r.n_clusters == ref
    else:
        assert r.estimator.n_clusters == "auto"


def test_estimate_k_keeps_the_eigengap_on_request():
    from laic_nb.pipeline import estimate_k
    from laic_nb.core import LaicInputError
    b = _blobs(1)
    assert 2 <= estimate_k(b.image_features, criterion="eigengap") <= 20
    assert estimate_k(b.image_features) == estimate_k(b.image_features, criterion="silhouette")
    with pytest.raises(LaicInputError, match="criterion must be"): estimate_k(b.image_features, criterion="gap")


def test_k_guidance_draws_the_curve_that_chose_k():
    from laic_nb.explore import k_guidance
    a, y = planted_partition([40, 50, 60], p_in=0.35, p_out=0.02, random_state=1)
    sel = select_n_clusters(a, 2, 8, return_table=True)
    g = k_guidance(None, y, selection=sel)
    assert list(g.scores) == [sel.criterion] and g.chosen == {sel.criterion: 3} and g.k_used == 3
    np.testing.assert_array_equal(g.ks, sel.ks)
    assert g.graph.startswith("K chosen by") and g.to_dict()["graph"] == g.graph
    assert k_guidance(None, y, selection=select_n_clusters(a, ks=[3], return_table=True)) is None  # one candidate: no curve


def test_cli_k_help_names_the_criterion():
    import argparse
    from laic_nb.cli import _cluster_parser
    from laic_nb.selection import DEFAULT_CRITERION
    sub = argparse.ArgumentParser().add_subparsers()
    helps = {a.dest: a.help for a in _cluster_parser(sub)._actions}
    assert DEFAULT_CRITERION in helps["k"] and "default: auto" in helps["k"]


def test_gap_statistic_parts():
    "bench/auto_k.py's gap statistic: log W_k is the pooled within-cluster sum of squares; the reference stays in the "
    "data's principal box (before the rows go on the sphere)."
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import auto_k
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 5)), rng.integers(0, 4, 50)
    w = sum(((x[y == c] - x[y == c].mean(0)) ** 2).sum() for c in np.unique(y))
    assert auto_k.log_within(x, y) == pytest.approx(np.log(w), rel=1e-10)
    assert auto_k.log_within(x, y * 3 + 7) == pytest.approx(np.log(w), rel=1e-10)
    r = auto_k.gap_reference(x, rng)
    assert r.shape == x.shape and np.allclose(np.linalg.norm(r, axis=1), 1, atol=1e-5)
    ks = np.array([2, 3, 4, 6])
    assert auto_k.gap_picks(ks, np.array([0.1, 0.5, 0.45, 0.2]), np.full(4, 0.1)) == {auto_k.GAP_SE: 3, auto_k.GAP_MAX: 3}
    assert auto_k.gap_picks(ks, np.array([0.1, 0.2, 0.3, 0.4]), np.full(4, 0.01)) == {auto_k.GAP_SE: 6, auto_k.GAP_MAX: 6}
