"""Property tests of laic_nb.metrics with hypothesis: Hungarian ACC equals brute force, metrics ignore label names."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from laic_nb.metrics import aggregate_runs, cluster_acc, cluster_acc_bruteforce, evaluate

labelings = st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 4), min_size=n, max_size=n), st.lists(st.integers(0, 5), min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(labelings)
def test_acc_equals_bruteforce(pair):
    y_true, y_pred = pair
    assert cluster_acc(y_true, y_pred) == pytest.approx(cluster_acc_bruteforce(y_true, y_pred), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelings, st.randoms(use_true_random=False))
def test_metrics_invariant_to_renaming_clusters(pair, rnd):
    y_true, y_pred = map(np.asarray, pair)
    names = list(range(100, 106)); rnd.shuffle(names)
    renamed = np.asarray(names)[y_pred]
    a, b = evaluate(y_true, y_pred), evaluate(y_true, renamed)
    assert a == pytest.approx(b, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=40))
def test_perfect_clustering_scores_one(y):
    assert evaluate(y, y)["acc"] == 1.0


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1, 2], [0, 1], "same samples"),
    ([], [], "empty"),
    ([0, 1, np.nan], [0, 1, 1], "NaN"),
    ([0, 1, 1], [0, np.inf, 1], "NaN/inf"),
    ([[0, 1]], [[0, 1]], "1-dimensional"),
    ([0.5, 1.0], [0, 1], "non-integer"),
])
def test_evaluate_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        evaluate(y_true, y_pred)


def test_aggregate_runs_rejects_mixed_metrics():
    with pytest.raises(ValueError, match="different metrics"):
        aggregate_runs([dict(acc=1.0), dict(nmi=1.0)])
    with pytest.raises(ValueError, match="no runs"):
        aggregate_runs([])
