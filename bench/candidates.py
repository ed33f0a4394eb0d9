"""Candidate neighbours and an exact NTK re-rank against the exact kNN graph (chapter 31, nbs/31_scale.ipynb).

    .venv/bin/python bench/candidates.py                    # the default run: about 20 minutes on 2 cores
    .venv/bin/python bench/candidates.py --quick            # a smoke run: about 2 minutes
    .venv/bin/python bench/candidates.py --render-only      # rewrite candidates.md and candidates.png from candidates.json
    LAIC_REAL_DATA=/path/to/data .venv/bin/python bench/candidates.py   # the real row reads clip-vitb32-real/ there

Every case is one `laic_nb.scale.candidate_trial`: the exact graph (`ntk_topk`, one noun set), then for each candidate
source (images sharing a top noun; FAISS flat, IVF, HNSW on the image features) and each C the candidates, the exact
re-rank and the graph, and the same spectral step (K known, seed 0) on every graph. Rows report the time of each stage,
the edge recall of the exact graph, the agreement of the labels with the exact graph's (NMI, ARI) and the accuracy of
both against the true classes.

The cases (default): synthetic `make_bench_features` (d=512, M=835, K=10) at N = 50,000, 100,000 and 200,000 (the
exact graph alone takes about 5 minutes at 200,000 on 2 cores: what limits N here is that reference, not memory);
synthetic `make_vl_blobs` with confusable cluster pairs (confusion 0.75) at N = 20,000; and, if the real embeddings are
found (`--data`, `$LAIC_REAL_DATA`, else ../shared/data beside the repository, holding clip-vitb32-real/), Caltech-101's
2,465 test images (OpenAI CLIP ViT-B/32, precomputed) against the 2,648-name vocabulary as nouns. Without the real
embeddings that case is skipped with one line. The exact flat FAISS index is an exact visual kNN (N inner products per
query) and is run only up to 50,000 images.

Writes candidates.json, candidates.md and candidates.png into --out (default bench/results, not kept in git).
"""
from __future__ import annotations
import argparse, datetime, json, os, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run import machine_info, load_average, other_busy_processes  # noqa: E402  (bench/ is a folder of scripts)
from real import data_root, missing, load_real, LABEL as REAL_LABEL  # noqa: E402

RESULTS = "candidates.json"
ALL_SOURCES = ("nouns", "flat", "ivf", "hnsw")
FLAT_LIMIT = 50_000  # the exact flat index costs N inner products per query: not run beyond this


def case_plan(quick: bool) -> list[dict]:
    "The cases of a run: data, size, sources and C values."
    grid, one = (60, 120, 240), (120,)
    if quick:
        return [dict(data="bench", n=20_000, sources=ALL_SOURCES, c=grid), dict(data="bench", n=40_000, sources=("nouns", "ivf"), c=one),
                dict(data="confusable", n=10_000, sources=ALL_SOURCES, c=grid), dict(data="real", sources=ALL_SOURCES, c=grid)]
    return [dict(data="bench", n=50_000, sources=ALL_SOURCES, c=one),
            dict(data="bench", n=100_000, sources=("nouns", "ivf", "hnsw"), c=grid),
            dict(data="bench", n=200_000, sources=("nouns", "ivf"), c=one),
            dict(data="confusable", n=20_000, sources=ALL_SOURCES, c=grid),
            dict(data="real", sources=ALL_SOURCES, c=grid)]


def load_case(case: dict, root) -> dict | None:
    "Features, nouns, labels and a label of the case's data; None (with a line on stderr) when real data is absent."
    from laic_nb.data import make_bench_features, make_vl_blobs
    if case["data"] == "bench":
        f = make_bench_features(case["n"], 512, n_clusters=10, n_nouns=835, n_prompts=1, random_state=0)
        return dict(x=f["x"], t=f["t"], y=f["y"], k=10,
                    label=f"synthetic `make_bench_features` (d=512, M=835, K=10, clusters on 8-dim subspaces), N={case['n']:,}")
    if case["data"] == "confusable":
        f = make_vl_blobs(case["n"], 10, 512, 835, n_prompts=1, confusion=0.75, random_state=0)
        return dict(x=f.image_features, t=f.text_features, y=f.labels, k=10,
                    label=f"synthetic `make_vl_blobs` with confusable pairs (confusion 0.75; d=512, M=835, K=10), N={case['n']:,}")
    if (why := missing(root)):
        print(f"real case: {why}", file=sys.stderr)
        return None
    vocab, sets = load_real(root, ("caltech101",))
    ds = sets["caltech101"]
    return dict(x=ds.features, t=vocab.features, y=ds.labels, k=ds.k,
                label=f"real: Caltech-101 test images, {REAL_LABEL}; nouns: the {len(vocab.names):,}-name vocabulary "
                      f"(one prompt each), N={len(ds.labels):,}, K={ds.k}")


def run(args) -> dict:
    from laic_nb.scale import candidate_trial
    root = data_root(args.data)
    out = {"machine": machine_info("cpu"), "command": " ".join([Path(sys.executable).name] + sys.argv), "args": vars(args),
           "contention": {"load_at_start": load_average(), "busy_at_start": other_busy_processes()}, "cases": [], "skipped": []}
    print(f"# bench/candidates.py {datetime.datetime.now():%Y-%m-%d %H:%M}: {out['machine'].get('cpu', '?')}, "
          f"{out['machine']['cpu_count']} cores; load {out['contention']['load_at_start']}", flush=True)
    for case in case_plan(args.quick):
        data = load_case(case, root)
        if data is None:
            out["skipped"].append(f"{case['data']}: real embeddings not found under {root}")
            continue
        n = len(data["x"])
        sources = tuple(s for s in case["sources"] if s != "flat" or n <= FLAT_LIMIT)
        t0 = time.perf_counter()
        rows = candidate_trial(data["x"], data["t"], data["y"], data["k"], sources=sources, n_candidates=case["c"])
        out["cases"].append(dict(data=case["data"], n=n, k=data["k"], label=data["label"], rows=rows,
                                 seconds=time.perf_counter() - t0))
        print(f"\n{data['label']} ({time.perf_counter() - t0:.0f} s in all)", flush=True)
        for r in rows:
            print(f"  {r['source']:6s} C={str(r['c'] or '-'):>4s}  graph {r['graph_s']:7.1f} s  recall {r['recall']:.3f}  "
                  f"NMI vs exact {r['nmi_vs_exact']:.3f}  ACC {r['acc']:.3f}  spectral {r['spectral_s']:.1f} s", flush=True)
        save(out, args.out)
    out["contention"] |= {"load_at_end": load_average(), "busy_at_end": other_busy_processes()}
    save(out, args.out)
    return out


def save(res: dict, folder):
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS).write_text(json.dumps(res, indent=1, default=float))


def eigensolver_table(res: dict) -> str:
    "The spectral step's time on the exact graph and on the nouns C=120 graph of each synthetic bench size."
    lines = ["| N | graph | graph entries | spectral step (eigensolver + discretisation) |", "|---:|---|---:|---:|"]
    for case in (c for c in res["cases"] if c["data"] == "bench"):
        for r in case["rows"]:
            if r["source"] == "exact" or (r["source"] == "nouns" and r["c"] == 120):
                name = "exact" if r["source"] == "exact" else "nouns, C=120"
                lines.append(f"| {case['n']:,} | {name} | {r['edges']:,} | {r['spectral_s']:.1f} s |")
    return "\n".join(lines)


def render(res: dict, folder):
    "candidates.md (tables) and candidates.png (recall against time) from the results."
    from laic_nb.scale import candidate_table, candidate_plot
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    m = res["machine"]
    md = [f"Run of {m['date']} on {m.get('cpu', '?')}, {m['cpu_count']} cores, {m.get('ram_bytes', 0) / 2**30:.0f} GiB RAM, "
          f"no GPU; torch {m['torch']}. Command: `{res['command']}`. Load average at start {res['contention'].get('load_at_start')}, "
          f"at end {res['contention'].get('load_at_end')}.\n"]
    for case in res["cases"]:
        md += [f"\n**{case['label']}**\n", candidate_table(case["rows"]), ""]
    md += ["\n**The spectral step on growing synthetic graphs** (scipy's ARPACK through `spectral_clustering`, K=10)\n",
           eigensolver_table(res), ""]
    if any("components" not in r for c in res["cases"] for r in c["rows"]):
        md.append("\nGraph components: not recorded by this run (its code predates that column).")
    md += [f"\nSkipped: {s}" for s in res["skipped"]]
    (Path(folder) / "candidates.md").write_text("\n".join(md) + "\n")
    grids = [c for c in res["cases"] if len({r["c"] for r in c["rows"]}) > 2]
    if grids:
        fig, axes = plt.subplots(1, len(grids), figsize=(5.5 * len(grids), 4), squeeze=False)
        for ax, case in zip(axes[0], grids):
            candidate_plot(case["rows"], ax, title=case["label"].split(",")[0].replace("`", "") + f", N={case['n']:,}")
        fig.tight_layout(); fig.savefig(Path(folder) / "candidates.png", dpi=110); plt.close(fig)


def find_results(path=None) -> Path | None:
    "The first of `path`, `$LAIC_BENCH_RESULTS`, `bench/results` above the cwd that holds candidates.json, or None."
    cands = [path, os.environ.get("LAIC_BENCH_RESULTS")] + [p / "bench" / "results" for p in [Path.cwd(), *Path.cwd().parents]]
    return next((Path(c) for c in cands if c and (Path(c) / RESULTS).exists()), None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "results"), help="folder of candidates.json / .md / .png")
    ap.add_argument("--data", default=None, help="folder holding clip-vitb32-real/ (default: $LAIC_REAL_DATA or ../shared/data)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run of about 2 minutes")
    ap.add_argument("--render-only", action="store_true", help="rewrite the markdown and the plot from candidates.json")
    args = ap.parse_args(argv)
    if args.render_only:
        res = json.loads((Path(args.out) / RESULTS).read_text())
    else: res = run(args)
    render(res, args.out)
    print("\n" + (Path(args.out) / "candidates.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
