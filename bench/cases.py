"""Benchmark cases that live outside the library: real Food-101 CLIP features and feature-extraction throughput.

Each function runs inside a fresh process started by `measure_call` (bench/harness.py) and returns a JSON-able dict.
"""
from __future__ import annotations
import time
from pathlib import Path
import numpy as np


def food101_case(path: str, split: str = "test", method: str = "kmeans", n_clusters: int = 10, random_state: int = 0,
                 n_seeds: int = 1) -> dict:
    "Image-only baselines (`ClipKMeans`, `ClipSpectralClustering`) on the real Food-101 CLIP ViT-B/32 features."
    from laic_nb.metrics import evaluate, aggregate_runs
    x = np.load(Path(path) / f"{split}_features.npy").astype(np.float32)
    y = np.load(Path(path) / f"{split}_labels.npy")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    from laic_nb.cluster import ClipKMeans, ClipSpectralClustering
    cls = {"kmeans": ClipKMeans, "spectral": ClipSpectralClustering}[method]
    runs, secs = [], []
    for seed in range(random_state, random_state + n_seeds):
        t0 = time.perf_counter()
        labels = cls(n_clusters=n_clusters, random_state=seed).fit(x).labels_
        secs.append(time.perf_counter() - t0)
        runs.append(evaluate(y, labels))
    agg = aggregate_runs(runs)
    return {"case": f"food101_{method}", "split": split, "n": int(len(x)), "impl": f"{cls.__module__}.{cls.__name__}",
            "seconds": float(np.mean(secs)), "n_seeds": n_seeds,
            "vs_truth": {k: float(v[0]) for k, v in agg.items()}, "vs_truth_std": {k: float(v[1]) for k, v in agg.items()}}


def _jpegs(root: str, n: int) -> list:
    files = sorted(Path(root).rglob("*.jpg"))
    if not files: raise FileNotFoundError(f"no .jpg files under {root}")
    step = max(1, len(files) // n)
    return files[::step][:n]


def model_gflops(model: str = "ViT-B-32") -> float:
    "GFLOPs (2 per multiply-add) of one image forward pass of the open_clip image tower, counted by torch."
    import torch, open_clip
    from torch.utils.flop_counter import FlopCounterMode
    m = open_clip.create_model(model, pretrained=None).train()  # train mode: MultiheadAttention's fused
    # inference fast path is invisible to FlopCounterMode and would drop the attention projections
    size = m.visual.image_size if hasattr(m.visual, "image_size") else 224
    size = size[0] if isinstance(size, (tuple, list)) else size
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m.encode_image(torch.zeros(1, 3, size, size))
    return fc.get_total_flops() / 1e9


def features_case(image_dir: str, model: str = "ViT-B-32", n_images: int = 256, batch_size: int = 64,
                  device: str = "cpu", num_workers: int = 0, precision: str = "fp32") -> dict:
    "Images/s of open_clip `model` with random weights (pretrained=None) on real JPEGs, decoding + preprocessing included."
    import torch, open_clip
    from PIL import Image
    from laic_nb.performance import matmul_rate
    files = _jpegs(image_dir, n_images)
    m, _, preprocess = open_clip.create_model_and_transforms(model, pretrained=None, device=device)
    m.eval()
    gflops = model_gflops(model)

    class DS(torch.utils.data.Dataset):
        def __len__(self): return len(files)
        def __getitem__(self, i): return preprocess(Image.open(files[i]).convert("RGB"))

    dl = torch.utils.data.DataLoader(DS(), batch_size=batch_size, num_workers=num_workers)
    amp = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if (device.startswith("cuda") and precision == "bf16") else None
    with torch.no_grad():  # warm-up batch (not timed)
        m.encode_image(torch.zeros(2, 3, 224, 224, device=device))
    t_dec = t_model = 0.0
    n = 0
    t0 = time.perf_counter()
    it = iter(dl)
    while True:
        a = time.perf_counter()
        try: batch = next(it)
        except StopIteration: break
        b = time.perf_counter()
        with torch.no_grad():
            if amp:
                with amp: f = m.encode_image(batch.to(device, non_blocking=True))
            else: f = m.encode_image(batch.to(device))
            if device.startswith("cuda"): torch.cuda.synchronize()
        c = time.perf_counter()
        t_dec += b - a; t_model += c - b; n += len(batch)
    total = time.perf_counter() - t0
    return {"case": f"features_{model}", "model": model, "weights": "random (pretrained=None)", "device": device,
            "precision": precision, "n_images": n, "batch_size": batch_size, "threads": torch.get_num_threads(),
            "seconds": total, "images_per_s": n / total, "decode_s": t_dec, "model_s": t_model,
            "model_images_per_s": n / t_model, "gflops_per_image": gflops,
            "achieved_gflops_per_s": gflops * n / t_model, "matmul_gflops_per_s": matmul_rate(device, {"fp32": "float32", "bf16": "bfloat16"}[precision]) / 1e9}
