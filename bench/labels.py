"""Behaviour check for refactors: the labels of every method on fixed synthetic cases and on the real embeddings.

    .venv/bin/python bench/labels.py --save bench/results/labels-before.npz     # on the old code
    .venv/bin/python bench/labels.py --compare bench/results/labels-before.npz  # on the new code: exits 1 on any change
    .venv/bin/python bench/labels.py --quick --save ...                         # synthetic cases only (about a minute)

Synthetic: `make_bench_features` (N=1,500, K=10, 835 nouns, 7 prompts) and `make_vl_blobs` (N=600, confusion 0.75), every
method of `run_method` with known K, and NTK naive/RAD with K estimated. Real: the precomputed OpenAI CLIP ViT-B/32
embeddings of ../shared/data (bench/real.py's loader), seed 0, every method but centers; centers on Food-101 only, through
a randomly initialised tiny text tower. Labels are compared exactly (the same partition with the same ids).
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SYNTHETIC_METHODS = ("kmeans", "sc", "tac-notrain", "relational", "ntk-naive", "ntk-pe", "ntk-rad")
REAL_METHODS = ("kmeans", "sc", "tac-notrain", "ntk-naive", "ntk-pe", "ntk-rad")


def _bench_features(n, k, seed):
    from laic_nb.data import make_bench_features
    return make_bench_features(n, n_clusters=k, random_state=seed)


def synthetic_cases():
    "(name, x, k, t, pt) of the fixed synthetic cases."
    from laic_nb.data import make_vl_blobs
    d = _bench_features(1500, 10, 0)
    yield "bench1500", d["x"], 10, d["t"], d["pt"]
    b = make_vl_blobs(600, 10, 64, 300, confusion=0.75, random_state=1)
    yield "blobs600", b.image_features, 10, b.text_features, b.prompt_text_features


def run_all(quick: bool, log=print) -> dict:
    from laic_nb.pipeline import run_method
    from laic_nb.benchmark import run_paper2
    out = {}
    def put(key, labels, t0):
        out[key] = np.asarray(labels, dtype=np.int64)
        log(f"{key:40s} {len(np.unique(out[key])):4d} clusters  {time.perf_counter() - t0:6.1f} s")
    for name, x, k, t, pt in synthetic_cases():
        for m in SYNTHETIC_METHODS:
            t0 = time.perf_counter()
            put(f"syn/{name}/{m}", run_method(m, x, k, t, pt, random_state=0).labels, t0)
        for m in ("ntk-naive", "ntk-rad"):
            t0 = time.perf_counter()
            put(f"syn/{name}/{m}/auto-k", run_method(m, x, None, t, pt, random_state=0).labels, t0)
    if quick: return out
    from real import load_real, centers_clip
    vocab, sets = load_real()
    for name, ds in sets.items():
        for m in REAL_METHODS:
            t, pt = (vocab.features, None) if m in ("ntk-naive", "tac-notrain") else (vocab.in1k_ensemble, vocab.in1k_prompts)
            t0 = time.perf_counter()
            put(f"real/{name}/{m}", run_method(m, ds.features, ds.k, t, pt, random_state=0, filter_nouns=False).labels, t0)
        t0 = time.perf_counter()
        put(f"real/{name}/relational", run_paper2("relational", ds.select_features, ds.features, ds.k, vocab.features,
                                                  random_state=0).labels, t0)
        if name == "food101":
            t0 = time.perf_counter()
            put(f"real/{name}/centers", run_paper2("centers", ds.select_features, ds.features, ds.k, vocab.features,
                                                   clip=centers_clip("tiny"), centers_mode="features", random_state=0,
                                                   params=dict(epochs=5)).labels, t0)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="write the labels to this .npz")
    g.add_argument("--compare", help="compare with the labels in this .npz")
    p.add_argument("--quick", action="store_true", help="synthetic cases only")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    labels = run_all(a.quick)
    if a.save:
        Path(a.save).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(a.save, **labels)
        print(f"{len(labels)} label vectors written to {a.save}")
        return 0
    with np.load(a.compare) as ref:
        keys = [q for q in labels if q in ref.files]
        same = [q for q in keys if ref[q].shape == labels[q].shape and (ref[q] == labels[q]).all()]
    changed = sorted(set(keys) - set(same))
    print(f"identical: {len(same)} of {len(keys)} label vectors (new ones not in the reference: {len(labels) - len(keys)})")
    for q in changed: print(f"  CHANGED {q}")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
