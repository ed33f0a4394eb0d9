"""Label-free choice of K and tau (`laic_nb.selection`): how often each criterion finds the true K, and what it costs.

    .venv/bin/python bench/auto_k.py                                  # synthetic grid, then the four real sets
    .venv/bin/python bench/auto_k.py --synthetic-only                 # the synthetic grid only
    .venv/bin/python bench/auto_k.py --quick                          # a reduced grid and Food-101, seed 0
    .venv/bin/python bench/auto_k.py --datasets food101 dtd --seeds 0 --out bench/results/auto_k.md

Every problem: the NTK graph with the library's defaults (tau = 0.04, 30 neighbours, union graph) on nouns selected by
TAC's filter (`positive_nouns`) with k_f = 3 k_max centers, so that nothing but the candidate range is known about K.
Every candidate K is labelled once (`criteria_table`, the labels `spectral_clustering` gives), and each row of the tables
is one label-free way to pick among those labellings: the eigengap (`estimate_n_clusters`) and the eigenratio
(1 - lambda_{K+1}) / (1 - lambda_K); silhouette, Davies-Bouldin, Calinski-Harabasz and stability on the diffusion
embedding at t = 16; the silhouette at other fixed t; the adaptive t (`diffusion_time="auto"`: the k_max-th eigenvector
keeps weight `floor`) at three floors; the silhouette of each K in its own row-normalised top-K embedding; and, for
comparison, the three indices on the image features. ACC lost = ACC with the true K minus ACC with the chosen K.

The gap statistic (Tibshirani, Walther & Hastie 2001; issue #24): W_K = the pooled within-cluster sum of squares of the
(unit) image features under the graph's labelling with K clusters; the reference distribution is their method (b), uniform
over the box of the features' principal axes, rotated back, rows then put on the unit sphere as the pipeline does; each of
B = 5 reference samples is clustered by the same procedure as the data (the NTK graph on the same nouns, one
eigendecomposition, the same candidates). Gap(K) = mean log W*_K - log W_K, s_K = sd sqrt(1 + 1/B). Two rows: the paper's
1-SE rule (the smallest candidate K with Gap(K) >= Gap(K') - s_K', K' the next candidate on the grid; none: the largest
gap) and the K of the largest gap.

tau (real sets): every candidate of `selection.TAUS` is clustered with the true K; the best of them is the tuned (oracle)
tau. Reported: the ACC lost against it by the paper's fixed 0.04, by `select_tau` with the true K, and by the label-free
pipeline (`select_tau` with K chosen by the library's default on the 0.04 graph).

Synthetic (extended to many classes): `make_vl_blobs` with K in {5, 10, 20, 50, 100}, N = max(600, 30 K), d = 64,
max(300, 6 K) nouns, confusion in {0, 0.25, 0.5, 0.75}, seeds 0 1 2; candidates [2, 2K] as on the real sets; no stability
and no tau here (the first, 48-problem grid with K <= 15 measured both; chapter 24 keeps its table). Real: the
precomputed OpenAI CLIP ViT-B/32 embeddings read by bench/real.py (`--data` or `$LAIC_REAL_DATA`; without them the real
part prints one line and is skipped), the whole 2,648-name vocabulary (one prompt), candidates [2, 2K]: every K up to
100, above that a geometric grid of 40 values with K added (Caltech-101, ImageNet). ImageNet (K = 1,000) runs one seed
and no stability.

`RULE` (printed with the synthetic table, before the real sets are run) names the row that the library's default
should be; the script says so when the library differs.
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
from laic_nb.selection import (CRITERIA, LOWER_IS_BETTER, TAUS, DIFFUSION_TIME, criteria_table, select_tau, diffusion_embedding,
                               adaptive_diffusion_time, cosine_silhouette, davies_bouldin, calinski_harabasz, gaussian_bic)
from laic_nb.spectral import top_eigenpairs, row_normalize

INDEX = dict(silhouette=cosine_silhouette, davies_bouldin=davies_bouldin, calinski_harabasz=calinski_harabasz)

SYN_KS, SYN_CONFUSIONS, SYN_SEEDS = (5, 10, 20, 50, 100), (0.0, 0.25, 0.5, 0.75), (0, 1, 2)
IMAGES_PER_CLASS = 30  # synthetic N = max(600, 30 K)
FEATURE_ROWS = ("silhouette", "davies_bouldin", "calinski_harabasz")  # also scored on the image features
TIMES = (4, 8, 32)  # fixed diffusion times beside the default 16, silhouette only (synthetic)
FLOORS = (0.1, 0.01, 0.001)  # diffusion_time="auto": the weight lambda_kmax ** t left to the last candidate's eigenvector
EDGE_FLOORS = (0.1,)  # diffusion_time="edge" (RULE_25's first-ranked option): the weight the bulk edge keeps
DIFFUSION_FLOOR = 0.01  # the second round's floor of the adaptive time (the library's default until the fifth round, now 0.1)
REAL_SETS = ("food101", "dtd", "caltech101", "imagenet_4shot")
OWN = "silhouette, own top-K embedding"
BIC_X, BIC_D, NAMES, MODULARITY = "bic, image features", "bic, diffusion embedding", "names, 80 % distinct", "modularity"
NAMES_SHARE = 0.8  # the text side: the largest K at which at least this share of the clusters get distinct nouns
GAP_SE, GAP_MAX = "gap statistic (1-SE rule)", "gap statistic (max)"
GAP_B = 5  # reference samples of the gap statistic
EDGE = "edge"  # the count of eigenvalues above `selection.bulk_edge` (issue #24, fourth round)
SCALE_FRACTIONS = (1.0, 0.5, 0.25)  # the scale study: the share of the images kept
RULE = ("Rule (stated before any real set is scored with these options): among the rows computed from the graph alone "
        "(every row but the image-feature ones), the one with the most true K found over the extended synthetic grid, "
        "ties broken by the least ACC lost (mean); the library's default criterion and diffusion time are set to it.")


# Issue #24's rule, written 2026-12-06 17:22 UTC, before the final real run (`--issue24`), after the exploration runs on
# the synthetic subgrid (seed 0) and the dev embeddings (DTD, Caltech-101, ImageNet 4-shot, seed 0) that chose the options:
RULE_24 = ("Rule of issue #24 (stated before the final real run): options = the current default (silhouette, adaptive t, "
           "floor 0.01), the eigengap, BIC on the image features (X-means' isotropic Gaussian, `bic`), BIC on the diffusion "
           "embedding, the text side (largest K at which >= 80 % of the clusters get distinct nouns), graph modularity and the "
           "indices on the image features. Score = mean relative K error |K^ - K| / K, half from the 12-problem synthetic "
           "subgrid (K 5, 20, 50, 100 x confusion 0, 0.5, 0.75, seed 0), half from the dev embeddings at seed 0 (DTD, "
           "Caltech-101, ImageNet 4-shot). The lowest score becomes the default of n_clusters='auto'; the current default "
           "stays unless another option is lower. Final run: seeds 0 1 2 on DTD, Caltech-101 and Food-101, ImageNet 4-shot seed "
           "0, reported as it comes.")
# How it was applied: `rule24_scores` scores EVERY row the bench computes on both parts (it was written with the text and
# run unchanged), which includes the adaptive-time floors 0.1 and 0.001 that the text's list of options does not name.
# The run named "silhouette, t auto (floor 0.1)" (score 0.227); among the options the text names, the lowest was the
# then default, floor 0.01 (0.328). The text was written first and the discrepancy was seen only after the results, so the
# library follows the text: DIFFUSION_FLOOR stays 0.01 and floor 0.1 is the option diffusion_floor=0.1 (chapter 24).
# Issue #24's fifth round, written 2026-12-07 00:44 UTC, before its final run (`--user-path`), after development runs
# (synthetic subgrid seed 0, DTD / Caltech-101 / ImageNet 4-shot seed 0) of the user's path: no label-derived setting at all.
RULE_25 = ("Rule of issue #24's fifth round (stated before its final run): the protocol is the user's path, with no "
           "setting derived from the labels: nouns by the library's rule without K, k_f = max(N/300, 3 x 20) centers "
           "(TAC's N/300 gave 2 centers and 10 nouns on Food-101's 500 images), candidates from the library's default window "
           "[2, 20]. Options = today's default (silhouette on the adaptive footing, floor 0.01, window [2, 20]); the "
           "growing window (start [2, 20], doubled while the choice is its largest candidate, up to 200) with the adaptive "
           "footing at floors 0.1 and 0.01, and with the edge-anchored footing (t = ln(floor) / ln(bulk edge), which the "
           "window only clips) at floors 0.1 and 0.01; the edge count up to 200. Score = RULE_24's: mean relative K error, "
           "half the 12-problem synthetic subgrid (seed 0), half the dev sets at seed 0 (DTD, Caltech-101, ImageNet 4-shot). "
           "The lowest score becomes the default of n_clusters='auto'. Final run: `run_method` with k='auto' exactly as a "
           "user calls it, seeds 0 1 2 on DTD, Caltech-101 and Food-101 (Food-101 read by no rule), ImageNet 4-shot and "
           "ImageNet 7-shot seed 0, reported as it comes.")
# How it was applied (bench/auto_k_user.py --dev): it named the edge-anchored footing at floor 0.1 (0.449). After that option's
# final run, the issue's own time check (bench/auto_k_time.py, 10 synthetic classes of 2,000 images, N = 20,000) found it
# choosing 150 and 200 clusters for 10 at 19 to 155 times a fit at the known K (floor 0.01 on that footing: 32 and 178), so the
# library took the best-ranked option that passes the check: the growing window with the adaptive footing at floor 0.1
# (0.593; 12 and 10 on those graphs). Both final runs are reported (chapter 24).
ISSUE24_SYNTHETIC = dict(ks=(5, 20, 50, 100), confusions=(0.0, 0.5, 0.75), seeds=(0,))


def auto_row(criterion: str, floor: float) -> str: return f"{criterion}, t auto (floor {floor:g})"


def edge_row(criterion: str, floor: float) -> str: return f"{criterion}, t edge (floor {floor:g})"  # RULE_25's footing


ORACLE = "best ACC (oracle: reads the labels)"
SCALE_ROWS = (ORACLE, EDGE, "eigengap", auto_row("silhouette", 0.01), auto_row("silhouette", 0.1), BIC_X)


def row_setting(row: str) -> dict | None:
    "The `select_n_clusters` options of a graph row (criterion, diffusion_time, diffusion_floor); None for other rows."
    if row in ("eigengap", "eigenratio"): return dict(criterion=row)
    if row in FEATURE_ROWS: return dict(criterion=row, diffusion_time=16)
    for c in FEATURE_ROWS:
        for t in TIMES:
            if row == f"{c}, t = {t}": return dict(criterion=c, diffusion_time=t)
        for f in FLOORS:
            if row == auto_row(c, f): return dict(criterion=c, diffusion_time="auto", diffusion_floor=f)
            if row == edge_row(c, f): return dict(criterion=c, diffusion_time="edge", diffusion_floor=f)
    return None


def library_default() -> dict:
    "What `select_n_clusters` does with its defaults, in `row_setting`'s terms."
    import inspect
    p = inspect.signature(selection.criteria_table).parameters
    out = dict(criterion=selection.DEFAULT_CRITERION)
    if out["criterion"] not in ("eigengap", "eigenratio"):
        out["diffusion_time"] = p["diffusion_time"].default
        if out["diffusion_time"] in ("auto", "edge"):  # the floor: given, else the footing's own
            own = selection.DIFFUSION_FLOOR if out["diffusion_time"] == "auto" else selection.EDGE_FLOOR  # the library's
            out["diffusion_floor"] = p["diffusion_floor"].default if p["diffusion_floor"].default is not None else own
    return out


def candidates(k: int, n: int, synthetic: bool = False) -> np.ndarray:
    "Candidate Ks: [2, 2K], every value up to 100, a 40-value geometric grid (K added) above. The first synthetic "
    "grid (`synthetic=True`, K <= 15) used [2, max(20, 2K)]."
    top = min(n - 2, max(20, 2 * k) if synthetic else 2 * k)
    if top <= 100: return np.arange(2, top + 1)
    return np.unique(np.r_[np.round(np.geomspace(2, top, 40)).astype(int), k])


def graph_for(x, t, tau: float = 0.04):
    return ntk_affinity(x, t, tau, knn=30, graph="union")


def modularity(g, labels) -> float:
    "Newman's modularity of a labelling of the graph g: sum over clusters of (internal weight - expected under degrees)."
    import scipy.sparse as sp
    g = sp.csr_matrix(g); m2 = g.sum(); deg = np.asarray(g.sum(1)).ravel()
    lab = np.unique(labels, return_inverse=True)[1].ravel()
    member = sp.csr_matrix((np.ones(len(lab)), (np.arange(len(lab)), lab)))
    inside = (member.T @ g @ member).diagonal() / m2
    return float(inside.sum() - (((member.T @ deg) / m2) ** 2).sum())


def distinct_names(x, nouns, labels) -> int:
    "How many different nouns name the clusters (each cluster: the noun nearest to its mean image feature)."
    lab = np.unique(labels, return_inverse=True)[1].ravel()
    cent = np.zeros((lab.max() + 1, x.shape[1])); np.add.at(cent, lab, x)
    return len(np.unique((cent @ np.asarray(nouns, dtype=np.float64).T).argmax(1)))


def names_k(x, nouns, ks, labels, share: float = NAMES_SHARE) -> int:
    "The text side: the largest candidate K whose clusters get at least `share` x K distinct nouns."
    counts = np.array([distinct_names(x, nouns, lab) for lab in labels])
    return int(ks[counts >= share * ks].max())


def log_within(x, labels) -> float:
    "log W_k: the log of the pooled within-cluster sum of squares of the rows x under a labelling (Tibshirani et al.)."
    lab = np.unique(labels, return_inverse=True)[1].ravel()
    k = lab.max() + 1
    sums = np.zeros((k, x.shape[1])); np.add.at(sums, lab, x)
    sizes = np.bincount(lab, minlength=k).astype(np.float64)
    return float(np.log(max(float((x.astype(np.float64) ** 2).sum() - ((sums ** 2).sum(1) / sizes).sum()), 1e-300)))


def gap_reference(x, rng) -> np.ndarray:
    "Tibshirani, Walther & Hastie's reference (b): uniform over the box of the data's principal axes, rotated back; rows "
    "then put on the unit sphere, as every input of the pipeline is."
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(0)
    vt = np.linalg.svd(x - mu, full_matrices=False)[2]
    z = (x - mu) @ vt.T
    u = rng.uniform(z.min(0), z.max(0), size=z.shape) @ vt + mu
    return (u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def gap_statistic(x, nouns, ks, labels, seed: int, n_ref: int = GAP_B):
    "(gap (C,), s (C,)): Gap(K) = mean over `n_ref` references of log W*_K, less log W_K of the data's labellings, and "
    "s_K = sd * sqrt(1 + 1/B). Each reference sample is clustered by the same procedure as the data (the NTK graph on the "
    "same nouns, `top_eigenpairs`, `labels_for_k` for every candidate); W is measured on the (unit) image features."
    top = int(ks.max())
    x = np.asarray(x, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # as the graph sees them
    logw = np.array([log_within(x, lab) for lab in labels])
    rng = np.random.default_rng(seed)
    ref = np.empty((n_ref, len(ks)))
    for b in range(n_ref):
        xr = gap_reference(x, rng)
        vecs = top_eigenpairs(graph_for(xr, nouns), top + 1, seed,
                              min_component_size=selection._min_component_size(len(xr), top))[1]
        ref[b] = [log_within(xr, selection.labels_for_k(vecs, int(k), seed)) for k in ks]
    return ref.mean(0) - logw, ref.std(0) * np.sqrt(1 + 1 / n_ref)


def gap_picks(ks, gap, s) -> dict:
    "The 1-SE rule (the smallest candidate K with Gap(K) >= Gap(K') - s_K', K' the next candidate; none: the largest "
    "gap) and the K of the largest gap."
    ok = [i for i in range(len(ks) - 1) if gap[i] >= gap[i + 1] - s[i + 1]]
    return {GAP_SE: int(ks[ok[0]] if ok else ks[int(np.argmax(gap))]), GAP_MAX: int(ks[int(np.argmax(gap))])}


def score_rows(g, x, ks, seed: int, stability: bool = True, times=TIMES, floors=FLOORS, n_boot: int = 3, nouns=None,
               gap: bool = True):
    "(K chosen by every row, the library's table at t = 16): one eigendecomposition and one labelling per candidate."
    crit = (CRITERIA if stability else tuple(c for c in CRITERIA if c != "stability")) + (EDGE,)
    table = criteria_table(g, ks=ks, criteria=crit, diffusion_time=DIFFUSION_TIME, n_boot=n_boot, random_state=seed)
    picks = {c: table.best(c) for c in crit}
    top = int(ks.max())
    vals, vecs = top_eigenpairs(g, top + 1, seed, min_component_size=selection._min_component_size(g.shape[0], top))
    np.testing.assert_allclose(vals, table.eigenvalues, atol=1e-8)  # the same decomposition as the table's
    vals, vecs = vals[:top], vecs[:, :top]
    def pick(space, c="silhouette"):
        s = np.array([INDEX[c](space, lab) for lab in table.labels])
        return int(ks[np.argmin(s) if c in LOWER_IS_BETTER else np.argmax(s)])
    for t in times: picks[f"silhouette, t = {t}"] = pick(diffusion_embedding(vals, vecs, t))
    for f in floors:
        space = diffusion_embedding(vals, vecs, adaptive_diffusion_time(vals, f))
        for c in (("silhouette", "davies_bouldin") if f == DIFFUSION_FLOOR else ("silhouette",)): picks[auto_row(c, f)] = pick(space, c)
    for f in EDGE_FLOORS: picks[edge_row("silhouette", f)] = pick(diffusion_embedding(vals, vecs, adaptive_diffusion_time([table.bulk_edge], f)))
    own = np.array([cosine_silhouette(row_normalize(vecs[:, :k]), lab) for k, lab in zip(ks, table.labels)])
    picks[OWN] = int(ks[np.argmax(own)])
    for c in FEATURE_ROWS: picks[f"{c}, image features"] = pick(x, c)
    best = lambda s: int(ks[int(np.argmax(s))])
    picks[BIC_X] = best([gaussian_bic(x, lab) for lab in table.labels])  # issue #24's families
    space = diffusion_embedding(vals, vecs, adaptive_diffusion_time(vals, DIFFUSION_FLOOR))
    picks[BIC_D] = best([gaussian_bic(space, lab) for lab in table.labels])
    picks[MODULARITY] = best([modularity(g, lab) for lab in table.labels])
    if nouns is not None: picks[NAMES] = names_k(x, nouns, ks, table.labels)
    if nouns is not None and gap: picks.update(gap_picks(ks, *gap_statistic(x, nouns, ks, table.labels, seed)))
    return picks, table


def run_problem(x, select_x, vocab, y, ks, seed: int, stability: bool = True, times=TIMES, tau: bool = True,
                n_boot: int = 3, gap: bool = True) -> dict:
    "Every row's K and ACC lost on one problem, and the tau rows (see the module docstring)."
    k_true = int(len(np.unique(y)))
    keep = positive_nouns(select_x, vocab, n_centers=min(3 * int(ks.max()), len(select_x)), random_state=seed)
    t = vocab[keep]
    g = graph_for(x, t)
    accs = {}
    def acc(k, graph=g, key=0.04):
        if (key, k) not in accs: accs[(key, k)] = cluster_acc(y, spectral_clustering(graph, int(k), random_state=seed))
        return accs[(key, k)]
    picks, table = score_rows(g, x, ks, seed, stability, times, n_boot=n_boot, nouns=t, gap=gap)
    out = dict(k=k_true, picks=picks, lost={r: acc(k_true) - acc(k) for r, k in picks.items()}, acc_known=acc(k_true),
               nouns=len(keep), ks=ks, eigenvalues=table.eigenvalues)
    if tau:
        default = row_of(library_default())
        graphs = {tau_: (g if tau_ == 0.04 else graph_for(x, t, tau_)) for tau_ in TAUS}
        build = lambda x_, t_, tau_: graphs[tau_]
        tau_acc = {tau_: acc(k_true, graphs[tau_], tau_) for tau_ in TAUS}
        best = max(tau_acc.values())
        known = select_tau(x, t, n_clusters=k_true, build_graph=build, k_max=int(ks.max()), random_state=seed)
        k_auto = picks[default]
        auto = select_tau(x, t, n_clusters=k_auto, build_graph=build, k_max=int(ks.max()), random_state=seed)
        out["tau"] = dict(acc=tau_acc, tuned=max(tau_acc, key=tau_acc.get), known=known.tau, auto=auto.tau, k_auto=k_auto,
                          lost={"tau = 0.04, true K": best - tau_acc[0.04],
                                "select_tau, true K": best - tau_acc[known.tau],
                                "tau = 0.04, K by the default": best - acc(k_auto),
                                "tau = 0.04, K by eigengap": best - acc(picks["eigengap"]),
                                "select_tau, K by the default": best - acc(k_auto, graphs[auto.tau], auto.tau)})
    return out


def scale_problem(x, nouns, y, fraction: float, seed: int) -> dict:
    "Every graph row's K on a random `fraction` of the images: the same nouns, candidates [2, 2K] for the K left in the sample."
    rng = np.random.default_rng(seed)
    idx = np.arange(len(x)) if fraction >= 1 else np.sort(rng.choice(len(x), int(round(fraction * len(x))), replace=False))
    xs, ys = x[idx], y[idx]
    k = len(np.unique(ys))
    ks = candidates(k, len(xs))
    g = graph_for(xs, nouns)
    picks, table = score_rows(g, xs, ks, seed, stability=False, times=(), gap=False)
    acc = [cluster_acc(ys, lab) for lab in table.labels]
    picks[ORACLE] = int(ks[int(np.argmax(acc))])  # a reference that reads the labels, not a criterion
    return dict(fraction=fraction, n=len(xs), k=k, picks=picks, edge=table.bulk_edge, degree=g.nnz / g.shape[0])


def scale_study(problems: dict, fractions=SCALE_FRACTIONS, seeds=(0,), log=print) -> dict:
    "`scale_problem` for every fraction and seed of each problem, given as name -> (features, select_features, vocabulary, labels)."
    out = {}
    for name, (x, sel, vocab, y) in problems.items():
        k = len(np.unique(y))
        for s in seeds:
            keep = positive_nouns(sel, vocab, n_centers=min(6 * k, len(sel)), random_state=s)  # the nouns of the full set
            for f in fractions:
                t0 = time.perf_counter()
                r = scale_problem(x, vocab[keep], y, f, s)
                out.setdefault(name, []).append(r | dict(seed=s))
                log(f"  scale {name} seed {s} fraction {f:g} (N {r['n']}, K {r['k']}): "
                    + ", ".join(f"{n} {r['picks'][n]}" for n in SCALE_ROWS) + f" ({time.perf_counter() - t0:.0f} s)")
    return out


def scale_table(study: dict, rows=SCALE_ROWS) -> str:
    "Markdown: per row and problem, K chosen on all, half and a quarter of the images (seeds joined by /), and the mean "
    "ratio K(quarter) / K(all): about 1 for a criterion that finds classes, about 1/4 for one that counts the graph's resolution."
    names = list(study)
    fr = sorted({r["fraction"] for rs in study.values() for r in rs}, reverse=True)
    head = ["criterion"] + [f"{n}: K̂ at " + ", ".join(f"{f:g} N" for f in fr) for n in names] + [f"K̂({fr[-1]:g} N) / K̂(N), mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
             "| true K in the sample | " + " | ".join(", ".join("/".join(str(r["k"]) for r in study[n] if r["fraction"] == f)
                                                              for f in fr) for n in names) + " | |"]
    for row in rows:
        cells, ratios = [row], []
        for n in names:
            per = {f: [r["picks"][row] for r in study[n] if r["fraction"] == f] for f in fr}
            cells.append(", ".join("/".join(map(str, per[f])) for f in fr))
            ratios += [lo / hi for lo, hi in zip(per[fr[-1]], per[fr[0]])]
        lines.append("| " + " | ".join(cells + [f"{np.mean(ratios):.2f}"]) + " |")
    return "\n".join(lines)


def scale_sets(root=None) -> dict:
    "The scale study's problems: a synthetic one (always) and the real ones whose embeddings are present."
    d = make_vl_blobs(2400, 20, 64, 300, confusion=0.5, random_state=0)
    out = {"synthetic K=20": (d.image_features, d.image_features, d.text_features, d.labels)}
    import real
    root = real.data_root(root)
    if real.missing(root): return out
    vocab, sets = real.load_real(root, ("food101", "dtd", "caltech101"))
    return out | {n: (ds.features, ds.select_features, vocab.features, ds.labels) for n, ds in sets.items()}


def row_of(setting: dict) -> str:
    "The row name of a `row_setting`."
    for r in [*CRITERIA, *(f"silhouette, t = {t}" for t in TIMES), *(auto_row(c, f) for c in FEATURE_ROWS for f in FLOORS),
              *(edge_row(c, f) for c in FEATURE_ROWS for f in FLOORS)]:
        if row_setting(r) == setting: return r
    raise ValueError(f"no row of this bench computes {setting}: add it to score_rows")


def synthetic_problem(k: int, confusion: float, seed: int):
    "make_vl_blobs with N = max(600, 30 K), d = 64, max(300, 6 K) nouns."
    return make_vl_blobs(max(600, IMAGES_PER_CLASS * k), k, 64, max(300, 6 * k), confusion=confusion, random_state=seed)


def synthetic_grid(ks=SYN_KS, confusions=SYN_CONFUSIONS, seeds=SYN_SEEDS, log=print, **kw) -> list:
    "`run_problem` on every synthetic problem of the grid (no stability, no tau unless asked)."
    kw = dict(stability=False, tau=False) | kw
    res = []
    for k in ks:
        for c in confusions:
            for s in seeds:
                t0 = time.perf_counter()
                d = synthetic_problem(k, c, s)
                r = run_problem(d.image_features, d.image_features, d.text_features, d.labels,
                                candidates(k, len(d.labels)), s, **kw)
                r.update(confusion=c, seed=s, seconds=time.perf_counter() - t0)
                res.append(r)
                log(f"  synthetic K={k} confusion={c} seed={s}: " + ", ".join(f"{n} {r['picks'][n]}" for n in LOG_ROWS
                    if n in r["picks"]) + f" ({r['seconds']:.1f} s)")
    return res


LOG_ROWS = ("eigengap", "eigenratio", "silhouette", auto_row("silhouette", 0.01), OWN)


def rows_of(results) -> list:
    "Row names in a fixed order: the criteria at t = 16, the other footings of the graph, then the image features."
    names = list(results[0]["picks"])
    return [n for n in names if n in CRITERIA] + [n for n in names if n not in CRITERIA and "image features" not in n] + \
           [n for n in names if "image features" in n]


def rule_default(results) -> str:
    "`RULE`: of the rows computed from the graph alone, most true K found; ties: least ACC lost."
    rows = [n for n in rows_of(results) if "image features" not in n]
    found = {c: np.mean([r["picks"][c] == r["k"] for r in results]) for c in rows}
    lost = {c: np.mean([r["lost"][c] for r in results]) for c in rows}
    return max(rows, key=lambda c: (found[c], -lost[c]))


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
                       ("auto", "tau chosen, K by the default")):
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


def load_imagenet7(root, vocab_rows: int = 1000):
    "ImageNet with about 7 images per class: the 4-shot rows and `extra.npz`'s 2,986 more (None without extra.npz)."
    import real
    extra = Path(root) / "clip-vitb32-real" / "extra.npz"
    if not extra.is_file(): return None
    _, sets = real.load_real(root, ("imagenet_4shot",))
    base = sets["imagenet_4shot"]
    with np.load(extra) as e:
        x = np.vstack([base.features, real.unit(e["imagenet_extra_features"])])
        y = np.r_[base.labels, np.asarray(e["imagenet_extra_labels"])]
    return real.RealSet("imagenet_7shot", x, y, base.class_names, x, "the clustered images (one split only)",
                        "ImageNet-1K training images, 4-shot plus 1- and 2-shot caches, about 7 per class")


def load_sets(root, datasets) -> tuple:
    "(vocabulary, name -> RealSet) of `datasets` under `root`, ImageNet 7-shot included when asked and present."
    import real
    vocab, sets = real.load_real(root, tuple(d for d in datasets if d != "imagenet_7shot"))
    if "imagenet_7shot" in datasets and (seven := load_imagenet7(root)) is not None: sets["imagenet_7shot"] = seven
    return vocab, sets


def real_grid(datasets=REAL_SETS, seeds=(0, 1, 2), data=None, log=print, n_boot: int = 3, tau: bool = True,
              gap: bool = True) -> dict:
    "`run_problem` on the real sets (ImageNet: seed 0, no stability); {} when the data are absent."
    import real
    root = real.data_root(data)
    if (why := real.missing(root)):
        log(why); return {}
    vocab, sets = load_sets(root, datasets)
    out = {}
    for name, ds in sets.items():
        big = ds.k >= 500
        for s in (seeds[:1] if big else seeds):
            t0 = time.perf_counter()
            r = run_problem(ds.features, ds.select_features, vocab.features, ds.labels,
                            candidates(ds.k, len(ds.features), False), s, stability=not big, times=(), n_boot=n_boot, tau=tau,
                            gap=gap)
            out.setdefault(name, []).append(r)
            log(f"  {name} seed {s}: " + ", ".join(f"{n} {r['picks'][n]}" for n in LOG_ROWS if n in r["picks"])
                + (f", tau {r['tau']['auto']}" if "tau" in r else "") + f" ({time.perf_counter() - t0:.0f} s)")
    return out


DEV_SETS = ("dtd", "caltech101", "imagenet_4shot")  # the dev embeddings RULE_24 reads (seed 0)


def rel_error(r, row) -> float: return abs(r["picks"][row] - r["k"]) / r["k"]


def rule24_scores(syn, res) -> dict:
    "RULE_24's score of every row: half the mean relative K error on the synthetic subgrid, half on the dev sets at seed 0."
    rows = [n for n in rows_of(syn) if all(n in r["picks"] for s in DEV_SETS for r in res.get(s, [])[:1])]
    dev = [res[s][0] for s in DEV_SETS if s in res] or syn  # (a run without the dev sets: synthetic only)
    return {n: 0.5 * np.mean([rel_error(r, n) for r in syn]) + 0.5 * np.mean([rel_error(r, n) for r in dev]) for n in rows}


def goal_table(res, sets) -> str:
    "Markdown: per row, the mean relative K error and mean ACC lost over the given real sets (all seeds run)."
    rs = [r for s in sets if s in res for r in res[s]]
    if not rs: return "(none of these sets was run)"
    rows = [n for n in rows_of(rs) if all(n in r["picks"] for r in rs)]
    lines = ["| criterion (footing) | mean relative K error | mean ACC lost, points | per set: mean relative error |",
             "|---|---|---|---|"]
    for n in rows:
        per = ", ".join(f"{s} {np.mean([rel_error(r, n) for r in res[s]]):.2f}" for s in sets if s in res)
        lines.append(f"| {n} | {np.mean([rel_error(r, n) for r in rs]):.2f} | {100 * np.mean([r['lost'][n] for r in rs]):.1f} | {per} |")
    return "\n".join(lines)


def issue24(a, log) -> list:
    "The final run of issue #24: RULE_24, the synthetic subgrid, then the real sets (no tau), as they come."
    out = ["## Issue #24: more families, the rule and the final run", "", RULE_24, ""]
    syn = synthetic_grid(log=log, gap=not a.no_gap, **ISSUE24_SYNTHETIC)
    out += ["### Synthetic subgrid (12 problems, seed 0)", "", synthetic_table(syn), ""]
    log("\n".join(out))
    sets = list(dict.fromkeys(a.datasets))
    res = real_grid(sets, tuple(a.seeds), a.data, log, tau=False, gap=not a.no_gap)
    if not res: return out
    scores = rule24_scores(syn, res)
    chosen = min(scores, key=scores.get)
    default = row_of(library_default())
    out += ["### Real CLIP ViT-B/32 embeddings (K^ per seed, mean ACC lost in points)", "", real_table(res), "",
            "### RULE_24's score (half synthetic, half dev at seed 0: mean relative K error)", "",
            "| row | score |", "|---|---|", *[f"| {n} | {v:.3f} |" for n, v in sorted(scores.items(), key=lambda kv: kv[1])], "",
            f"Rule applied: **{chosen}** (library default now: {default}"
            f"{'' if chosen == default else ' - DIFFERENT: the rule names another default'}).", "",
            "### The goal (mean relative K error <= 0.25, mean ACC lost <= 5 points), all seeds run", "",
            "Dev sets (" + ", ".join(s for s in DEV_SETS if s in res) + "):", "", goal_table(res, DEV_SETS), ""]
    held = [s for s in res if s not in DEV_SETS]
    if held: out += ["Sets the rule did not read (" + ", ".join(held) + "):", "", goal_table(res, held), ""]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder holding clip-vitb32-real/ (default: $LAIC_REAL_DATA or ../shared/data)")
    ap.add_argument("--datasets", nargs="+", default=list(REAL_SETS), choices=REAL_SETS + ("imagenet_7shot",))
    ap.add_argument("--issue24", action="store_true", help="issue #24's final run: RULE_24, the 12-problem synthetic subgrid, "
                    "then --datasets (--seeds; ImageNet seed 0), no tau")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--no-gap", action="store_true", help="leave out the gap statistic's rows (5 reference clusterings a problem)")
    ap.add_argument("--scale", action="store_true", help="the scale study: every graph row on all, half and a quarter of "
                    "the images (--seeds), synthetic and the real sets present")
    ap.add_argument("--synthetic-only", action="store_true")
    ap.add_argument("--real-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="synthetic K in {5, 20}, confusion {0, 0.75}, seed 0; Food-101 seed 0")
    ap.add_argument("--out", default=str(HERE / "results" / "auto_k.md"), help="also write the tables here")
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    log = lambda s: print(s, flush=True)
    from real import machine
    out = ["# Label-free choice of K and tau", "", f"Machine: {machine()}.", ""]
    if a.scale:
        study = scale_study(scale_sets(a.data), seeds=tuple(a.seeds), log=log)
        out += ["## The scale study (issue #24, fourth round)", "", scale_table(study), ""]
        return write_results(out, t_start, "auto_k.py", argv, a.out)
    if a.issue24:
        return write_results(out + issue24(a, log), t_start, "auto_k.py", argv, a.out)
    if not a.real_only:
        grid = dict(ks=(5, 20), confusions=(0.0, 0.75), seeds=(0,)) if a.quick else {}
        syn = synthetic_grid(log=log, **grid)
        rule, default = rule_default(syn), row_of(library_default())
        out += [f"## Synthetic make_vl_blobs, extended to many classes ({len(syn)} problems: K in "
                f"{sorted({r['k'] for r in syn})}, N = max(600, {IMAGES_PER_CLASS} K), d = 64, max(300, 6 K) nouns; confusion in "
                f"{sorted({r['confusion'] for r in syn})}, seeds {sorted({r['seed'] for r in syn})}; candidates [2, 2K], "
                f"a 40-value geometric grid with K added above 100; NTK graph tau = 0.04, 30-NN union; diffusion time 16 "
                f"unless the row says otherwise)", "", synthetic_table(syn), "", RULE, "",
                f"Applied: **{rule}** (library default: {default}"
                f"{'' if rule == default else ' — different: RULE_24 (issue #24, `--issue24`) has superseded this rule'}).", ""]
        by_k = [f"| {k} | " + " | ".join(pct(np.mean([r['picks'][n] == k for r in syn if r['k'] == k])) for n in LOG_ROWS) + " |"
                for k in sorted({r['k'] for r in syn})]
        out += ["True K found (%) per K:", "", "| K | " + " | ".join(LOG_ROWS) + " |", "|" + "---|" * (len(LOG_ROWS) + 1),
                *by_k, ""]
        log("\n".join(out[4:]))
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
    return write_results(out, t_start, "auto_k.py", argv, a.out)


def write_results(out: list, t_start: float, script: str, argv, path) -> int:
    "Close a bench report with its time and command, write it to `path` (if any) and print it; 0 for `sys.exit`."
    out = out + [f"Total {time.perf_counter() - t_start:.0f} s; command: `python bench/{script} "
                 + " ".join(argv if argv is not None else sys.argv[1:]) + "`"]
    text = "\n".join(out)
    if path: Path(path).parent.mkdir(parents=True, exist_ok=True); Path(path).write_text(text + "\n")
    print("\n" + text)
    return 0


def _with_seeds(res: dict, seeds) -> dict:
    "Tag each real result with its seed (ImageNet ran the first seed only)."
    for rs in res.values():
        for r, s in zip(rs, seeds): r["seed_"] = s
    return res


if __name__ == "__main__":
    sys.exit(main())
