"""Prototype: a faster exact blocked NTK top-k for `laic_nb.ntk.kernel_topk` (proposed change, not used by the library).

What changes against `kernel_topk` (laic_nb/ntk.py, as of this writing):
1. Symmetric tiles. K = (1/tau^2) (X X^T) o (S S^T) is symmetric, so only tiles (I, J) with J >= I are computed; each tile
   feeds the running top-q lists of its rows (top-k along rows) *and* of its columns (top-k along columns). This halves
   the two GEMMs, which are most of the time.
2. Square tiles of `block` x `block` (default 4096 on CPU) instead of (2^24/N) x N row panels; running top-q lists are
   merged per tile (cat + topk over 2q values). (A 'threshold' selection -- only entries above each row's current q-th
   best -- was tried and is slower on the CPU: `nonzero` over a 4096^2 tile costs more than `topk`; kept as an option.)
3. In-place products (`u.mul_(v)`), one `u` shared by all prompt graphs (as before), and the semantic probabilities
   either stored (N x M per prompt, default) or recomputed per column block from X and T (`recompute_s=True`: the
   memory-light variant the GPU path needs at N = 1.28M, where S would be 109 GB; costs a fraction d / block more flops).

Run `.venv/bin/python bench/proto_topk.py --n 20000` to compare it with `kernel_topk` on synthetic features: time,
and agreement of the mutual-kNN graphs (edge sets and values) and of the spectral labels.
"""
from __future__ import annotations
import argparse, time
import numpy as np
import torch


def _merge(best_v, best_i, new_v, new_i, knn):
    v = torch.cat([best_v, new_v], 1)
    i = torch.cat([best_i, new_i], 1)
    v, j = torch.topk(v, knn, dim=1)
    return v, torch.gather(i, 1, j)


def _update(best_v, best_i, k, offset: int, knn: int, select: str = "threshold"):
    """Merge the tile `k` (R x C, rows = the lists being updated) into the running sorted top-`knn` lists.

    'topk': top-k of every row of the tile, then merge. 'threshold': only entries above each row's current k-th best
    can enter its list; after the first tiles they are few, so a compare + nonzero replaces the full top-k
    (falls back to 'topk' while the lists are still filling)."""
    q = min(knn, k.shape[1])
    thr = best_v[:, -1]
    if select == "threshold" and not torch.isneginf(thr).any():  # every list full: only entries above thr matter
        r, c = (k > thr[:, None]).nonzero(as_tuple=True)  # row-major: r is sorted
        if len(r) == 0: return best_v, best_i
        if len(r) <= k.shape[0] * knn // 4:
            v = k[r, c]
            rows_u, inv, counts = torch.unique_consecutive(r, return_inverse=True, return_counts=True)
            starts = torch.cumsum(counts, 0) - counts
            pos = torch.arange(len(r), device=k.device) - starts[inv]
            width = int(counts.max())
            pad_v = torch.full((len(rows_u), width), -torch.inf, device=k.device)
            pad_i = torch.zeros((len(rows_u), width), dtype=torch.int64, device=k.device)
            pad_v[inv, pos], pad_i[inv, pos] = v, c + offset
            mv, mi = _merge(best_v[rows_u], best_i[rows_u], pad_v, pad_i, knn)
            best_v, best_i = best_v.clone(), best_i.clone()
            best_v[rows_u], best_i[rows_u] = mv, mi
            return best_v, best_i
    v, j = torch.topk(k, q, dim=1)
    return _merge(best_v, best_i, v, j + offset, knn)


@torch.no_grad()
def sym_kernel_topk(x, s=None, knn: int = 30, scale: float = 1.0, block: int = 4096, device="cpu",
                    t=None, tau: float | None = None, recompute_s: bool = False, select: str = "topk"):
    """Top-`knn` (indices, values) per row of `scale * (x x^T) * (s_b s_b^T)` for every prompt b, self excluded.

    `s`: (N, M) or (B, N, M) semantic probabilities; or give `t` ((M, d) or (B, M, d)) and `tau` with `recompute_s=True`
    to recompute each block's probabilities on the fly. Returns (B, N, knn) int64 indices and float32 values
    (or (N, knn) when a single prompt was given), like `kernel_topk`."""
    xt = torch.as_tensor(np.ascontiguousarray(x, np.float32), device=device)
    n = len(xt)
    if recompute_s:
        tt = torch.as_tensor(np.ascontiguousarray(t, np.float32), device=device)
        single = tt.ndim == 2
        tt = tt[None] if single else tt
        nb = len(tt)
        get_s = lambda b, a, z: torch.softmax(xt[a:z] @ tt[b].T / tau, dim=1)
    else:
        st = torch.as_tensor(np.ascontiguousarray(s, np.float32), device=device)
        single = st.ndim == 2
        st = st[None] if single else st
        nb = len(st)
        get_s = lambda b, a, z: st[b, a:z]
    best_v = torch.full((nb, n, knn), -torch.inf, device=device)
    best_i = torch.zeros((nb, n, knn), dtype=torch.int64, device=device)
    starts = list(range(0, n, block))
    for i0 in starts:
        i1 = min(n, i0 + block)
        s_rows = [get_s(b, i0, i1) for b in range(nb)]
        for j0 in starts:
            if j0 < i0: continue
            j1 = min(n, j0 + block)
            u = xt[i0:i1] @ xt[j0:j1].T
            diag = i0 == j0
            for b in range(nb):
                s_cols = s_rows[b] if diag else get_s(b, j0, j1)
                k = s_rows[b] @ s_cols.T
                k.mul_(u)
                if diag: k.fill_diagonal_(-torch.inf)
                best_v[b, i0:i1], best_i[b, i0:i1] = _update(best_v[b, i0:i1], best_i[b, i0:i1], k, j0, knn, select)
                if not diag:
                    kt = k.T.contiguous()  # a contiguous copy: top-k along strided rows is slower than the copy
                    best_v[b, j0:j1], best_i[b, j0:j1] = _update(best_v[b, j0:j1], best_i[b, j0:j1], kt, i0, knn, select)
    best_v.mul_(scale)
    idx, val = best_i.cpu().numpy(), best_v.cpu().numpy()
    return (idx[0], val[0]) if single else (idx, val)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="*", default=[10000])
    ap.add_argument("--prompts", type=int, default=1)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--skip-reference", action="store_true")
    a = ap.parse_args()
    from laic_nb.performance import bench_data
    from laic_nb.ntk import semantic_probs, kernel_topk, mutual_knn_graph
    from laic_nb.spectral import spectral_clustering
    from laic_nb.metrics import evaluate
    tau, knn = 0.04, 30
    for n in a.n:
        d = bench_data(n)
        x = d["x"]
        tx = d["t"] if a.prompts == 1 else d["pt"][:a.prompts]
        t0 = time.perf_counter()
        s = semantic_probs(x, tx, tau) if a.prompts == 1 else np.stack([semantic_probs(x, tb, tau) for tb in tx])
        ts = time.perf_counter() - t0
        t0 = time.perf_counter(); i2, v2 = sym_kernel_topk(x, s, knn, 1 / tau**2, block=a.block); t_new = time.perf_counter() - t0
        t0 = time.perf_counter(); i3, v3 = sym_kernel_topk(x, None, knn, 1 / tau**2, block=a.block, t=tx, tau=tau, recompute_s=True)
        t_rec = time.perf_counter() - t0
        line = f"N={n:,} B={a.prompts}: semantic_probs {ts:.1f} s; proposed (symmetric tiles) {t_new:.1f} s; proposed, S recomputed per block {t_rec:.1f} s"
        if not a.skip_reference:
            t0 = time.perf_counter(); i1, v1 = kernel_topk(x, s, knn, scale=1 / tau**2); t_old = time.perf_counter() - t0
            line += f"; current kernel_topk {t_old:.1f} s -> speed-up {t_old / t_new:.2f}x"
            pairs = [(i1, v1, i2, v2), (i1, v1, i3, v3)] if a.prompts == 1 else [(i1[0], v1[0], i2[0], v2[0]), (i1[0], v1[0], i3[0], v3[0])]
            for tag, (ia, va, ib, vb) in zip(("stored S", "recomputed S"), pairs):
                ga, gb = mutual_knn_graph(ia, va), mutual_knn_graph(ib, vb)
                diff_edges = ((ga != 0) != (gb != 0)).nnz
                la, lb = spectral_clustering(ga, 10), spectral_clustering(gb, 10)
                line += (f"\n   [{tag}] graph edges {ga.nnz:,} vs {gb.nnz:,}, differing {diff_edges}; max |value diff| "
                         f"{abs(ga - gb).max():.2e} (max value {ga.max():.1f}); labels agreement NMI {evaluate(la, lb)['nmi']:.4f}")
        print(line, flush=True)


if __name__ == "__main__":
    main()


def proto_case(data: str, variant: str = "naive", n_clusters: int = 10, tau: float = 0.04, knn: int = 30, device: str = "cpu",
               block: int = 4096, recompute_s: bool = False, labels_out: str | None = None, select: str = "topk") -> dict:
    """`NTKSpectralClustering(variant)` end to end with `kernel_topk` swapped for `sym_kernel_topk` (a `bench/run.py --proto`
    case, run in a fresh process), so that everything but the kernel is the library's own code; stage times."""
    import laic_nb.cluster as cluster
    from laic_nb.metrics import evaluate
    d = dict(np.load(data))
    x, y = d["x"], d["y"]
    t = d["t"] if variant == "naive" else d["pt"]
    stages = {"kernel_topk": 0.0}
    sync = (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else (lambda: None)

    def patched(x_, s_=None, knn_=30, scale=1.0, device=None, block_size=None, dtype="float32", **kw):
        t0 = time.perf_counter()
        out = sym_kernel_topk(x_, s_, knn_, scale, block=block, device=device or "cpu", select=select)
        sync(); stages["kernel_topk"] += time.perf_counter() - t0
        return out

    original = cluster.kernel_topk
    cluster.kernel_topk = patched
    try:
        est = cluster.NTKSpectralClustering(n_clusters=n_clusters, text_features=t, variant=variant, tau=tau, knn=knn,
                                            device=device, random_state=0)
        t_all, c_all = time.perf_counter(), time.process_time()
        labels = est.fit(x).labels_
        sync()
        seconds, cpu = time.perf_counter() - t_all, time.process_time() - c_all
    finally: cluster.kernel_topk = original
    stages["rest"] = seconds - stages["kernel_topk"]
    out = {"case": "proto_naive", "n": int(len(x)), "seconds": seconds, "cpu_seconds": cpu, "stages": stages,
           "impl": f"NTKSpectralClustering(variant={variant!r}) with bench/proto_topk.py sym_kernel_topk(block={block}, select={select})",
           "vs_truth": evaluate(y, labels), "threads": torch.get_num_threads()}
    if device.startswith("cuda"): out["cuda_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    if labels_out: np.save(labels_out, labels); out["labels"] = labels_out
    return out
