"""RAD dense (the diffusion as written) against RAD on the kNN pattern, and union against mutual kNN graphs.

    .venv/bin/python bench/rad.py                                   # synthetic N = 1000 2000 4000, real sets if present
    .venv/bin/python bench/rad.py --sizes 2000 8000 --no-real --seeds 0 1
    .venv/bin/python bench/rad.py --timing-sizes 1000 2000 4000    # dense-RAD seconds per N, and the auto crossover

Agreement is NMI between the labels of two runs on the same inputs (1.0: the same partition). Synthetic data is
`make_bench_features` (CLIP-shaped, planted clusters, 7 prompt templates); real data is the precomputed OpenAI CLIP
ViT-B/32 embeddings that bench/real.py loads (two prompts per ImageNet name, so B = 2 there). Everything runs on this
process's device (`device=None`: a GPU when visible), float32 dense RAD.
"""
from __future__ import annotations
import argparse, platform, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))


def labels_of(x, pt, k, **kw):
    from laic_nb.cluster import NTKSpectralClustering
    t0 = time.perf_counter()
    est = NTKSpectralClustering(k, text_features=pt, variant=kw.pop("variant", "rad"), **kw).fit(x)
    return est, time.perf_counter() - t0


def compare(name, x, pt, y, k, seed=0):
    "One row: dense vs sparse RAD (union graphs), union vs mutual (naive, PE, RAD sparse), accuracies."
    from laic_nb.metrics import evaluate
    from sklearn.metrics import normalized_mutual_info_score as nmi
    dense, t_dense = labels_of(x, pt, k, rad_mode="dense", random_state=seed)
    sparse, t_sparse = labels_of(x, pt, k, rad_mode="sparse", random_state=seed)
    row = dict(data=name, n=len(x), b=len(pt), rad_dense_vs_sparse=nmi(dense.labels_, sparse.labels_),
               acc_dense=evaluate(y, dense.labels_)["acc"], acc_sparse=evaluate(y, sparse.labels_)["acc"],
               s_dense=t_dense, s_sparse=t_sparse)
    for variant in ("naive", "pe"):
        u, _ = labels_of(x, pt, k, variant=variant, random_state=seed)
        m, _ = labels_of(x, pt, k, variant=variant, graph="mutual", random_state=seed)
        row[f"{variant}_union_vs_mutual"] = nmi(u.labels_, m.labels_)
        row[f"{variant}_acc_union"], row[f"{variant}_acc_mutual"] = evaluate(y, u.labels_)["acc"], evaluate(y, m.labels_)["acc"]
        row[f"{variant}_voted_mutual"], row[f"{variant}_components_mutual"] = m.n_voted_, m.n_components_
    mut, _ = labels_of(x, pt, k, rad_mode="sparse", graph="mutual", random_state=seed)
    row["rad_union_vs_mutual"] = nmi(sparse.labels_, mut.labels_)
    row["rad_acc_mutual"] = evaluate(y, mut.labels_)["acc"]
    return row


def agreement_table(rows) -> str:
    head = ("| data | N | B | RAD dense vs sparse (NMI) | ACC dense / sparse | s dense / sparse | naive union vs mutual "
            "| naive ACC union / mutual (voted, components) | PE union vs mutual | RAD union vs mutual (sparse) |")
    out = [head, "|" + "---|" * 10]
    for r in rows:
        out.append(f"| {r['data']} | {r['n']:,} | {r['b']} | {r['rad_dense_vs_sparse']:.3f} | {r['acc_dense']:.3f} / {r['acc_sparse']:.3f} "
                   f"| {r['s_dense']:.1f} / {r['s_sparse']:.1f} | {r['naive_union_vs_mutual']:.3f} "
                   f"| {r['naive_acc_union']:.3f} / {r['naive_acc_mutual']:.3f} ({r['naive_voted_mutual']}, {r['naive_components_mutual']}) "
                   f"| {r['pe_union_vs_mutual']:.3f} | {r['rad_union_vs_mutual']:.3f} |")
    return "\n".join(out)


def timing_table(sizes, n_prompts=7, device=None) -> str:
    "Dense RAD seconds per N (measured), the model's estimate, and what `rad_mode='auto'` picks."
    from laic_nb.core import get_device
    from laic_nb.data import make_bench_features
    from laic_nb.ntk import ntk_affinities
    from laic_nb.rad import rad, dense_rad_seconds, sparse_dense_rate, resolve_rad_mode, dense_rad_bytes, RAD_TIME_BUDGET_S
    from laic_nb.spectral import normalized_affinity
    dev = get_device(device)
    out = [f"device {dev}: measured sparse x dense rate {sparse_dense_rate(dev) / 1e9:.2f} G multiply-adds/s; "
           f"auto time budget {RAD_TIME_BUDGET_S:.0f} s", "",
           "| N | nnz per row (mean over prompts) | dense RAD measured s | estimated s | sparse RAD s | memory (dense) | auto picks |",
           "|---:|---:|---:|---:|---:|---:|---|"]
    for n in sizes:
        f = make_bench_features(n, n_prompts=n_prompts, random_state=0)
        graphs = ntk_affinities(f["x"], f["pt"], knn=30)
        nnz = [normalized_affinity(g).nnz for g in graphs]
        est = dense_rad_seconds(n, nnz, 5 * 9, dev)
        t0 = time.perf_counter(); rad(graphs, mode="dense", device=dev); t_dense = time.perf_counter() - t0
        t0 = time.perf_counter(); rad(graphs, mode="sparse"); t_sparse = time.perf_counter() - t0
        pick = resolve_rad_mode("auto", n, nnz, 5 * 9, dev)
        out.append(f"| {n:,} | {np.mean(nnz) / n:.1f} | {t_dense:.1f} | {est:.1f} (upper bound: no early stop) | {t_sparse:.1f} "
                   f"| {dense_rad_bytes(n, dev) / 2**30:.2f} GB | {pick} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 4000], help="synthetic N for the agreement table")
    p.add_argument("--timing-sizes", type=int, nargs="*", default=[1000, 2000, 4000], help="N for the dense-RAD timing table")
    p.add_argument("--seeds", type=int, nargs="*", default=[0])
    p.add_argument("--no-real", action="store_true", help="skip the real embeddings")
    p.add_argument("--data", default=None, help="root of the real embeddings (see bench/real.py)")
    a = p.parse_args(argv)
    from laic_nb.data import make_bench_features
    print(f"# RAD dense vs sparse, union vs mutual ({platform.processor() or platform.machine()}, {platform.system()})\n")
    rows = []
    for n in a.sizes:
        for s in a.seeds:
            f = make_bench_features(n, n_prompts=7, random_state=s)
            rows.append(compare(f"synthetic (seed {s})", f["x"], f["pt"], f["y"], 10, s))
            print(f"  done: synthetic N={n} seed {s}", file=sys.stderr)
    if not a.no_real:
        import real
        why = real.missing(real.data_root(a.data))
        if why: print(why)
        else:
            vocab, sets = real.load_real(a.data)
            from laic_nb.pipeline import positive_nouns
            for ds in sets.values():
                keep = positive_nouns(ds.select_features, vocab.in1k_ensemble, ds.k, random_state=0)
                rows.append(compare(f"real {ds.name} (ImageNet names, 2 prompts)", ds.features, vocab.in1k_prompts[:, keep],
                                    ds.labels, ds.k))
                print(f"  done: {ds.name}", file=sys.stderr)
    print("Agreement (NMI between label sets) and accuracy, true K; synthetic = make_bench_features (7 prompts), "
          "real = OpenAI CLIP ViT-B/32 embeddings\n")
    print(agreement_table(rows))
    if a.timing_sizes:
        print("\nDense RAD cost (synthetic make_bench_features, B = 7 union graphs, q = 30)\n")
        print(timing_table(a.timing_sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
