"""Every clustering method of the book on real CLIP ViT-B/32 embeddings (OpenAI weights, precomputed).

    .venv/bin/python bench/real.py                          # all datasets, all methods, seeds 0 1 2
    .venv/bin/python bench/real.py --datasets food101 dtd --seeds 0 --methods kmeans ntk-rad
    .venv/bin/python bench/real.py --data /path/to/data --out bench/real.md
    LAIC_REAL_DATA=/path/to/data .venv/bin/python bench/real.py --quick

The data are not part of the repository. `--data` (or `$LAIC_REAL_DATA`, default `../shared/data` beside the
repository) must hold `clip-vitb32-real/` (`text_vocab.npz`, `images_dev.npz`) and optionally `food101-clip-vitb32/`;
without them the script prints one line and exits with status 0. All embeddings come from one model, OpenAI CLIP
ViT-B/32: image features of ImageNet (4 training images per class), Caltech-101 and DTD test images and a 10-class
Food-101 subset; text features of 2,648 names (ImageNet, LVIS, Objects365 and COCO class names; one prompt each, two for
the 1,000 ImageNet names). They are float16 on disk; they are cast to float32 and re-normalised here.

Methods run through the library as `laic_nb.benchmark.run_benchmark` runs them. TAC's filter
(`positive_nouns`, k_f = 3K capped at N, 5 nouns per center) selects nouns for every seed, on Food-101's training split
where there is one, on the clustered images themselves elsewhere (those sets have a single split); kmeans, sc,
tac-notrain and the NTK variants then run through `run_method` on the selected nouns (`filter_nouns=False`), and the
second paper's methods (relational, centers) through `run_paper2` on the whole vocabulary with their own candidate
rule, fitted on the selection images and evaluated on the clustered ones (the same images where there is one split).
`centers` runs in feature mode and learns its class tokens through a RANDOMLY INITIALISED text tower: no CLIP weights
exist on this machine.
"""
from __future__ import annotations
import argparse, inspect, os, platform, sys, time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LABEL = "real CLIP ViT-B/32 embeddings (OpenAI weights, precomputed)"
DATASETS = ("food101", "dtd", "caltech101", "imagenet_4shot")
METHODS = ("kmeans", "sc", "tac-notrain", "relational", "centers", "ntk-naive", "ntk-naive-in1k", "ntk-pe", "ntk-rad")
METHOD_NOTES = {
    "ntk-naive": "whole vocabulary (2,648 names, one prompt)",
    "ntk-naive-in1k": "1,000 ImageNet names, prompt 'a(n) {name}' only",
    "ntk-pe": "1,000 ImageNet names, mean of the 2 prompt graphs",
    "ntk-rad": "1,000 ImageNet names, RAD over the 2 prompt graphs",
    "tac-notrain": "whole vocabulary",
    "relational": "whole vocabulary, paper 2's candidate rule",
    "centers": "whole vocabulary, paper 2's candidate rule; RANDOM-weights text tower",
}
FOOD101_CLASSES = ("apple pie", "french fries", "guacamole", "hamburger", "ice cream", "omelette", "paella", "pizza",
                   "sushi", "tacos")


def data_root(path=None) -> Path:
    "`path`, else `$LAIC_REAL_DATA`, else `../shared/data` beside the repository."
    return Path(path or os.environ.get("LAIC_REAL_DATA") or ROOT.parent / "shared" / "data").expanduser()


def missing(root) -> str | None:
    "None when the real embeddings are under `root`, else a one-line reason."
    need = [Path(root) / "clip-vitb32-real" / f for f in ("text_vocab.npz", "images_dev.npz")]
    absent = [str(p) for p in need if not p.is_file()]
    return None if not absent else (f"real CLIP embeddings not found ({absent[0]}): set LAIC_REAL_DATA or --data; "
                                    f"skipped")


def unit(a) -> np.ndarray:
    "float16 on disk -> float32 rows of unit norm."
    a = np.asarray(a, dtype=np.float32)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


@dataclass
class RealSet:
    name: str
    features: np.ndarray            # (N, 512) images clustered and evaluated
    labels: np.ndarray              # (N,)
    class_names: list
    select_features: np.ndarray     # images the nouns are selected on
    select_split: str               # which images those are
    note: str = ""

    @property
    def k(self) -> int: return int(len(np.unique(self.labels)))


@dataclass
class Vocab:
    names: list                     # 2,648 names
    source: np.ndarray              # in1k / lvis / o365 / coco per name
    features: np.ndarray            # (2648, 512), one prompt per name
    in1k_prompts: np.ndarray        # (2, 1000, 512): "a(n) {name}", "a photo of a(n) {name}"
    in1k_ensemble: np.ndarray = field(init=False)

    def __post_init__(self): self.in1k_ensemble = unit(self.in1k_prompts.mean(0))


def load_real(root=None, datasets=DATASETS) -> tuple[Vocab, dict]:
    "The vocabulary and the requested datasets (float32, unit rows) from `root` (see `data_root`)."
    root = data_root(root)
    if (why := missing(root)): raise FileNotFoundError(why)
    base = root / "clip-vitb32-real"
    with np.load(base / "text_vocab.npz") as t:
        in1k = np.stack([unit(t["features"][:1000]), unit(t["in1k_photo_features"])])
        vocab = Vocab([str(s) for s in t["names"]], np.asarray(t["source"]), unit(t["features"]), in1k)
    sets = {}
    with np.load(base / "images_dev.npz") as d:
        for name in datasets:
            if name == "food101": continue
            cls = "imagenet_classnames" if name == "imagenet_4shot" else f"{name}_classnames"
            x = unit(d[f"{name}_features"])
            note = ("4 ImageNet-1K training images per class, each the mean of 10 augmented views"
                    if name == "imagenet_4shot" else "test split (CoOp)")
            sets[name] = RealSet(name, x, np.asarray(d[f"{name}_labels"]), [str(c) for c in d[cls]], x,
                                 "the clustered images (one split only)", note)
    food = root / "food101-clip-vitb32"
    if "food101" in datasets:
        if (food / "test_features.npy").is_file():
            sets["food101"] = RealSet("food101", unit(np.load(food / "test_features.npy")), np.load(food / "test_labels.npy"),
                                      list(FOOD101_CLASSES), unit(np.load(food / "train_features.npy")),
                                      "the training split (2,000 images)", "10-class subset, test split (500 images)")
        else: print(f"food101: {food} not found: skipped", file=sys.stderr)
    return vocab, {n: sets[n] for n in datasets if n in sets}


def names_in_vocab(ds: RealSet, vocab: Vocab) -> int:
    "How many of the dataset's class names are names of the vocabulary (case-insensitive, '_' as ' ')."
    known = {n.lower().replace("_", " ") for n in vocab.names}
    return sum(c.lower().replace("_", " ") in known for c in ds.class_names)


def graph_stats(est) -> dict:
    "Isolated images (no edge in any prompt graph), connected components and voted images of a fitted NTK estimator."
    import scipy.sparse as sp
    a = est.affinity_
    if sp.issparse(a):
        a = sp.csr_matrix(a)
        deg = np.asarray(abs(a).sum(1)).ravel() - np.abs(a.diagonal())
    else: deg = np.abs(a).sum(1) - np.abs(np.diag(a))
    return dict(isolated=int((deg <= 0).sum()), components=int(est.n_components_), voted=int(est.n_voted_))


def has_graph_option() -> bool:
    "Whether this version of NTKSpectralClustering takes `graph=` ('union' / 'mutual')."
    from laic_nb.cluster import NTKSpectralClustering
    return "graph" in inspect.signature(NTKSpectralClustering).parameters


def centers_clip(kind: str = "tiny"):
    "A randomly initialised text tower with CLIP's tokenizer and a 512-d output, as the pipeline's `clip=`."
    if kind == "vitb32":
        from laic_nb.clip import load_clip
        return load_clip("ViT-B-32", pretrained=None, device="cpu")
    from laic_nb.clip import tiny_clip, clip_tokenizer
    shape = dict(tiny=dict(width=128, layers=2, heads=2), wide=dict(width=512, layers=1, heads=8))[kind]
    return (tiny_clip(embed_dim=512, vision=dict(layers=1, patch_size=16), **shape), None, clip_tokenizer())


SKIPPED = {("imagenet_4shot", "centers"): "not run (--no-skip runs it): 2,500 steps per seed, each through K = 1,000 "
                                          "class prompts; about 17 min per seed here, extrapolated from DTD and Caltech-101"}


def run_dataset(ds: RealSet, vocab: Vocab, methods=METHODS, seeds=(0, 1, 2), centers_kind="tiny", centers_epochs=20,
                graphs: bool = True, skip=SKIPPED, log=print) -> dict:
    "Every method x seed on one dataset: {'rows': {method: (aggregate, mean seconds)}, 'graphs': ..., 'select': ...}."
    from laic_nb.pipeline import run_method, positive_nouns
    from laic_nb.benchmark import run_paper2
    from laic_nb.metrics import evaluate, aggregate_runs
    skipped = {m: skip[(ds.name, m)] for m in methods if (ds.name, m) in skip}
    methods = [m for m in methods if m not in skipped]
    clip = centers_clip(centers_kind) if "centers" in methods else None
    runs, secs = {m: [] for m in methods}, {m: [] for m in methods}
    sel = dict(all=[], in1k=[], seconds=[])
    graph_rows = {}
    do_graphs = graphs and has_graph_option()
    threads = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    warm = slice(0, min(200, len(ds.features)))  # compile numba kernels and fill caches before anything is timed
    for m in set(methods) & {"ntk-naive", "ntk-rad", "sc"}:
        run_method(m, ds.features[warm], 5, vocab.in1k_ensemble[:50], vocab.in1k_prompts[:, :50], filter_nouns=False)
    for s in seeds:
        t0 = time.perf_counter()  # TAC's filter, as run_benchmark: k_f = 3K (capped by N), 5 nouns per center
        keep_all = positive_nouns(ds.select_features, vocab.features, ds.k, random_state=s)
        keep_in = positive_nouns(ds.select_features, vocab.in1k_ensemble, ds.k, random_state=s)
        sel["seconds"].append(time.perf_counter() - t0)
        sel["all"].append(len(keep_all)); sel["in1k"].append(len(keep_in))
        t_all, t_in, p_in = vocab.features[keep_all], vocab.in1k_ensemble[keep_in], vocab.in1k_prompts[:, keep_in]
        for m in methods:
            if m in ("relational", "centers"):  # the second paper's own candidate rule on the whole vocabulary
                # torch's thread count, pinned: numba's parallel RAD kernels leave torch on every core afterwards,
                # which made the centers' small steps 5-17x slower on a shared 2-core machine
                params = dict(epochs=centers_epochs, num_threads=threads) if m == "centers" else None
                r = run_paper2(m, ds.select_features, ds.features, ds.k, vocab.features, clip=clip,
                               centers_mode="features", random_state=s, params=params)
                args = None
            else:
                if m == "ntk-naive-in1k": args = ("ntk-naive", p_in[0], None)
                elif m in ("ntk-pe", "ntk-rad"): args = (m, t_in, p_in)
                else: args = (m, t_all, None)
                r = run_method(args[0], ds.features, ds.k, args[1], args[2], random_state=s, filter_nouns=False)
            runs[m].append(evaluate(ds.labels, r.labels)); secs[m].append(r.seconds)
            log(f"  {ds.name} {m} seed {s}: acc={runs[m][-1]['acc']:.3f} nmi={runs[m][-1]['nmi']:.3f} ({r.seconds:.1f} s)")
            if do_graphs and m in ("ntk-naive", "ntk-rad"):
                for g in ("union", "mutual"):
                    rg = r if getattr(r.estimator, "graph", None) == g else run_method(
                        args[0], ds.features, ds.k, args[1], args[2], random_state=s, filter_nouns=False,
                        params=dict(graph=g))
                    st = graph_stats(rg.estimator)
                    st["acc"], st["seconds"] = evaluate(ds.labels, rg.labels)["acc"], rg.seconds
                    graph_rows.setdefault((m, g), []).append(st)
    rows = {m: (aggregate_runs(runs[m]), float(np.mean(secs[m]))) for m in methods}
    return dict(rows=rows, skipped=skipped, graphs=graph_rows, graph_option=has_graph_option(), select=sel,
                seeds=list(seeds), centers=centers_kind, centers_epochs=centers_epochs)


def fmt(agg: dict, q: str) -> str:
    return f"{100 * agg[q][0]:.1f}±{100 * agg[q][1]:.1f}"


def dataset_table(ds: RealSet, vocab: Vocab, res: dict) -> str:
    "One markdown table (and notes) for `run_dataset`'s result."
    sel = res["select"]
    head = (f"**{ds.name}**: {len(ds.features):,} images, K = {ds.k} ({ds.note}); {LABEL}; "
            f"{names_in_vocab(ds, vocab)} of {ds.k} class names appear verbatim (case aside) among the 2,648 names; "
            f"nouns selected on {ds.select_split} (k_f = {min(3 * ds.k, len(ds.select_features))}: "
            f"{np.mean(sel['all']):.0f} of 2,648 names, {np.mean(sel['in1k']):.0f} of the 1,000 ImageNet names kept; "
            f"{np.mean(sel['seconds']):.1f} s per seed, not in the method times); "
            f"seeds {' '.join(map(str, res['seeds']))}, mean±std in %")
    lines = [head, "", "| method | nouns | NMI | ACC | ARI | seconds |", "|---|---|---|---|---|---|"]
    for m, (agg, sec) in res["rows"].items():
        note = METHOD_NOTES.get(m, "image only")
        if m == "centers": note += f" ({res['centers']}, {res['centers_epochs']} epochs)"
        lines.append(f"| {m} | {note} | {fmt(agg, 'nmi')} | {fmt(agg, 'acc')} | {fmt(agg, 'ari')} | {sec:.2f} |")
    for m, why in res.get("skipped", {}).items():
        lines.append(f"| {m} | {METHOD_NOTES.get(m, '')} | - | - | - | {why} |")
    if res["graphs"]:
        lines += ["", f"NTK graph construction on {ds.name} (mean over seeds):", "",
                  "| method | graph | isolated images | components | images labelled by a vote | ACC | seconds |",
                  "|---|---|---|---|---|---|---|"]
        for (m, g), sts in sorted(res["graphs"].items()):
            mean = lambda q: np.mean([s[q] for s in sts])
            lines.append(f"| {m} | {g} | {mean('isolated'):.0f} | {mean('components'):.0f} | {mean('voted'):.0f} | "
                         f"{100 * mean('acc'):.1f} | {mean('seconds'):.2f} |")
    elif not res["graph_option"]:
        lines += ["", "(union vs mutual graph: this version of NTKSpectralClustering has no `graph=` option yet)"]
    return "\n".join(lines)


def machine() -> str:
    if str(HERE) not in sys.path: sys.path.append(str(HERE))  # harness, beside this file (also when a chapter loads it)
    from harness import cpu_name
    cpu = cpu_name()
    import subprocess
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "laic_nb"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        code = f"; code: commit {head}" + (" with uncommitted changes in laic_nb/" if dirty else "") if head else ""
    except OSError: code = ""
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return (f"{cpu}, {os.cpu_count()} cores (OMP_NUM_THREADS={threads}), {platform.system()}, "
            f"Python {platform.python_version()}, no GPU used{code}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder holding clip-vitb32-real/ (default: $LAIC_REAL_DATA or ../shared/data)")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--centers-model", default="tiny", choices=("tiny", "wide", "vitb32"),
                    help="random-weights text tower for 'centers': tiny (2 layers, width 128: outputs span 128 of 512 dims), "
                         "wide (1 layer, width 512) or the ViT-B/32 text tower (12 layers, width 512; slow on a CPU)")
    ap.add_argument("--centers-epochs", type=int, default=20)
    ap.add_argument("--no-graphs", action="store_true", help="skip the union vs mutual graph comparison")
    ap.add_argument("--no-skip", action="store_true", help="also run what is skipped for time (centers on ImageNet)")
    ap.add_argument("--quick", action="store_true", help="food101 and dtd, seed 0 only")
    ap.add_argument("--out", default=None, help="also write the tables to this markdown file")
    a = ap.parse_args(argv)
    root = data_root(a.data)
    if (why := missing(root)):
        print(why); return 0
    if a.quick: a.datasets, a.seeds = ["food101", "dtd"], [0]
    sys.path.insert(0, str(ROOT))
    vocab, sets = load_real(root, a.datasets)
    t0 = time.perf_counter()
    out = [f"# Clustering {LABEL}", "", f"Machine: {machine()} (at the start of the run).", ""]
    for name, ds in sets.items():
        print(f"{name}: N={len(ds.features)}, K={ds.k}", flush=True)
        res = run_dataset(ds, vocab, a.methods, tuple(a.seeds), a.centers_model, a.centers_epochs, not a.no_graphs,
                          skip={} if a.no_skip else SKIPPED, log=lambda s: print(s, flush=True))
        out += [dataset_table(ds, vocab, res), ""]
    out.append(f"Total {time.perf_counter() - t0:.0f} s; command: `python bench/real.py "
               + " ".join(argv if argv is not None else sys.argv[1:]) + "`")
    text = "\n".join(out)
    print("\n" + text)
    if a.out: Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
