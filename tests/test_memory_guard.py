"""Every code path that would allocate an N x N dense array asks `check_dense_budget` first.

With a tiny budget (LAIC_DENSE_BUDGET_GB) and N = 200,000 (a float32 N x N array would be 160 GB), each dense path must
raise MemoryError at once, name the way out (the sparse path), and allocate nothing large. The sparse paths must not
trip the guard at all.
"""
import importlib
import resource
import time

import numpy as np
import pytest
import scipy.sparse as sp

N_BIG = 200_000
TINY_GB = "0.01"  # 10 MB


@pytest.fixture
def tiny_budget(monkeypatch):
    monkeypatch.setenv("LAIC_DENSE_BUDGET_GB", TINY_GB)


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N_BIG, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t = rng.standard_normal((3, 12, 8)).astype(np.float32)
    t /= np.linalg.norm(t, axis=2, keepdims=True)
    return x, t


def _maxrss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def raises_fast(fn, *must_contain, seconds=5.0, max_growth=300 * 2**20):
    "`fn()` raises MemoryError quickly, mentions each of `must_contain`, and the process peak grows by < max_growth."
    before, t0 = _maxrss_bytes(), time.perf_counter()
    with pytest.raises(MemoryError) as err:
        fn()
    took, grew = time.perf_counter() - t0, _maxrss_bytes() - before
    msg = str(err.value)
    for word in must_contain: assert word.lower() in msg.lower(), f"the error should mention {word!r}: {msg}"
    assert "LAIC_DENSE_BUDGET_GB" in msg, msg
    assert took < seconds, f"the guard must fire before any work ({took:.1f} s)"
    assert grew < max_growth, f"the guard must fire before allocating ({grew / 2**20:.0f} MB grown)"
    return msg


def _module(name):
    try: return importlib.import_module(name)
    except ImportError: pytest.skip(f"{name} is not built yet")


def test_budget_reads_environment(monkeypatch):
    from laic_nb.core import check_dense_budget
    monkeypatch.setenv("LAIC_DENSE_BUDGET_GB", "0.001")
    with pytest.raises(MemoryError, match="sparse"): check_dense_budget(1000)  # 4 MB > 1 MB
    monkeypatch.setenv("LAIC_DENSE_BUDGET_GB", "1")
    assert check_dense_budget(1000) == 4_000_000


def test_dense_ntk_kernel(tiny_budget, big):
    ntk = _module("laic_nb.ntk")
    x, t = big
    raises_fast(lambda: ntk.ntk_kernel(x, t[0], device="cpu"), "sparse", "knn")


def test_ntk_affinity_dense_option(tiny_budget, big):
    ntk = _module("laic_nb.ntk")
    x, t = big
    raises_fast(lambda: ntk.ntk_affinity(x, t[0], knn=None, device="cpu"), "sparse", "knn")


def test_dense_rad(tiny_budget):
    rad = _module("laic_nb.rad")
    graphs = [sp.identity(N_BIG, format="csr")] * 3
    raises_fast(lambda: rad.rad(graphs, mode="dense"), "sparse")
    raises_fast(lambda: rad.rad([np.eye(3000)] * 2, mode="dense"), "rad_mode='sparse'")  # 3000^2 x 4 B x 3 > 10 MB
    assert rad.rad([np.eye(3000)] * 2, n_outer=1, n_diffusion=1).mode == "sparse"  # auto: falls back, allocates no N x N


def test_dense_references(tiny_budget, big):
    perf = _module("laic_nb.performance")
    x, t = big
    raises_fast(lambda: perf.dense_ntk_kernel(x, t[0]), "sparse")
    raises_fast(lambda: perf.dense_ntk_reference(x, t[0], 10), "NTKSpectralClustering")
    raises_fast(lambda: perf.dense_rad_reference(x, t, 10), "sparse")


def test_estimators_dense_options(tiny_budget, big):
    cluster = _module("laic_nb.cluster")
    x, t = big
    est = cluster.NTKSpectralClustering(n_clusters=10, text_features=t[0], variant="naive", knn=None)
    raises_fast(lambda: est.fit(x), "sparse")
    est = cluster.NTKSpectralClustering(n_clusters=10, text_features=t, variant="pe", knn=None)
    raises_fast(lambda: est.fit(x), "sparse")
    est = cluster.NTKSpectralClustering(n_clusters=10, text_features=t, variant="rad", knn=None)
    raises_fast(lambda: est.fit(x), "sparse")
    est = cluster.ClipSpectralClustering(n_clusters=10, affinity="rbf")
    raises_fast(lambda: est.fit(x), "cosine_knn")  # names the sparse kNN alternative


def test_sparse_paths_do_not_trip_the_guard(tiny_budget):
    "Under the same tiny budget the sparse paths run: they never ask for an N x N array."
    ntk = _module("laic_nb.ntk")
    from laic_nb.data import make_bench_features
    f = make_bench_features(3000, dim=32, n_clusters=3, n_nouns=30, n_prompts=2, random_state=0)  # dense: 36 MB > 10 MB
    a = ntk.ntk_affinity(f["x"], f["t"], knn=10, device="cpu")
    assert sp.issparse(a) and a.shape == (3000, 3000)
    graphs = ntk.ntk_affinities(f["x"], f["pt"], knn=10, device="cpu")
    rad = _module("laic_nb.rad")
    assert sp.issparse(rad.rad(graphs, n_outer=1, n_diffusion=1).affinity)
    cluster = _module("laic_nb.cluster")
    for variant, t in (("naive", f["t"]), ("rad", f["pt"])):
        est = cluster.NTKSpectralClustering(n_clusters=3, text_features=t, variant=variant, knn=10, n_outer=1, n_diffusion=1).fit(f["x"])
        assert sp.issparse(est.affinity_) and len(est.labels_) == 3000
    assert len(cluster.ClipSpectralClustering(n_clusters=3, knn=10).fit(f["x"]).labels_) == 3000
