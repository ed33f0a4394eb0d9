"""Automatic K on the user's path (issue #24, fifth round): no setting derived from the labels.

    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_k_user.py --dev      # RULE_25's options and scores (development)
    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_k_user.py --final    # run_method(k="auto") as a user calls it
    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_k_user.py --windows  # K chosen in fixed windows [2, W]: what the window does
    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_k_user.py --conductance  # are the classes communities of the graph?
    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_k_user.py --neighbours   # K chosen on graphs with fewer neighbours per image
    OMP_NUM_THREADS=1 .venv/bin/python bench/auto_k_user.py --limits       # what stops the goal: the cap, the features, the sparse graph

The earlier rounds (bench/auto_k.py) gave every criterion candidates [2, 2K] and 6K noun centers: both read the true K.
Here the nouns come from the library's rule without K and the candidates from the library's window, so what is measured
is what `laic cluster --k auto` and `NTKSpectralClustering("auto")` give. `--dev` scores RULE_25's options on the
12-problem synthetic subgrid and the dev sets at seed 0 (the rule's data); `--final` runs `run_method("ntk-naive", X,
"auto", vocabulary)` with the library's defaults (its K and ACC against `run_method` at the true K, same nouns rule),
seeds 0 1 2 on DTD, Caltech-101 and Food-101, seed 0 on ImageNet 4-shot and 7-shot. NTK naive because the real
vocabulary has one prompt per name (the CLI's default, RAD, fuses several).
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))

WINDOW, CAP = 20, 200  # RULE_25's window: [2, 20] first, doubled while the choice is its top, up to 200
OPTIONS = {  # RULE_25's options: select_n_clusters settings (k_max, grow_from, criterion, footing, floor)
    "today: adaptive t (floor 0.01), window [2, 20]": dict(k_max=WINDOW, grow_from=None, diffusion_time="auto", diffusion_floor=0.01),
    "growing window, adaptive t (floor 0.1)": dict(diffusion_time="auto", diffusion_floor=0.1),
    "growing window, adaptive t (floor 0.01)": dict(diffusion_time="auto", diffusion_floor=0.01),
    "growing window, edge-anchored t (floor 0.1)": dict(diffusion_time="edge", diffusion_floor=0.1),
    "growing window, edge-anchored t (floor 0.01)": dict(diffusion_time="edge", diffusion_floor=0.01),
    "edge count, growing window": dict(criterion="edge"),
}
DEV = ("dtd", "caltech101", "imagenet_4shot")
FINAL = ("dtd", "caltech101", "food101", "imagenet_4shot", "imagenet_7shot")


def option_k(g, n: int, option: dict, seed: int) -> int:
    "K chosen on graph g by one of RULE_25's options."
    from laic_nb.selection import select_n_clusters
    o = dict(k_max=min(CAP, n - 1), grow_from=WINDOW, criterion="silhouette") | option
    return select_n_clusters(g, 2, min(o.pop("k_max"), n - 1), random_state=seed, **o)


def dev_problem(x, vocab, y, seed: int = 0) -> dict:
    "Every option's K and ACC lost on one problem: nouns by the library's rule without K, the NTK graph."
    from laic_nb.spectral import spectral_clustering
    from laic_nb.metrics import cluster_acc
    k_true, n = len(np.unique(y)), len(x)
    g = user_graph(x, vocab, seed)
    acc = {}
    def acc_at(k):
        if k not in acc: acc[k] = cluster_acc(y, spectral_clustering(g, int(k), random_state=seed))
        return acc[k]
    picks = {name: option_k(g, n, o, seed) for name, o in OPTIONS.items()}
    return dict(k=k_true, picks=picks, lost={r: acc_at(k_true) - acc_at(k) for r, k in picks.items()})


def rule25_scores(syn: list, dev: list) -> dict:
    "RULE_25's score of every option: half the mean relative K error on the synthetic subgrid, half on the dev sets."
    err = lambda rs, o: np.mean([abs(r["picks"][o] - r["k"]) / r["k"] for r in rs])
    return {o: 0.5 * err(syn, o) + 0.5 * err(dev, o) for o in OPTIONS}


def dev_study(data=None, log=print) -> list:
    "RULE_25's development run: the synthetic subgrid (seed 0) and the dev sets (seed 0); returns markdown lines."
    import auto_k, real
    syn, dev = [], []
    for k in (5, 20, 50, 100):
        for c in (0.0, 0.5, 0.75):
            d = auto_k.synthetic_problem(k, c, 0)
            syn.append(dev_problem(d.image_features, d.text_features, d.labels) | dict(name=f"synthetic K={k}, confusion {c:g}"))
            log(f"  {syn[-1]['name']}: " + ", ".join(f"{v}" for v in syn[-1]["picks"].values()))
    root = real.data_root(data)
    if not real.missing(root):
        vocab, sets = real.load_real(root, DEV)
        for name, ds in sets.items():
            t0 = time.perf_counter()
            dev.append(dev_problem(ds.features, vocab.features, ds.labels) | dict(name=name))
            log(f"  {name}: " + ", ".join(f"{v}" for v in dev[-1]["picks"].values()) + f" ({time.perf_counter() - t0:.0f} s)")
    head = "| option | " + " | ".join(r["name"].replace("synthetic ", "syn ") for r in syn + dev) + " | RULE_25 score |"
    lines = ["## RULE_25's development run (the user's path: K found, ACC lost in points)", "", auto_k.RULE_25, "", head,
             "|" + "---|" * (len(syn) + len(dev) + 2)]
    scores = rule25_scores(syn, dev) if dev else {o: float("nan") for o in OPTIONS}
    for o in OPTIONS:
        cells = [f"{r['picks'][o]} ({100 * r['lost'][o]:.0f})" for r in syn + dev]
        lines.append(f"| {o} | " + " | ".join(cells) + f" | {scores[o]:.3f} |")
    lines += ["", "True K: " + ", ".join(f"{r['name']} {r['k']}" for r in syn + dev), "",
              f"Rule applied: **{min(scores, key=scores.get)}**", ""]
    return lines


def final_run(seeds=(0, 1, 2), data=None, log=print, method: str = "ntk-naive") -> list:
    "`run_method(method, X, 'auto', vocabulary)` with the library's defaults on the final sets; returns markdown lines."
    import auto_k, real
    from laic_nb.pipeline import run_method
    from laic_nb.metrics import cluster_acc
    root = real.data_root(data)
    if (why := real.missing(root)): return [why]
    vocab, sets = auto_k.load_sets(root, FINAL)
    rows, per = [], {}
    for name in [s for s in FINAL if s in sets]:
        ds = sets[name]
        for s in (seeds[:1] if ds.k >= 500 else seeds):
            t0 = time.perf_counter()
            auto = run_method(method, ds.features, "auto", vocab.features, random_state=s)
            known = run_method(method, ds.features, ds.k, vocab.features, random_state=s)
            a_auto, a_known = cluster_acc(ds.labels, auto.labels), cluster_acc(ds.labels, known.labels)
            sel = auto.estimator.n_clusters_selection_
            r = dict(set=name, seed=s, k=ds.k, k_hat=auto.n_clusters, acc=a_auto, acc_known=a_known,
                     window=f"{sel.ks.min()}..{sel.ks.max()}", seconds=time.perf_counter() - t0)
            rows.append(r); per.setdefault(name, []).append(r)
            log(f"  {name} seed {s}: K {r['k_hat']} of {ds.k} (window {r['window']}), ACC {a_auto:.3f} vs {a_known:.3f} at the true K "
                f"({r['seconds']:.0f} s)")
    lines = [f"## The user's path: `run_method('{method}', X, 'auto', vocabulary)`, library defaults", "",
             "| set | true K | K found per seed (window) | ACC, auto | ACC, true K | ACC lost, points | relative K error |",
             "|---|---|---|---|---|---|---|"]
    for name, rs in per.items():
        lines.append(f"| {name} | {rs[0]['k']} | " + ", ".join(f"{r['k_hat']} ({r['window']})" for r in rs)
                     + f" | {np.mean([r['acc'] for r in rs]):.3f} | {np.mean([r['acc_known'] for r in rs]):.3f} | "
                     f"{100 * np.mean([r['acc_known'] - r['acc'] for r in rs]):.1f} | "
                     f"{np.mean([abs(r['k_hat'] - r['k']) / r['k'] for r in rs]):.2f} |")
    for label, group in (("the dev sets (" + ", ".join(DEV) + ")", DEV), ("all sets", tuple(per))):
        rs = [r for s in group for r in per.get(s, [])]
        if rs: lines.append(f"\nMean over {label}, every seed run: relative K error "
                            f"{np.mean([abs(r['k_hat'] - r['k']) / r['k'] for r in rs]):.2f}, ACC lost "
                            f"{100 * np.mean([r['acc_known'] - r['acc'] for r in rs]):.1f} points.")
    return lines


WINDOWS = (20, 40, 80, 160)  # window_study's fixed windows [2, W]


def study_problems(data=None, real_sets=("food101", "dtd", "caltech101")) -> dict:
    "The sixth round's problems: name -> (image features, vocabulary features, labels); `real_sets` where present."
    import auto_k, real
    from laic_nb.data import make_vl_blobs
    probs = {f"synthetic K={k}, confusion 0.5": auto_k.synthetic_problem(k, 0.5, 0) for k in (5, 20, 50, 100)}
    big = make_vl_blobs(20000, 10, 64, 300, confusion=0.25, random_state=0)  # bench/auto_k_time.py's problem
    probs = {n: (d.image_features, d.text_features, d.labels) for n, d in probs.items()}
    probs["synthetic K=10, 2,000 per class (N = 20,000)"] = (big.image_features, big.text_features, big.labels)
    root = real.data_root(data)
    if not real.missing(root):
        vocab, sets = auto_k.load_sets(root, real_sets)
        probs |= {n: (ds.features, vocab.features, ds.labels) for n, ds in sets.items()}
    return probs


def user_graph(x, v, seed: int = 0):
    "The NTK graph of the user's path: nouns by the library's rule without K."
    import auto_k
    from laic_nb.pipeline import positive_nouns
    return auto_k.graph_for(x, v[positive_nouns(x, v, random_state=seed)])


CONDUCTANCE_KS = (5, 10, 20, 40, 80, 160)  # conductance_study's spectral partitions


def conductance_study(data=None, log=print) -> list:
    "Are the classes communities of the user's graph: their conductance, the floor their size sets, the spectral partitions'."
    from laic_nb.selection import cluster_conductance, labels_for_k, window_ks
    from laic_nb.spectral import top_eigenpairs
    lines = ["## Are the classes communities of the graph? (the user's nouns, seed 0)", "",
             "Conductance: the share of a cluster's edge weight that leaves it (under 0.5: a community in the weak sense). "
             "Floor: 1 - (n_c - 1) / (the class's mean number of edges per image), the least share of a class's edges that must "
             "leave it when it has fewer images than an image has neighbours (edge counts; 0 when it has more). "
             "K_wc: the largest candidate K (window_ks(2, 200)) whose spectral partition has mean conductance under 0.5; on all the "
             "images, a random half and a random quarter (K_wc column and the classes' conductance).", "",
             "| problem | true K | N | edges per image | classes: floor (counts) | classes: conductance, counts | classes: conductance (all, half, quarter) | "
             "classes under 0.5, % | spectral partition, mean conductance at K = " + ", ".join(map(str, CONDUCTANCE_KS)) + " | K_wc (all, half, quarter) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    probs = study_problems(data, ("food101", "dtd", "caltech101", "imagenet_4shot"))
    def k_wc(g, cap: int) -> tuple[int, dict]:
        "K_wc of graph g over window_ks(2, cap), and the mean conductance of every partition computed."
        ks = window_ks(2, cap).tolist()
        vecs = top_eigenpairs(g, cap, 0)[1]
        mean_c = {k: cluster_conductance(g, labels_for_k(vecs, k, 0)).mean() for k in sorted({*ks, *CONDUCTANCE_KS}) if k <= cap}
        return max([k for k in ks if mean_c[k] < 0.5], default=2), mean_c

    for name, (x, v, y) in probs.items():
        t0 = time.perf_counter()
        g = user_graph(x, v)
        ones = g.copy(); ones.data[:] = 1.0  # the same edges, counted
        deg = np.diff(ones.indptr)
        lab = np.unique(y, return_inverse=True)[1].ravel(); sizes = np.bincount(lab)
        floor = np.clip(1 - (sizes - 1) / (np.bincount(lab, weights=deg) / sizes), 0, None)
        c, c_count = cluster_conductance(g, y), cluster_conductance(ones, y)
        kw, mean_c = k_wc(g, min(200, len(x) // 3))
        thin = []
        for frac in (2, 4):  # the same classes, fewer images: a random half and quarter, nouns chosen again
            rows = np.sort(np.random.default_rng(0).choice(len(x), len(x) // frac, replace=False))
            gs = user_graph(x[rows], v)
            thin.append((k_wc(gs, min(200, len(rows) // 3))[0], cluster_conductance(gs, y[rows]).mean()))
        part = [f"{mean_c[k]:.2f}" if k in mean_c else "-" for k in CONDUCTANCE_KS]
        lines.append(f"| {name} | {len(sizes)} | {len(x):,} | {deg.mean():.1f} | {floor.mean():.2f} | {c_count.mean():.2f} | "
                     f"{c.mean():.2f}, {thin[0][1]:.2f}, {thin[1][1]:.2f} | {100 * (c < 0.5).mean():.0f} | " + ", ".join(part)
                     + f" | {kw}, {thin[0][0]}, {thin[1][0]} |")
        log(f"  {lines[-1]} ({time.perf_counter() - t0:.0f} s)")
    return lines


NEIGHBOURS = (5, 10, 15, 30)  # neighbours_study's q (30: the paper's graph)


def neighbours_study(data=None, log=print) -> list:
    "K chosen with the library's growing window on the NTK graph with q neighbours, adaptive and edge-anchored footing."
    from laic_nb.ntk import ntk_affinity
    from laic_nb.pipeline import positive_nouns
    from laic_nb.selection import auto_k_range, cluster_conductance, select_n_clusters
    lines = ["## K chosen on graphs with fewer neighbours (the user's nouns, seed 0, the growing window)", "",
             "Per q: K by the default (adaptive footing) / by the edge-anchored footing / the classes' mean conductance.", "",
             "| problem | true K | " + " | ".join(f"q = {q}" for q in NEIGHBOURS) + " |", "|---|---|" + "---|" * len(NEIGHBOURS)]
    for name, (x, v, y) in study_problems(data).items():
        if len(x) > 5000: continue  # the 20,000-image problem: the edge footing fills every window there (window_study)
        t0 = time.perf_counter()
        t = v[positive_nouns(x, v, random_state=0)]
        k_max, start = auto_k_range(None, len(x))
        cells = []
        for q in NEIGHBOURS:
            g = ntk_affinity(x, t, 0.04, knn=q)
            ka, ke = (select_n_clusters(g, 2, k_max, grow_from=start, diffusion_time=f) for f in ("auto", "edge"))
            cells.append(f"{ka} / {ke} / {cluster_conductance(g, y).mean():.2f}")
        lines.append(f"| {name} | {len(np.unique(y))} | " + " | ".join(cells) + " |")
        log(f"  {lines[-1]} ({time.perf_counter() - t0:.0f} s)")
    return lines


PURITY_QS = (1, 3, 10)  # limits_study: the share of an image's q nearest images (cosine) in its own class


def neighbour_purity(x, y, qs=PURITY_QS) -> dict:
    "q -> the mean share of each image's q nearest other images (cosine on the features) that share its class (reads the labels)."
    from laic_nb.knn import cosine_knn
    idx, _ = cosine_knn(x, max(qs))
    same = np.asarray(y)[idx] == np.asarray(y)[:, None]
    return {q: float(same[:, :q].mean()) for q in qs}


def limits_study(data=None, log=print) -> list:
    "What stops the goal: per problem, how alike an image's nearest images are by class, the default's K with no cap on the "
    "window, and the edge-anchored footing on the sparse 5-NN graph (the lead of the neighbours study)."
    import auto_k
    from laic_nb.ntk import ntk_affinity
    from laic_nb.pipeline import positive_nouns
    from laic_nb.selection import auto_k_range, select_n_clusters
    from laic_nb.spectral import spectral_clustering
    from laic_nb.metrics import cluster_acc
    lines = ["## What stops the goal (the user's nouns, seed 0)", "",
             "Same class among the q nearest: the mean share of each image's q nearest other images (cosine on the image features) "
             "that are of its class (read from the labels; a diagnosis, not a criterion). Uncapped: the default criterion and "
             "growing window with k_max = N - 1 instead of 200 (the window at which it stopped). Edge, q = 5: the edge-anchored "
             "footing's K on the NTK 5-NN graph, the growing window up to 200. ACC at the true K and at the uncapped K: the user's "
             "graph (30-NN), spectral clustering.", "",
             "| problem | true K | N | images per class | same class among the q nearest, q = " + ", ".join(map(str, PURITY_QS))
             + " | uncapped K (window) | edge, q = 5 | ACC at true K | ACC at uncapped K |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (x, v, y) in study_problems(data, ("food101", "dtd", "caltech101", "imagenet_4shot", "imagenet_7shot")).items():
        t0 = time.perf_counter()
        k_true, n = len(np.unique(y)), len(x)
        pur = neighbour_purity(x, y)
        t = v[positive_nouns(x, v, random_state=0)]  # the user's nouns (`user_graph`'s), chosen once for both graphs
        g = auto_k.graph_for(x, t)
        k_max, start = auto_k_range(None, n)
        sel = select_n_clusters(g, 2, n - 1, grow_from=start, random_state=0, return_table=True)
        k_unc = sel.best(sel.criterion)
        ke = select_n_clusters(ntk_affinity(x, t, 0.04, knn=5), 2, k_max, grow_from=start, diffusion_time="edge", random_state=0)
        acc = {k: cluster_acc(y, spectral_clustering(g, int(k), random_state=0)) for k in {k_true, k_unc}}
        lines.append(f"| {name} | {k_true} | {n:,} | {n / k_true:.0f} | " + ", ".join(f"{pur[q]:.2f}" for q in PURITY_QS)
                     + f" | {k_unc} (2..{sel.ks.max()}) | {ke} | {acc[k_true]:.3f} | {acc[k_unc]:.3f} |")
        log(f"  {lines[-1]} ({time.perf_counter() - t0:.0f} s)")
    return lines


def window_study(data=None, log=print) -> list:
    "K chosen by the default criterion in fixed windows [2, W] (the library's candidates), adaptive and edge-anchored footing."
    from laic_nb.selection import DIFFUSION_FLOOR, EDGE_FLOOR, bulk_edge, select_n_clusters, window_ks
    footings = {f"adaptive t (floor {DIFFUSION_FLOOR:g}, the default)": dict(diffusion_time="auto", diffusion_floor=DIFFUSION_FLOOR),
                f"edge-anchored t (floor {EDGE_FLOOR:g})": dict(diffusion_time="edge", diffusion_floor=EDGE_FLOOR)}
    lines = ["## K chosen in fixed windows [2, W] (the default criterion, the user's nouns, seed 0)", "",
             "| problem | true K | N | " + " | ".join(f"{f}: W = " + ", ".join(map(str, WINDOWS)) for f in footings) + " |",
             "|---|---|---|" + "---|" * len(footings)]
    for name, (x, v, y) in study_problems(data).items():
        t0 = time.perf_counter()
        g = user_graph(x, v)
        edge = bulk_edge(g, 0)
        cells = [", ".join(str(select_n_clusters(g, ks=window_ks(2, w), random_state=0, edge=edge, **o)) for w in WINDOWS if w < len(x))
                 for o in footings.values()]
        lines.append(f"| {name} | {len(np.unique(y))} | {len(x):,} | " + " | ".join(cells) + " |")
        log(f"  {lines[-1]} ({time.perf_counter() - t0:.0f} s)")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev", action="store_true", help="RULE_25's development run (its options and scores)")
    ap.add_argument("--final", action="store_true", help="run_method(k='auto') with the library's defaults, as a user calls it")
    ap.add_argument("--windows", action="store_true", help="K chosen in fixed windows [2, W], adaptive and edge-anchored footing")
    ap.add_argument("--conductance", action="store_true", help="the classes' conductance on the user's graph")
    ap.add_argument("--neighbours", action="store_true", help="K chosen on NTK graphs with 5 to 30 neighbours per image")
    ap.add_argument("--limits", action="store_true", help="what stops the goal: neighbour purity, the uncapped window, edge on 5-NN")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--method", default="ntk-naive")
    ap.add_argument("--data", default=None, help="folder holding clip-vitb32-real/ (default: $LAIC_REAL_DATA or ../shared/data)")
    ap.add_argument("--out", default=str(HERE / "results" / "auto_k_user.md"))
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from real import machine
    t0 = time.perf_counter()
    log = lambda s: print(s, flush=True)
    out = ["# Automatic K on the user's path", "", f"Machine: {machine()}.", ""]
    if a.dev: out += dev_study(a.data, log)
    if a.final: out += final_run(tuple(a.seeds), a.data, log, a.method)
    if a.windows: out += window_study(a.data, log)
    if a.conductance: out += conductance_study(a.data, log)
    if a.neighbours: out += neighbours_study(a.data, log)
    if a.limits: out += limits_study(a.data, log)
    import auto_k
    return auto_k.write_results(out + [""], t0, "auto_k_user.py", argv, a.out)


if __name__ == "__main__":
    sys.exit(main())
