"""The Ray engines against the single process, side by side in one run: the NTK kNN lists (`ntk_topk` vs
`ray_ntk_topk`) and image feature extraction (`extract_image_features` with engine "local" vs "ray").

    .venv/bin/python bench/ray_engine.py                      # N = 8192 16384 32768, 2 Ray CPU workers
    .venv/bin/python bench/ray_engine.py --sizes 16384 --cpus 2 --images 512

Graph inputs are synthetic (`make_bench_features`: d = 512, M nouns, one prompt). Row blocks compute the full
N^2 tiles where the single process computes half (tiles J >= I), so on the same cores Ray's floor is about 2x the
local time plus task start-up; the point of the engine is more machines, not this one. Every Ray result is checked
equal to the local one. Images are the CIFAR-10 JPEGs of ../shared/data when LAIC_REAL_DATA points there (real
images), else generated PNGs; the model is random-weights ViT-B-32 (no trained weights on this machine), so only
the time means anything. Results print as a table and go to bench/results/ray_engine.md.
"""
from __future__ import annotations
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
from harness import cpu_name  # noqa: E402


def timed(fn):
    t0 = time.perf_counter(); out = fn(); return out, time.perf_counter() - t0


def graph_rows(sizes, n_nouns, block):
    from laic_nb.core import native_threads
    from laic_nb.data import make_bench_features
    from laic_nb.ntk import ntk_topk, ray_ntk_topk
    from laic_nb.performance import flop_model
    rows = []
    for n in sizes:
        data = make_bench_features(n, dim=512, n_clusters=10, n_nouns=n_nouns, n_prompts=1, random_state=0)
        x, t = data["x"], data["t"]
        with native_threads(limit=len(os.sched_getaffinity(0))):
            local, t_local = timed(lambda: ntk_topk(x, t, knn=30, block_size=block))
        far, t_ray = timed(lambda: ray_ntk_topk(x, t, knn=30, block_size=block))
        assert np.array_equal(far[0], local[0]) and np.array_equal(far[1], local[1]), "Ray lists differ"
        model = flop_model(n, 512, n_nouns, symmetric=False)["total"] / flop_model(n, 512, n_nouns)["total"]
        rows.append(f"| {n:,} | {n_nouns} | {-(-n // block)} | {t_local:.1f} | {t_ray:.1f} | {t_ray / t_local:.2f} | {model:.2f} | identical |")
    return rows


def image_folder(n_images, real_root):
    tmp = Path(tempfile.mkdtemp(prefix="laic-ray-bench-"))
    src = Path(real_root, "cifar10-test-jpeg") if real_root else None
    if src is not None and src.is_dir():
        files = sorted(src.rglob("*.jpg"))[:: max(1, 10000 // n_images)][:n_images]
        for f in files:
            (tmp / f.parent.name).mkdir(exist_ok=True); shutil.copy(f, tmp / f.parent.name / f.name)
        return tmp, "real CIFAR-10 JPEGs (32 px)"
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(n_images):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp / f"{i:05d}.png")
    return tmp, "generated PNGs (64 px)"


def feature_rows(n_images, actors, real_root):
    from laic_nb.clip import load_clip
    from laic_nb.core import native_threads
    from laic_nb.images import ImageFolder
    from laic_nb.features import extract_image_features
    folder, what = image_folder(n_images, real_root)
    try:
        clip, ds = load_clip("ViT-B-32", pretrained=None, device="cpu"), ImageFolder(folder)
        kw = dict(chunk_size=64, batch_size=32, progress=False, warn=False)
        with native_threads(limit=len(os.sched_getaffinity(0))):
            near, t_local = timed(lambda: extract_image_features(clip, ds, cache=folder / "c-local", **kw))
        far, t_ray = timed(lambda: extract_image_features(clip, ds, cache=folder / "c-ray", engine="ray", actors=actors, **kw))
        assert np.array_equal(near.features, far.features), "Ray features differ"
        n = len(ds)
        return [f"| {what} | {n} | {n / t_local:.1f} | {n / t_ray:.1f} ({actors} actors) | {t_ray / t_local:.2f} | identical |"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _status_bytes(field: str) -> int:
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(field + ":"))


def one_row_task(n: int, m: int, rows: int, block: int, store: bool) -> dict:
    "In a fresh process: one row-block task alone; the RSS before it, so the caller sees what the task itself added."
    import torch
    import laic_nb.ntk as ntk
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 512), dtype=np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
    t = rng.standard_normal((1, m, 512), dtype=np.float32); t /= np.linalg.norm(t, axis=2, keepdims=True)
    torch.set_num_threads(1)
    if not store: ntk.SEMANTIC_STORE_BYTES = 0  # S recomputed per tile, as past 1 GiB
    before, before_peak = _status_bytes("VmRSS"), _status_bytes("VmHWM")
    ntk._rows_topk(x, t, (0, rows), 0.04, 30, "cpu", block, "float32", "float32")
    return dict(before=before, before_peak=before_peak)


def task_memory_rows(n, m, block):
    "Peak memory a row-block task adds (fresh process, harness.measure_call) against `row_task_memory`."
    from harness import measure_call
    from laic_nb.performance import row_task_memory
    rows = []
    for store in (True, False):
        r = measure_call(f"{Path(__file__).resolve()}:one_row_task", dict(n=n, m=m, rows=block, block=block, store=store))
        assert r["ok"], r
        added = r["peak_rss_bytes"] - r["result"]["before"]
        model = row_task_memory(n, 512, m, rows_per_task=block, device="cpu", block=block, store_semantic=store)["device_peak"]
        note = "" if r["peak_rss_bytes"] > r["result"]["before_peak"] else " (below the set-up's own peak)"
        rows.append(f"| {n:,} | {block} | {'stored' if store else 'per tile'} | {added / 2**20:,.0f} MiB{note} | "
                    f"{model / 2**20:,.0f} MiB | {added / model:.2f} |")
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[8192, 16384, 32768])
    p.add_argument("--nouns", type=int, default=835)
    p.add_argument("--block", type=int, default=4096, help="tile side, and rows per Ray task")
    p.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)), help="CPUs of the local Ray cluster")
    p.add_argument("--images", type=int, default=256, help="images for the feature rows (0: skip them)")
    args = p.parse_args()
    import ray
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="warning")
    lines = [f"Machine: {cpu_name()}, {len(os.sched_getaffinity(0))} cores, "
             f"local Ray cluster of {args.cpus} CPU workers, no GPU. {time.strftime('%Y-%m-%d')}.", "",
             "NTK kNN lists (q = 30), synthetic `make_bench_features`, one prompt:", "",
             "| N | M | row blocks | local s | Ray s | Ray / local | flop model (row blocks / symmetric) | lists |",
             "|---|---|---|---|---|---|---|---|", *graph_rows(args.sizes, args.nouns, args.block)]
    lines += ["", f"Peak memory one row-block task adds (its own process, one {args.block}-row block, M = {args.nouns}), "
              "against `row_task_memory` (nbs/30):", "",
              "| N | rows | S | measured | model | measured / model |", "|---|---|---|---|---|---|",
              *task_memory_rows(max(args.sizes), args.nouns, args.block)]
    if args.images:
        lines += ["", "Image features, random-weights ViT-B-32 on the CPU, chunks of 64:", "",
                  "| images | N | local img/s | Ray img/s | Ray / local time | features |", "|---|---|---|---|---|---|",
                  *feature_rows(args.images, args.cpus, os.environ.get("LAIC_REAL_DATA"))]
    ray.shutdown()
    text = "\n".join(lines)
    print(text)
    out = HERE / "results"; out.mkdir(exist_ok=True)
    (out / "ray_engine.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
