"""Label-free choice of K and tau (`laic_nb.selection`): how often each criterion finds the true K, and what it costs.

    .venv/bin/python bench/auto_k.py                                  # synthetic grid, then the four real sets
    .venv/bin/python bench/auto_k.py --synthetic-only                 # the synthetic grid only
    .venv/bin/python bench/auto_k.py --quick                          # a reduced grid and Food-101, seed 0
    .venv/bin/python bench/auto_k.py --datasets food101 dtd --seeds 0 --out bench/results/auto_k.md

Every problem: the NTK graph with the library's defaults (tau = 0.04, 30 neighbours, union graph) on nouns selected by
TAC's filter (`positive_nouns`) with k_f = 3 k_max centers, so that nothing but the candidate range is known about K.
For every criterion of `laic_nb.selection.criteria_table` (on the diffusion embedding, and the image-feature footing for
comparison) the chosen K is recorded, and the labels `spectral_clustering` gives with it are scored against the truth:
ACC lost = ACC with the true K minus ACC with the chosen K. `eigengap` is the library's `estimate_n_clusters`.

tau: every candidate of `selection.TAUS` is clustered with the true K; the best of them is the tuned (oracle) tau.
Reported: the ACC lost against it by the paper's fixed 0.04, by `select_tau` with the true K, and by the label-free
pipeline (`select_tau` with K chosen by the default criterion on the 0.04 graph, which is what `select_tau` does
itself with `n_clusters=None`; the K of the table above is passed in to avoid computing it twice).

Synthetic: `make_vl_blobs` (N = 600, d = 64, 300 nouns), K in {3, 6, 10, 15}, confusion in {0, 0.25, 0.5, 0.75},
seeds 0 1 2; candidates K in [2, max(20, 2K)]. Real: the precomputed OpenAI CLIP ViT-B/32 embeddings read by
bench/real.py (`--data` or `$LAIC_REAL_DATA`; without them the real part prints one line and is skipped), the whole
2,648-name vocabulary (one prompt), candidates [2, 2K]: every K up to 100, above that a geometric grid of 40 values
with K added (Caltech-101, ImageNet). ImageNet (K = 1,000) runs one seed and no stability (one eigendecomposition and
~40 discretisations of up to 2,000 columns per graph is minutes on this machine).

The default criterion of the library is the one this script's rule names on the synthetic grid (most true K found,
ties: least ACC lost); the rule is printed with the synthetic table, before the real sets are run.
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from laic_nb.data import make_vl_blobs
from laic_nb.metrics import cluster_acc
from laic_nb.ntk import ntk_affinity
from laic_nb.pipeline import positive_nouns
from laic_nb.spectral import spectral_clustering
from laic_nb import selection
from laic_nb.selection import CRITERIA, LOWER_IS_BETTER, TAUS, criteria_table, select_tau

SYN_KS, SYN_CONFUSIONS, SYN_SEEDS = (3, 6, 10, 15), (0.0, 0.25, 0.5, 0.75), (0, 1, 2)
FEATURE_ROWS = ("silhouette", "davies_bouldin", "calinski_harabasz")  # also scored on the image features
TIMES = (0, 4, 8, 32, 64)  # diffusion times beside the default, silhouette only (synthetic)
REAL_SETS = ("food101", "dtd", "caltech101", "imagenet_4shot")


def candidates(k: int, n: int, synthetic: bool) -> np.ndarray:
    "Candidate Ks: [2, max(20, 2K)] on synthetic data; [2, 2K] on real sets, a geometric grid (K added) above 100."
    top = min(n - 2, max(20, 2 * k) if synthetic else 2 * k)
    if top <= 100: return np.arange(2, top + 1)
    return np.unique(np.r_[np.round(np.geomspace(2, top, 40)).astype(int), k])


def graph_for(x, t, tau: float = 0.04):
    return ntk_affinity(x, t, tau, knn=30, graph="union")


def run_problem(x, select_x, vocab, y, ks, seed: int, stability: bool = True, times=TIMES, tau: bool = True,
                n_boot: int = 3) -> dict:
    "Every criterion's K and ACC lost on one problem, and the tau rows (see the module docstring)."
    k_true = int(len(np.unique(y)))
    keep = positive_nouns(select_x, vocab, n_centers=min(3 * int(ks.max()), len(select_x)), random_state=seed)
    t = vocab[keep]
    g = graph_for(x, t)
    accs = {}
    def acc(k, graph=g, key=0.04):
        if (key, k) not in accs: accs[(key, k)] = cluster_acc(y, spectral_clustering(graph, int(k), random_state=seed))
        return accs[(key, k)]
    crit = CRITERIA if stability else tuple(c for c in CRITERIA if c != "stability")
    table = criteria_table(g, ks=ks, criteria=crit, n_boot=n_boot, random_state=seed)
    picks = {c: table.best(c) for c in crit}
    curves = {c: table.scores[c] for c in crit}
    feats = criteria_table(g, ks=ks, criteria=FEATURE_ROWS, features=x, random_state=seed)
    picks.update({f"{c}, image features": feats.best(c) for c in FEATURE_ROWS})
    for tt in times:
        picks[f"silhouette, t = {tt}"] = criteria_table(g, ks=ks, criteria="silhouette", diffusion_time=tt,
                                                         random_state=seed).best("silhouette")
    out = dict(k=k_true, picks=picks, lost={r: acc(k_true) - acc(k) for r, k in picks.items()}, acc_known=acc(k_true),
               nouns=len(keep), ks=ks, curves=curves, eigenvalues=table.eigenvalues)
    if tau:
        graphs = {tau_: (g if tau_ == 0.04 else graph_for(x, t, tau_)) for tau_ in TAUS}
        build = lambda x_, t_, tau_: graphs[tau_]
        tau_acc = {tau_: acc(k_true, graphs[tau_], tau_) for tau_ in TAUS}
        best = max(tau_acc.values())
        known = select_tau(x, t, n_clusters=k_true, build_graph=build, k_max=int(ks.max()), random_state=seed)
        k_auto = picks[selection.DEFAULT_CRITERION]
        auto = select_tau(x, t, n_clusters=k_auto, build_graph=build, k_max=int(ks.max()), random_state=seed)
        out["tau"] = dict(acc=tau_acc, tuned=max(tau_acc, key=tau_acc.get), known=known.tau, auto=auto.tau, k_auto=k_auto,
                          lost={"tau = 0.04, true K": best - tau_acc[0.04],
                                "select_tau, true K": best - tau_acc[known.tau],
                                f"tau = 0.04, K by {selection.DEFAULT_CRITERION}": best - acc(k_auto),
                                "tau = 0.04, K by eigengap": best - acc(picks["eigengap"]),
                                f"select_tau, K by {selection.DEFAULT_CRITERION}": best - acc(k_auto, graphs[auto.tau], auto.tau)})
    return out


def synthetic_grid(ks=SYN_KS, confusions=SYN_CONFUSIONS, seeds=SYN_SEEDS, log=print, **kw) -> list:
    "`run_problem` on every synthetic make_vl_blobs problem of the grid."
    res = []
    for k in ks:
        for c in confusions:
            for s in seeds:
                t0 = time.perf_counter()
                d = make_vl_blobs(600, k, 64, 300, confusion=c, random_state=s)
                r = run_problem(d.image_features, d.image_features, d.text_features, d.labels,
                                candidates(k, 600, True), s, **kw)
                r.update(confusion=c, seed=s)
                res.append(r)
                log(f"  synthetic K={k} confusion={c} seed={s}: eigengap {r['picks']['eigengap']}, "
                    f"{selection.DEFAULT_CRITERION} {r['picks'][selection.DEFAULT_CRITERION]} ({time.perf_counter() - t0:.1f} s)")
    return res


def rows_of(results) -> list:
    "Row names in a fixed order: the criteria, the image-feature footing, then the diffusion times."
    names = list(results[0]["picks"])
    return [n for n in names if n in CRITERIA] + [n for n in names if n not in CRITERIA]


def rule_default(results) -> str:
    "The rule fixed before the real sets are scored: of the five criteria, most true K found; ties: least ACC lost."
    found = {c: np.mean([r["picks"][c] == r["k"] for r in results]) for c in CRITERIA if c in results[0]["picks"]}
    lost = {c: np.mean([r["lost"][c] for r in results]) for c in found}
    return max(found, key=lambda c: (found[c], -lost[c]))


def pct(v) -> str: return f"{100 * v:.0f}"


def synthetic_table(results) -> str:
    "Markdown: per criterion, true K found (all and per confusion level), over / under-estimates and ACC lost."
    conf = sorted({r["confusion"] for r in results})
    head = ["criterion (footing)", "true K found, %"] + [f"found at confusion {c}, %" for c in conf] + \
           ["K̂ > K, %", "K̂ < K, %", "ACC lost, points (mean)", "ACC lost, worst"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows_of(results):
        hit = [r["picks"][row] == r["k"] for r in results]
        by = [pct(np.mean([r["picks"][row] == r["k"] for r in results if r["confusion"] == c])) for c in conf]
        lost = [100 * r["lost"][row] for r in results]
        cells = [row, pct(np.mean(hit)), *by, pct(np.mean([r["picks"][row] > r["k"] for r in results])),
                 pct(np.mean([r["picks"][row] < r["k"] for r in results])), f"{np.mean(lost):.1f}", f"{np.max(lost):.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tau_table(groups: dict) -> str:
    "Markdown: ACC lost against the tuned tau (true K), per group of problems, and the taus chosen."
    names = list(next(iter(groups.values()))[0]["tau"]["lost"])
    head = ["rule"] + list(groups)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        lines.append("| " + " | ".join([n] + [f"{100 * np.mean([r['tau']['lost'][n] for r in rs]):.1f}"
                                              for rs in groups.values()]) + " |")
    for key, label in (("tuned", "tuned tau (oracle, true K)"), ("known", "tau chosen, true K"),
                       ("auto", f"tau chosen, K by {selection.DEFAULT_CRITERION}")):
        lines.append("| " + " | ".join([label] + [_tau_counts([r["tau"][key] for r in rs]) for rs in groups.values()]) + " |")
    return "\n".join(lines)


def _tau_counts(taus) -> str:
    vals, counts = np.unique(taus, return_counts=True)
    return ", ".join(f"{v:g}" + (f" ×{c}" if c > 1 else "") for v, c in zip(vals, counts))


def real_table(results: dict) -> str:
    "Markdown: per criterion and real set, the K chosen (one per seed) and the mean ACC lost."
    sets = list(results)
    head = ["criterion (footing)"] + [f"{s}: K̂ (ACC lost)" for s in sets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    k_row = ["true K (ACC with it)"] + [f"{results[s][0]['k']} ({100 * np.mean([r['acc_known'] for r in results[s]]):.1f})"
                                        for s in sets]
    lines.append("| " + " | ".join(k_row) + " |")
    rows = [r for r in rows_of(results[sets[0]])]
    for row in rows:
        cells = [row]
        for s in sets:
            rs = results[s]
            if row not in rs[0]["picks"]: cells.append("-"); continue
            cells.append(", ".join(str(r["picks"][row]) for r in rs) + f" ({100 * np.mean([r['lost'][row] for r in rs]):.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_grid(datasets=REAL_SETS, seeds=(0, 1, 2), data=None, log=print, n_boot: int = 3) -> dict:
    "`run_problem` on the real sets (ImageNet: seed 0, no stability); {} when the data are absent."
    import real
    root = real.data_root(data)
    if (why := real.missing(root)):
        log(why); return {}
    vocab, sets = real.load_real(root, tuple(datasets))
    out = {}
    for name, ds in sets.items():
        big = ds.k >= 500
        for s in (seeds[:1] if big else seeds):
            t0 = time.perf_counter()
            r = run_problem(ds.features, ds.select_features, vocab.features, ds.labels,
                            candidates(ds.k, len(ds.features), False), s, stability=not big, times=(), n_boot=n_boot)
            out.setdefault(name, []).append(r)
            log(f"  {name} seed {s}: eigengap {r['picks']['eigengap']}, {selection.DEFAULT_CRITERION} "
                f"{r['picks'][selection.DEFAULT_CRITERION]}, tau {r['tau']['auto']} ({time.perf_counter() - t0:.0f} s)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder holding clip-vitb32-real/ (default: $LAIC_REAL_DATA or ../shared/data)")
    ap.add_argument("--datasets", nargs="+", default=list(REAL_SETS), choices=REAL_SETS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--synthetic-only", action="store_true")
    ap.add_argument("--real-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="synthetic K in {6, 10}, confusion {0, 0.75}, seeds 0 1; Food-101 seed 0")
    ap.add_argument("--out", default=str(HERE / "results" / "auto_k.md"), help="also write the tables here")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    log = lambda s: print(s, flush=True)
    from real import machine
    out = ["# Label-free choice of K and tau", "", f"Machine: {machine()}.", ""]
    if not a.real_only:
        grid = dict(ks=(6, 10), confusions=(0.0, 0.75), seeds=(0, 1)) if a.quick else {}
        syn = synthetic_grid(log=log, **grid)
        n = len(syn)
        rule = rule_default(syn)
        out += [f"## Synthetic make_vl_blobs ({n} problems: N = 600, d = 64, 300 nouns; K in "
                f"{sorted({r['k'] for r in syn})}, confusion in {sorted({r['confusion'] for r in syn})}, "
                f"seeds {sorted({r['seed'] for r in syn})}; candidates [2, max(20, 2K)]; NTK graph tau = 0.04, "
                f"30-NN union; diffusion time 16 unless the row says otherwise)", "", synthetic_table(syn), "",
                f"Rule (fixed before the real sets are scored): of the five criteria on the diffusion footing, the most "
                f"true K found, ties broken by the least ACC lost: **{rule}** (library default: "
                f"{selection.DEFAULT_CRITERION}{'' if rule == selection.DEFAULT_CRITERION else ' — DIFFERENT: update it'}).", "",
                "tau on the same problems: ACC lost (points, mean) against the best of "
                f"{', '.join(map(str, TAUS))} clustered with the true K", "",
                tau_table({f"synthetic, confusion {c}": [r for r in syn if r["confusion"] == c]
                           for c in sorted({r['confusion'] for r in syn})} | {"synthetic, all": syn}), ""]
        log("\n".join(out[-9:]))
    if not a.synthetic_only:
        datasets, seeds = (["food101"], [0]) if a.quick else (a.datasets, a.seeds)
        res = real_grid(datasets, tuple(seeds), a.data, log)
        if res:
            out += ["## Real CLIP ViT-B/32 embeddings (OpenAI weights, precomputed; whole 2,648-name vocabulary)", "",
                    "K̂ for each seed (" + ", ".join(f"{s}: seeds {' '.join(str(r['seed_']) for r in rs)}"
                                                      for s, rs in _with_seeds(res, seeds).items()) + "), "
                    "mean ACC lost in points; candidates [2, 2K] (a 40-value geometric grid with K added above 100)", "",
                    real_table(res), "", "tau: ACC lost (points, mean over seeds) against the best candidate tau with the true K",
                    "", tau_table(res), ""]
            log("\n".join(out[-7:]))
    out.append(f"Total {time.perf_counter() - t_start:.0f} s; command: `python bench/auto_k.py "
               + " ".join(argv if argv is not None else sys.argv[1:]) + "`")
    text = "\n".join(out)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n")
    print("\n" + text)
    return 0


def _with_seeds(res: dict, seeds) -> dict:
    "Tag each real result with its seed (ImageNet ran the first seed only)."
    for rs in res.values():
        for r, s in zip(rs, seeds): r["seed_"] = s
    return res


if __name__ == "__main__":
    sys.exit(main())
