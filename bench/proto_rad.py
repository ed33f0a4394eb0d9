"""Prototype: a faster sparse RAD with the same results as `laic_nb.rad.rad` (proposed change, not used by the library).

`rad`'s sparse path (laic_nb/rad.py, as of this writing) forms, after every A-step and for every prompt graph b,
Z_b = Pi_P(S_b (A S_b)) with two scipy sparse-sparse products and a mask: 7 graphs x 41 evaluations = 287 masked products.
The profile (see bench/results/profile_*) puts ~85 % of RAD's time in scipy's `csr_matmat`/`csr_matmat_maxnnz`; the
product S_b (A S_b) has ~17x more nonzeros than the pattern P it is then masked to.

Two exact rewrites:
1. The losses need only <A, Z_b> = <A, S_b A S_b> (A lives on P, so the mask changes nothing) = tr(A S_b A S_b)
   = sum((A S_b) o (A S_b)^T): one cheap product Y_b = A S_b per graph, no second product.
2. The A-step needs only the beta-weighted sum  Pi_P(sum_b beta_b/(1+mu) S_b Y_b): one stacked product
   [c_1 S_1 | ... | c_B S_B] @ [Y_1; ...; Y_B] (the sum happens inside the product), masked once, instead of B separate
   products, masks and sums.
Same arithmetic up to floating-point summation order. `.venv/bin/python bench/proto_rad.py --n 5000` compares both.

Measured (2 shared cores): identical results (affinity to 1e-16 relative, same beta and labels) but NO speed-up
(N=5,000: 33.8 s vs 35.9 s of CPU time). The time is the multiply-adds of S_b (A S_b) themselves (about
B x q x (fill of A S_b) per row per step), not the bookkeeping around them. A real gain needs a masked product that
computes only the entries on P (about 7x fewer operations), i.e. compiled code (numba/C++) or cuSPARSE on a GPU.
Kept as the record of a rewrite that does not pay.
"""
from __future__ import annotations
import argparse, time
import numpy as np
import scipy.sparse as sp


def rad_fast(affinities, mu: float = 0.1, lam: float = 10.0, n_outer: int = 5, n_diffusion: int = 8):
    "Sparse RAD with the two rewrites above; returns (affinity, beta, objective list) like `rad(...)`'s result fields."
    from laic_nb.spectral import normalized_affinity
    from laic_nb.rad import beta_step
    graphs = [sp.csr_matrix(g) for g in affinities]
    n, nb = graphs[0].shape[0], len(graphs)
    s = [normalized_affinity(g) for g in graphs]
    pattern = sp.eye(n, format="csr")
    for sb in s: pattern = pattern + (sb != 0).astype(np.float64)
    pattern = (pattern != 0).astype(np.float64).tocsr()
    eye = sp.eye(n, format="csr")
    a = eye.copy()
    beta = np.full(nb, 1.0 / nb)

    def state(a):
        ys = [(a @ sb).tocsr() for sb in s]                 # Y_b = A S_b
        inner = np.array([float(y.multiply(y.T).sum()) for y in ys])  # <A, S_b A S_b> = sum(Y o Y^T)
        return ys, inner

    def objective(a, inner, beta):
        aa = float(a.multiply(a).sum())
        losses = aa - inner
        d = a - eye
        return losses, float(beta @ losses + mu * float(d.multiply(d).sum()) + lam / 2 * beta @ beta)

    ys, inner = state(a)
    losses, f = objective(a, inner, beta)
    obj = [f]
    for _ in range(n_outer):
        for _ in range(n_diffusion):
            h = sp.hstack([(bb / (1 + mu)) * sb for bb, sb in zip(beta, s)], format="csr")
            v = sp.vstack(ys, format="csr")
            a = ((h @ v).multiply(pattern) + (mu / (1 + mu)) * eye).tocsr()
            ys, inner = state(a)
            losses, f = objective(a, inner, beta)
            obj.append(f)
        beta = beta_step(losses, lam)
        losses, f = objective(a, inner, beta)
        obj.append(f)
    a = ((a + a.T) * 0.5).tocsr()
    np.maximum(a.data, 0, out=a.data); a.eliminate_zeros(); a.sort_indices()
    return a, beta, obj


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="*", default=[5000])
    a = ap.parse_args()
    from laic_nb.performance import bench_data
    from laic_nb.ntk import ntk_affinities
    from laic_nb.rad import rad
    from laic_nb.spectral import spectral_clustering
    from laic_nb.metrics import evaluate
    for n in a.n:
        d = bench_data(n)
        g = ntk_affinities(d["x"], d["pt"], knn=30)
        t0, c0 = time.perf_counter(), time.process_time()
        ref = rad(g)
        t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        af, beta, obj = rad_fast(g)
        t_new, c_new = time.perf_counter() - t0, time.process_time() - c0
        diff = abs(ref.affinity - af).max() / abs(ref.affinity).max()
        la, lb = spectral_clustering(ref.affinity, 10), spectral_clustering(af, 10)
        print(f"N={n:,}: rad (library) {t_ref:.1f} s (cpu {c_ref:.1f}); proposed {t_new:.1f} s (cpu {c_new:.1f}) -> {t_ref / t_new:.2f}x"
              f" (cpu {c_ref / c_new:.2f}x); max rel. affinity diff {diff:.1e}; beta diff {abs(ref.beta - beta).max():.1e}; "
              f"objective max rel diff {max(abs(x - y) / abs(x) for x, y in zip(ref.objective, obj)):.1e}; "
              f"labels NMI {evaluate(la, lb)['nmi']:.4f}", flush=True)


if __name__ == "__main__":
    main()
