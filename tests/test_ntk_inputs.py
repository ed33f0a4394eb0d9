"""Bad inputs and properties of the NTK spectral clustering modules (ntk, spectral, rad, cluster).

Plain pytest + hypothesis; random inputs only (synthetic), small sizes so the file runs in well under a minute,
plus one subprocess test of the memory must-show (naive NTK-SC on 20,000 x 512 features, 800 nouns, CPU).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st, HealthCheck

from laic_nb.ntk import semantic_probs, ntk_affinity, ntk_affinities, ntk_kernel
from laic_nb.spectral import (normalized_affinity, spectral_clustering, estimate_n_clusters, discretize,
                              planted_partition, top_eigenpairs, check_affinity)
from laic_nb.rad import rad, project_simplex, beta_step, beta_coordinate_descent
from laic_nb.cluster import NTKSpectralClustering, ClipKMeans, ClipSpectralClustering
from laic_nb.metrics import cluster_acc

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unit(rng, *shape):
    a = rng.standard_normal(shape).astype(np.float32)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture
def xt():
    rng = np.random.default_rng(0)
    return unit(rng, 60, 8), unit(rng, 10, 8), unit(rng, 3, 10, 8)


# ---------------------------------------------------------------- bad inputs: each a clear ValueError

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_features(xt, bad):
    x, t, tp = xt
    xb = x.copy(); xb[5, 1] = bad
    tb = t.copy(); tb[2, 0] = bad
    for call in (lambda: semantic_probs(xb, t, 0.04), lambda: ntk_affinity(xb, t), lambda: ntk_affinity(x, tb),
                 lambda: ntk_affinity(xb, t, knn=None), lambda: NTKSpectralClustering(3, text_features=t, variant="naive").fit(xb),
                 lambda: ClipKMeans(3).fit(xb), lambda: ClipSpectralClustering(3).fit(xb)):
        with pytest.raises(ValueError, match="NaN or inf"): call()


def test_dims_differ(xt):
    x, t, tp = xt
    for call in (lambda: semantic_probs(x, t[:, :5], 0.04), lambda: ntk_affinity(x, t[:, :5]),
                 lambda: ntk_affinities(x, tp[..., :5]), lambda: NTKSpectralClustering(3, text_features=tp[..., :5]).fit(x)):
        with pytest.raises(ValueError, match="same CLIP model"): call()


@pytest.mark.parametrize("tau", [0, -0.04, float("nan"), float("inf"), "warm", None])
def test_bad_tau(xt, tau):
    x, t, tp = xt
    for call in (lambda: semantic_probs(x, t, tau), lambda: ntk_affinity(x, t, tau=tau),
                 lambda: NTKSpectralClustering(3, text_features=tp, tau=tau).fit(x)):
        with pytest.raises(ValueError, match="tau"): call()


@pytest.mark.parametrize("knn", [0, -3, 60, 61, 2.5, True])
def test_bad_knn(xt, knn):
    x, t, tp = xt
    for call in (lambda: ntk_affinity(x, t, knn=knn), lambda: ntk_affinities(x, tp, knn=knn),
                 lambda: NTKSpectralClustering(3, text_features=tp, knn=knn).fit(x), lambda: ClipSpectralClustering(3, knn=knn).fit(x)):
        with pytest.raises(ValueError, match="knn"): call()


@pytest.mark.parametrize("k", [0, -2, 61, 3.0])
def test_bad_n_clusters(xt, k):
    x, t, tp = xt
    a = ntk_affinity(x, t, knn=10)
    for call in (lambda: spectral_clustering(a, k), lambda: NTKSpectralClustering(k, text_features=tp).fit(x),
                 lambda: ClipKMeans(k).fit(x), lambda: ClipSpectralClustering(k).fit(x)):
        with pytest.raises(ValueError, match="n_clusters"): call()


@pytest.mark.parametrize("make,msg", [
    (lambda a: a[:, :-1], "square"),
    (lambda a: sp.triu(a, 1).tocsr() + sp.eye(a.shape[0]) * 0.0, "symmetric"),
    (lambda a: -a, "negative"),
    (lambda a: a.toarray()[None], "square"),
    (lambda a: np.where(a.toarray() > 0, np.nan, 0.0), "NaN"),
])
def test_bad_affinity(make, msg):
    a, _ = planted_partition((20, 20), random_state=0)
    bad = make(a)
    for call in (lambda: check_affinity(bad), lambda: normalized_affinity(bad), lambda: spectral_clustering(bad, 2),
                 lambda: rad([bad, bad])):
        with pytest.raises(ValueError, match=msg): call()


def test_rad_graphs_of_different_sizes():
    a, _ = planted_partition((20, 20), random_state=0)
    b, _ = planted_partition((20, 21), random_state=1)
    with pytest.raises(ValueError, match="same N"): rad([a, b])
    with pytest.raises(ValueError, match="same N"): rad([a.toarray(), b.toarray()])


def test_variant_needs_prompts(xt):
    x, t, tp = xt
    for variant in ("pe", "rad"):
        with pytest.raises(ValueError, match="per-prompt"): NTKSpectralClustering(3, text_features=t, variant=variant).fit(x)
    with pytest.raises(ValueError, match="variant"): NTKSpectralClustering(3, text_features=tp, variant="PE").fit(x)
    with pytest.raises(ValueError, match="text_features is required"): NTKSpectralClustering(3).fit(x)


# ---------------------------------------------------------------- properties

dims = st.tuples(st.integers(20, 90), st.integers(2, 25), st.integers(2, 12))  # N, M, d


@SETTINGS
@given(dims=dims, seed=st.integers(0, 2**31 - 1), tau=st.sampled_from([0.005, 0.02, 0.04, 0.3, 2.0]))
def test_semantic_probs_are_distributions(dims, seed, tau):
    n, m, d = dims
    rng = np.random.default_rng(seed)
    s = semantic_probs(unit(rng, n, d), unit(rng, m, d), tau)
    assert s.shape == (n, m) and np.isfinite(s).all() and (s >= 0).all()
    np.testing.assert_allclose(s.sum(1), 1.0, atol=1e-5)


@SETTINGS
@given(dims=dims, seed=st.integers(0, 2**31 - 1), knn_frac=st.floats(0.01, 0.99), tau=st.sampled_from([0.01, 0.04, 0.5]),
       block=st.sampled_from([None, 7, 32]), graph=st.sampled_from(["union", "mutual"]))
def test_sparse_graph_is_knn_of_dense(dims, seed, knn_frac, tau, block, graph):
    n, m, d = dims
    rng = np.random.default_rng(seed)
    x, t = unit(rng, n, d), unit(rng, m, d)
    knn = max(1, min(n - 1, int(knn_frac * (n - 1))))
    a = ntk_affinity(x, t, tau=tau, knn=knn, block_size=block, dtype="float64", graph=graph)
    k = ntk_kernel(x, t, tau, dtype="float64")
    kk = k.copy(); np.fill_diagonal(kk, -np.inf)
    order = np.argsort(-kk, axis=1, kind="stable")
    ranked = np.take_along_axis(kk, order, axis=1)
    if knn < n - 1 and np.any(np.isclose(ranked[:, knn - 1], ranked[:, knn], rtol=1e-12, atol=0)):
        return  # a (near-)tie at the k-th place: the top-k set is not unique
    top = np.zeros((n, n), bool); np.put_along_axis(top, order[:, :knn], True, axis=1)
    ref = np.where((top | top.T) if graph == "union" else (top & top.T), np.maximum(k, 0), 0.0)
    dense = a.toarray()
    assert ((dense != 0) == (ref != 0)).all()
    np.testing.assert_allclose(dense, ref, rtol=1e-9, atol=1e-9 * max(ref.max(), 1e-300))
    assert (a != a.T).nnz == 0 and (a.data > 0).all() and a.diagonal().max() == 0
    if graph == "mutual": assert (a.getnnz(1) <= knn).all()


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 60), density=st.floats(0.02, 1.0))
def test_normalized_affinity_spectrum(seed, n, density):
    rng = np.random.default_rng(seed)
    m = sp.random(n, n, density=density, random_state=rng, data_rvs=rng.random).tocsr()
    a = (m + m.T) * 0.5
    na = normalized_affinity(a)
    assert sp.issparse(na) and np.isfinite(na.data).all()
    ev = np.linalg.eigvalsh(na.toarray())
    assert ev.min() >= -1 - 1e-9 and ev.max() <= 1 + 1e-9
    np.testing.assert_allclose(normalized_affinity(a.toarray()), na.toarray(), atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), sizes=st.lists(st.integers(30, 80), min_size=2, max_size=5))
def test_planted_partition_recovered(seed, sizes):
    a, y = planted_partition(sizes, p_in=0.5, p_out=0.005, random_state=seed)
    assert cluster_acc(y, spectral_clustering(a, len(sizes), random_state=seed)) == 1.0
    assert cluster_acc(y, spectral_clustering(a, len(sizes), assign_labels="kmeans", random_state=seed)) == 1.0


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sizes=st.lists(st.integers(130, 160), min_size=2, max_size=3))
def test_eigsh_matches_dense(seed, sizes):
    a, _ = planted_partition(sizes, p_in=0.2, p_out=0.02, random_state=seed)
    assert a.shape[0] > 256  # large enough for the ARPACK route
    k = len(sizes) + 1
    vals, vecs = top_eigenpairs(a, k, random_state=seed)
    dv = np.linalg.eigvalsh(normalized_affinity(a).toarray())[::-1][:k]
    np.testing.assert_allclose(vals, dv, atol=1e-7)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 9))
def test_discretize_rotation_invariant(seed, k):
    rng = np.random.default_rng(seed)
    y = np.r_[np.arange(k), rng.integers(0, k, 100)]
    q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    assert cluster_acc(y, discretize(np.eye(k)[y] @ q, random_state=seed)) == 1.0


@SETTINGS
@given(v=st.lists(st.floats(-50, 50), min_size=1, max_size=12))
def test_project_simplex(v):
    p = project_simplex(v)
    assert (p >= 0).all() and abs(p.sum() - 1) < 1e-9
    rng = np.random.default_rng(0)
    for q in rng.dirichlet(np.ones(len(v)), 20):  # p is the closest point of the simplex
        assert np.sum((p - v) ** 2) <= np.sum((q - v) ** 2) + 1e-9


@SETTINGS
@given(losses=st.lists(st.floats(0, 100), min_size=2, max_size=7), lam=st.sampled_from([0.1, 1.0, 10.0, 100.0]))
def test_pairwise_cd_converges_to_projection(losses, lam):
    np.testing.assert_allclose(beta_coordinate_descent(np.array(losses), lam, n_sweeps=400), beta_step(losses, lam), atol=1e-7)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(5, 50), b=st.integers(1, 4), density=st.floats(0.05, 0.6),
       mu=st.sampled_from([0.01, 0.1, 1.0]), lam=st.sampled_from([0.1, 10.0, 1000.0]),
       mode=st.sampled_from(["sparse", "dense"]), solver=st.sampled_from(["cd", "exact"]))
def test_rad_objective_never_increases(seed, n, b, density, mu, lam, mode, solver):
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(b):
        m = sp.random(n, n, density=density, random_state=rng, data_rvs=rng.random).tocsr()
        graphs.append((m + m.T) * 0.5 if mode == "sparse" else ((m + m.T) * 0.5).toarray())
    res = rad(graphs, mu=mu, lam=lam, n_outer=3, n_diffusion=4, mode=mode, dtype="float64", tol=0, beta_solver=solver)
    obj = np.array(res.objective)
    assert len(obj) == 1 + 3 * 5 and res.mode == mode
    assert (np.diff(obj) <= 1e-10 * np.abs(obj).max()).all()
    assert (res.beta >= 0).all() and abs(res.beta.sum() - 1) < 1e-12
    a = res.affinity.toarray() if sp.issparse(res.affinity) else res.affinity
    np.testing.assert_allclose(a, a.T, atol=1e-12)
    assert a.min() >= 0


def test_estimators_on_planted_blobs():
    from laic_nb.data import make_vl_blobs
    d = make_vl_blobs(n_samples=300, n_clusters=3, dim=32, n_nouns=40, confusion=0.0, random_state=0)
    for est in (ClipKMeans(3), ClipSpectralClustering(3), NTKSpectralClustering(3, text_features=d.text_features, variant="naive", knn=None)):
        assert cluster_acc(d.labels, est.fit_predict(d.image_features)) > 0.95


# ---------------------------------------------------------------- memory must-show

MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, time, tracemalloc
    import numpy as np
    from laic_nb.cluster import NTKSpectralClustering
    rng = np.random.default_rng(0)
    def unit(*s):
        a = rng.standard_normal(s, dtype=np.float32); return a / np.linalg.norm(a, axis=-1, keepdims=True)
    centers = unit(10, 512)
    y = rng.integers(0, 10, 20000)
    x = centers[y] + 0.8 * unit(20000, 512); x /= np.linalg.norm(x, axis=1, keepdims=True)
    t = unit(800, 512); t[:50] = centers[np.repeat(np.arange(10), 5)] + 0.3 * unit(50, 512)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    tracemalloc.start()
    t0 = time.time()
    est = NTKSpectralClustering(10, text_features=t, variant="naive", device="cpu").fit(x)
    secs = time.time() - t0
    def vmhwm():  # this process's own peak: ru_maxrss inherits the forking worker's
        try: return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        except (OSError, StopIteration): return None
    peak = vmhwm() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(seconds=secs, numpy_peak_mb=tracemalloc.get_traced_memory()[1] / 2**20,
                          maxrss_mb=peak / 2**20,
                          nnz=int(est.affinity_.nnz), n_labels=len(set(est.labels_.tolist())))))
""")


def test_memory_naive_20k():
    "NTKSpectralClustering(variant='naive') on 20,000 x 512 features with 800 nouns: peak RSS well under 2 GB."
    env = dict(os.environ, LAIC_DENSE_BUDGET_GB="0.5", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(r)
    n2_float32_mb = 20000**2 * 4 / 2**20  # 1526 MB: one N x N float32 array
    assert r["maxrss_mb"] < 1500, r       # includes ~0.5 GB for importing torch
    assert r["numpy_peak_mb"] < n2_float32_mb / 4, r
    assert r["n_labels"] == 10
