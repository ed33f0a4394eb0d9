"""`predict` on real CLIP ViT-B/32 embeddings (OpenAI weights, precomputed): does it give back the fit, does it agree
with clustering everything at once, and are images of classes absent from the fit UNKNOWN?

    .venv/bin/python bench/predict.py                                   # dtd caltech101 food101 imagenet_4shot, seed 0
    .venv/bin/python bench/predict.py --datasets dtd --methods kmeans ntk-rad --seeds 0 1 2
    .venv/bin/python bench/predict.py --alternatives          # the unknown rule against two other label-free rules
    .venv/bin/python bench/predict.py --timing 20000          # SYNTHETIC: fit and predict seconds

Per dataset and method, three measurements, each with the method's default hyper-parameters and the true K:
1. fit: fit on every image, `predict` the same images: NMI(labels_, predict) and the share equal (unknown_rate=0).
2. halves: a seeded random half A; fit on A, predict the other half B (unknown_rate=0); compared with the labels of B
   when A and B are clustered at once (fit 1.). For scale, the same comparison of fit-on-A's own labels of A.
3. absent: 20 % of the classes (seeded) are left out; fit on 70 % of the others' images (K = classes present),
   predict the remaining 30 % of them and every image of the absent classes, at the default unknown_rate (0.05):
   the share called UNKNOWN of each.
Nouns are chosen as `run_method` chooses them (TAC's filter on the fitted images; the second paper's candidates for
relational); ntk-pe and ntk-rad use the 1,000 ImageNet names under their 2 prompts, the rest all 2,648 names.
zeroshot runs where every class name has text features (ImageNet). centers is left out: its class tokens train through
a randomly initialised text tower here (no CLIP weights on this machine), and its predict is the nearest learned center.
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE)); sys.path.insert(0, str(HERE.parent))
from real import data_root, missing, load_real, machine, LABEL  # noqa: E402

METHODS = ("kmeans", "sc", "tac-notrain", "relational", "ntk-naive", "ntk-pe", "ntk-rad", "zeroshot")
DATASETS = ("dtd", "caltech101", "food101", "imagenet_4shot")


def fit(method, x, k, vocab, class_features=None, seed=0):
    "The fitted estimator of `method` on images `x`, nouns chosen as run_method chooses them."
    from laic_nb.pipeline import run_method
    if method in ("ntk-pe", "ntk-rad"): t, pt = vocab.in1k_ensemble, vocab.in1k_prompts
    else: t, pt = vocab.features, None
    return run_method(method, x, k, t, pt, class_text_features=class_features, random_state=seed).estimator


def nmi(a, b) -> float:
    from sklearn.metrics import normalized_mutual_info_score
    return float(normalized_mutual_info_score(a, b))


def measure(ds, vocab, method, seed=0) -> dict:
    "The three measurements of one method on one dataset (see the module's text)."
    x, y, k = ds.features, ds.labels, ds.k
    cf = vocab.in1k_ensemble if method == "zeroshot" else None
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    full = fit(method, x, k, vocab, cf, seed)
    full.set_params(unknown_rate=0)
    p = full.predict(x)
    out = dict(fit_nmi=nmi(full.labels_, p), fit_equal=float((p == full.labels_).mean()))
    perm = rng.permutation(len(x)); a, b = np.sort(perm[:len(x) // 2]), np.sort(perm[len(x) // 2:])
    half = fit(method, x[a], k, vocab, cf, seed)
    half.set_params(unknown_rate=0)
    out.update(halves_nmi=nmi(full.labels_[b], half.predict(x[b])), halves_own_nmi=nmi(full.labels_[a], half.labels_))
    classes = np.unique(y); gone = rng.choice(classes, max(1, len(classes) // 5), replace=False)
    absent = np.isin(y, gone)
    present = rng.permutation(np.flatnonzero(~absent)); cut = int(0.7 * len(present))
    fit_rows, fresh = np.sort(present[:cut]), np.sort(present[cut:])
    kp = len(classes) - len(gone)
    cfp = None if cf is None else cf[np.setdiff1d(classes, gone)]  # zero-shot is told the classes present only
    part = fit(method, x[fit_rows], kp, vocab, cfp, seed)  # the default unknown_rate
    out.update(fresh_unknown=float((part.predict(x[fresh]) == -1).mean()),
               absent_unknown=float((part.predict(x[absent]) == -1).mean()), seconds=time.perf_counter() - t0)
    return out


def run(datasets=DATASETS, methods=METHODS, seeds=(0,), root=None, log=print) -> dict:
    "{dataset: {method: [measure per seed]}} (zeroshot only where the class names have text features: ImageNet)."
    vocab, sets = load_real(root, datasets)
    res = {}
    for name, ds in sets.items():
        res[name] = {}
        for m in methods:
            if m == "zeroshot" and name != "imagenet_4shot": continue
            res[name][m] = [measure(ds, vocab, m, s) for s in seeds]
            r = res[name][m][-1]
            log(f"{name} {m}: fit {r['fit_nmi']:.3f}  halves {r['halves_nmi']:.3f} (own {r['halves_own_nmi']:.3f})  "
                f"unknown: fresh {r['fresh_unknown']:.3f} absent {r['absent_unknown']:.3f}  ({r['seconds']:.0f} s)")
    return dict(results=res, sizes={n: (len(d.features), d.k) for n, d in sets.items()}, seeds=list(seeds))


def table(res: dict) -> str:
    "Markdown: one row per dataset x method, mean over seeds."
    lines = ["| set | method | fit: NMI (equal) | halves: NMI to the joint fit | fit on A alone vs the joint fit | "
             "unknown: fresh images of fitted classes | unknown: absent classes |", "|---|---|---|---|---|---|---|"]
    for name, per in res["results"].items():
        n, k = res["sizes"][name]
        for m, runs in per.items():
            mean = lambda q: float(np.mean([r[q] for r in runs]))
            lines.append(f"| {name} ({n:,}, K={k}) | {m} | {mean('fit_nmi'):.3f} ({mean('fit_equal'):.1%}) | "
                         f"{mean('halves_nmi'):.3f} | {mean('halves_own_nmi'):.3f} | {mean('fresh_unknown'):.1%} | "
                         f"{mean('absent_unknown'):.1%} |")
    return "\n".join(lines)


def timing(n: int = 20_000, n_new: int = 1_000, methods=("kmeans", "sc", "ntk-naive", "ntk-rad"), log=print) -> list:
    "SYNTHETIC timing (make_bench_features, K = 10, 7 prompts): fit on N, predict n_new fresh images, predict all N; seconds."
    from laic_nb.data import make_bench_features
    from laic_nb.pipeline import run_method
    d = make_bench_features(n + n_new, n_prompts=7, random_state=0)
    x, new = d["x"][:n], d["x"][n:]
    rows = []
    for m in methods:
        t0 = time.perf_counter()
        est = run_method(m, x, 10, d["t"], d["pt"]).estimator
        t1 = time.perf_counter(); est.predict(new); t2 = time.perf_counter(); est.predict(x); t3 = time.perf_counter()
        rows.append((m, t1 - t0, t2 - t1, t3 - t2))
        log(f"{m}: fit {t1 - t0:.1f} s, predict {n_new:,} new {t2 - t1:.2f} s, predict all {n:,} {t3 - t2:.1f} s "
            f"(predict all / fit = {(t3 - t2) / (t1 - t0):.2f})")
    return rows


def alternatives(datasets=DATASETS, seeds=(0, 1), root=None, log=print) -> dict:
    "The unknown rule against two other label-free rules, on the split of `measure` (rate 0.05): shares of fresh / absent."
    from laic_nb.assign import nearest_cosine, unknown_reference, unknown_threshold
    from laic_nb.cluster import ClipKMeans
    vocab, sets = load_real(root, datasets)
    out = {}
    for name, ds in sets.items():
        for s in seeds:
            rng = np.random.default_rng(s); rng.permutation(len(ds.features))  # measure()'s draws: the halves first
            y = ds.labels; classes = np.unique(y); gone = rng.choice(classes, max(1, len(classes) // 5), replace=False)
            absent = np.isin(y, gone); present = rng.permutation(np.flatnonzero(~absent)); cut = int(0.7 * len(present))
            xf, groups = ds.features[present[:cut]], dict(fresh=ds.features[present[cut:]], absent=ds.features[absent])
            c = xf @ xf.T; np.fill_diagonal(c, -2); own, near = c.max(1), c.argmax(1)  # every fitted image's nearest (N^2: dev sets)
            km = ClipKMeans(len(classes) - len(gone), n_init=3).fit(xf)
            cen = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
            to_own = (xf * cen[km.labels_]).sum(1)
            per = np.array([np.quantile(to_own[km.labels_ == k], 0.05) if (km.labels_ == k).any() else -1.0 for k in range(len(cen))])
            thr, thr_ratio = unknown_threshold(unknown_reference(xf)), np.quantile(own / own[near], 0.05)
            for g, x in groups.items():
                cc = x @ xf.T; j = cc.argmax(1); nn = cc.max(1)
                a = (x @ cen.T).argmax(1)
                r = dict(nearest=(nearest_cosine(x, xf) < thr).mean(), center=((x * cen[a]).sum(1) < per[a]).mean(),
                         ratio=(nn / own[j] < thr_ratio).mean())
                out.setdefault((name, g), []).append(r)
            log(f"{name} seed {s}: " + "; ".join(f"{g}: " + " ".join(f"{q} {v[-1][q]:.3f}" for q in v[-1])
                                                   for (n, g), v in out.items() if n == name))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--timing", type=int, default=None, metavar="N", help="instead: SYNTHETIC fit/predict seconds at N images")
    ap.add_argument("--alternatives", action="store_true", help="instead: the unknown rule against two other label-free rules")
    a = ap.parse_args(argv)
    if a.alternatives:
        if (why := missing(data_root(a.data))): print(why); return 0
        alternatives(a.datasets, tuple(a.seeds) if a.seeds != [0] else (0, 1), a.data); return 0
    if a.timing:
        print(f"SYNTHETIC features (make_bench_features); machine: {machine()}")
        timing(a.timing); return 0
    if (why := missing(data_root(a.data))): print(why); return 0
    t0 = time.perf_counter()
    res = run(a.datasets, a.methods, tuple(a.seeds), a.data)
    print(f"\n{LABEL}; machine: {machine()}\n\n{table(res)}\n\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
