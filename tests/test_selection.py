"""Properties of `laic_nb.selection` that the chapter's examples do not pin: invariances of the indices, dense and sparse
graphs, the seed rule, and agreement of the K chosen with the library's eigengap on planted partitions."""
import numpy as np
import pytest
import scipy.sparse as sp

from laic_nb.selection import (CRITERIA, calinski_harabasz, cosine_silhouette, criteria_table, davies_bouldin,
                               select_n_clusters)
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
