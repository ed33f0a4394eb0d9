"""Time and size of the cluster report (`report.html`) at 1k, 10k and 100k images, with the projection's share.

    .venv/bin/python bench/report.py                 # N = 1,000, 10,000 and 100,000
    .venv/bin/python bench/report.py --sizes 1000    # one size
    .venv/bin/python bench/report.py --json bench/results/report-bench.json

SYNTHETIC inputs: `make_bench_features` (512-d, K planted clusters, 835 nouns; not real CLIP), clustered by their planted
labels (the report's cost does not depend on which method made the labels), named from the cluster means, after a
warm-up run at N = 300 (numba compiles UMAP's kernels once per process: about 5 s, not a cost of any one size); thumbnails
are generated 32 x 32 colour images (a planted colour per cluster plus noise), made on demand as a real run decodes
files. Each step of `explore.explore` is timed (neighbours, typicality, names, map, K guidance), then `gallery.render_report`
(thumbnails and HTML) and the write. The table prints seconds per step, the projection's share of the total, and the
page's size.
"""
from __future__ import annotations
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _thumbnailer(labels, seed=0):
    "thumbnail(i): a generated 32 x 32 RGB image, the colour of row i's cluster plus noise (SYNTHETIC)."
    from PIL import Image
    colours = np.random.default_rng(7).integers(30, 226, (int(labels.max()) + 1, 3))
    def thumbnail(i):
        rng = np.random.default_rng(seed * 1_000_003 + int(i))
        a = np.clip(colours[labels[i]][None, None, :] + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
        return Image.fromarray(a)
    return thumbnail


def run_one(n: int, k: int, seed: int = 0) -> dict:
    from laic_nb.data import make_bench_features
    from laic_nb.core import l2_normalize
    from laic_nb.explore import explore
    from laic_nb.gallery import render_report
    from laic_nb.cache import atomic_write_bytes
    d = make_bench_features(n, n_clusters=k, random_state=seed)
    x, lab, t = d["x"], np.asarray(d["y"]), d["t"]
    nouns = [f"noun{j}" for j in range(len(t))]  # SYNTHETIC noun names
    xn = l2_normalize(x)
    centers = np.stack([l2_normalize(xn[lab == c].mean(0)) for c in np.unique(lab)])
    t0 = time.perf_counter()
    ex = explore(x, lab, centers=centers, noun_features=t, nouns=nouns, random_state=seed)
    t_explore = time.perf_counter() - t0
    paths = [f"/photos/synthetic/{i:06d}.jpg" for i in range(n)]
    t0 = time.perf_counter()
    page = render_report(ex, paths, _thumbnailer(lab, seed), title=f"bench: {n:,} SYNTHETIC images, K = {k}",
                         facts=dict(method="planted labels", model="none (synthetic features)", images=n, k=k), progress=False)
    t_render = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = Path(tmp) / "report.html"
        atomic_write_bytes(out, page.encode("utf-8"))
        t_write = time.perf_counter() - t0
        size = out.stat().st_size
    total = t_explore + t_render + t_write
    return dict(n=n, k=k, seconds=dict(ex.seconds, render=round(t_render, 3), write=round(t_write, 3), total=round(total, 3)),
                projection_share=round(ex.seconds["map"] / total, 3), size_bytes=size,
                n_thumbnails=page.count("data:image/jpeg;base64,"), projection=ex.settings["projection"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--k", type=int, default=20, help="planted clusters (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    ap.add_argument("--no-warmup", action="store_true", help="time the first size with numba's one-off compile included")
    args = ap.parse_args(argv)
    import torch
    cpu = platform.processor() or platform.machine()
    print(f"report bench: SYNTHETIC features and thumbnails, {os.cpu_count()} CPU(s) {cpu}, torch threads {torch.get_num_threads()}")
    if not args.no_warmup:  # numba compiles NN-descent's and UMAP's kernels once per process: not a cost of any one size
        t0 = time.perf_counter()
        run_one(300, 5, args.seed)
        print(f"warm-up (N = 300: numba compiles UMAP's kernels once per process): {time.perf_counter() - t0:.1f} s")
    rows = []
    steps = ("neighbours", "typicality", "names", "map", "guidance", "render", "write")
    print(f"{'N':>8} " + " ".join(f"{s:>10}" for s in steps) + f" {'total s':>8} {'map share':>9} {'MB':>7} {'thumbs':>6}")
    for n in args.sizes:
        r = run_one(n, args.k, args.seed)
        rows.append(r)
        s = r["seconds"]
        print(f"{n:8,d} " + " ".join(f"{s.get(q, 0):10.2f}" for q in steps)
              + f" {s['total']:8.1f} {r['projection_share']:9.0%} {r['size_bytes'] / 1e6:7.2f} {r['n_thumbnails']:6d}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(machine=dict(cpus=os.cpu_count(), processor=cpu), rows=rows), indent=2))
    return rows


if __name__ == "__main__":
    main()
