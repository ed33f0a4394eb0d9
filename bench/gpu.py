"""One prepared GPU run: every GPU figure of the book measured beside the model that predicted it.

    python bench/gpu.py                          # on a GPU machine: sized for under 8 minutes on one H100, JSON in bench/results/
    python bench/gpu.py --device cpu --tiny      # the same code paths at toy sizes on a CPU (under a minute; CI runs it)
    python bench/gpu.py --budget 300 --sections graph rad

What it measures, each with the model's prediction and the ratio measured / model:
  encode    CLIP image encoding, random weights (ViT-B-32, ViT-B-16, ViT-L-14), fp16 and bf16 autocast, images/s from
            tensors already on the device and from a generated JPEG folder with decoding workers (the library's
            `encode_images`); model: the image tower's flops (counted by torch) / the measured matmul rate
  graph     the exact NTK top-q graph (`ntk_topk`, q = 30) for N = 100k, 400k, 1.28M synthetic images x M = 835, 5,000,
            21,355 nouns, float32 and bfloat16 products: seconds, peak GPU memory vs `memory_model`, TFLOP/s vs
            `flop_model` / the measured matmul rate, vs the card's datasheet peak and vs `scale.MODEL_RATES`
  rad       RAD with a dense A-hat on the GPU at N = 20k and 50k, B = 7 prompt graphs: seconds vs `dense_rad_seconds`,
            peak memory vs `dense_rad_bytes`
  pipeline  the whole `NTKSpectralClustering(variant="rad")` (B = 7, M = 835, K = 10, bfloat16 products) at 100k and then
            1.28M images, step by step (graph, kNN graphs, RAD on the kNN pattern, spectral step, vote); the 1.28M steps
            are predicted from the 100k ones and from `memory_model`
  real      the real-embedding table (bench/real.py's data, $LAIC_REAL_DATA or ../shared/data): NTK-SC on the GPU and on
            the CPU, labels compared (NMI); skipped with a note when the data are not there
Every step has a time budget (--budget seconds in all, shared out by section; time a section leaves is passed on):
a measurement whose predicted time would overrun what is left is skipped, and the JSON says so and why. The JSON is
rewritten after every measurement, so a run cut short still leaves what it measured.

Preparing a bare GPU machine (PyTorch, torchvision, numba, scipy, scikit-learn, no open_clip, no network): the
package's missing dependencies travel as wheels in the ignored folder .gpu-wheels/ (--wheels): pure Python except
regex (one wheel per CPython version; the machine's is picked) and wcwidth (one abi3 wheel). Make them on a machine
with a network, from the repository root:

    pip download --no-deps -d .gpu-wheels open_clip_torch==3.3.0 ftfy==6.3.1 tqdm==4.70.1
    pip download --no-deps -d .gpu-wheels --only-binary=:all: --platform manylinux2014_x86_64 wcwidth==0.9.5
    for v in 3.11 3.12 3.13 3.14; do pip download --no-deps -d .gpu-wheels --only-binary=:all: \\
        --platform manylinux2014_x86_64 --python-version $v regex==2026.12.2; done

about 5.8 MB in all (open_clip_torch 1.5 MB, regex 0.8 MB per Python version, wcwidth 0.8 MB, tqdm, ftfy); the
versions are requirements-lock.txt's. open_clip's other requirements (huggingface_hub, timm, safetensors) are
optional imports it does without for random weights. The script unpacks only the wheels of modules the machine lacks
into .gpu-wheels/site/ and puts that folder first on sys.path (and PYTHONPATH, for the decoding workers): nothing is
installed into the environment, torch is never touched. laic_nb is imported from this checkout. Carry the folder with
the run (the device tool's carry: [".gpu-wheels"]).

A GPU session, in one line: prepare .gpu-wheels/ as above, then run `python bench/gpu.py --commit <sha>` from the
repository root on the GPU machine with .gpu-wheels carried (one command of under 10 minutes), and commit the
bench/results/gpu-*.json it writes. If its 1.28M pipeline was skipped for time and device time is left, run
`python bench/gpu.py --sections pipeline --budget 500 --commit <sha>` on the same warm machine (a second JSON, named
...-pipeline.json).

Output: bench/results/gpu-<date>-<device>.json (kept in git: .gitignore's exception for bench/results/gpu-*.json);
a CPU run writes bench/results/cpu-<date>-<device>.json, which stays ignored. --out overrides. The performance chapter
renders the latest committed gpu-*.json with `laic_nb.performance.render_gpu_results`.
"""
from __future__ import annotations
import argparse, contextlib, datetime, hashlib, json, os, platform, re, subprocess, sys, tempfile, time, traceback, zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WHEELS = {  # module -> the distribution whose wheel provides it (versions: requirements-lock.txt)
    "open_clip": "open_clip_torch", "ftfy": "ftfy", "wcwidth": "wcwidth", "regex": "regex", "tqdm": "tqdm"}
# Datasheet peaks, dense (no sparsity), TFLOP/s: NVIDIA H100 and H200 datasheets. float32 = the CUDA cores (torch keeps
# TF32 off for matmul by default), bfloat16 = the tensor cores. Matched on torch.cuda.get_device_name, first match wins.
PEAKS = (
    ("H200", "NVIDIA H200 (SXM)", {"float32": 67e12, "bfloat16": 989e12}, 4.8e12),
    ("H100 NVL", "NVIDIA H100 NVL", {"float32": 60e12, "bfloat16": 835e12}, 3.9e12),
    ("H100 PCIe", "NVIDIA H100 PCIe", {"float32": 51e12, "bfloat16": 756e12}, 2.0e12),
    ("H100", "NVIDIA H100 SXM5 (80GB HBM3)", {"float32": 67e12, "bfloat16": 989e12}, 3.35e12),
)
FULL = dict(  # sizes of the real run
    models=("ViT-B-32", "ViT-B-16", "ViT-L-14"), encode_batch=256, encode_batches=8, jpegs=4096, jpeg_side=256,
    graph_n=(100_000, 400_000, 1_281_167), graph_m=(835, 5_000, 21_355), rad_n=(20_000, 50_000), rad_b=7,
    pipe_n=(100_000, 1_281_167), pipe_m=835, pipe_k=10, real_sets=("food101", "dtd", "caltech101"), matmul=8192,
    shares=dict(encode=70, graph=150, rad=60, pipeline=120, real=20), budget=420)
TINY = dict(  # the same code paths at toy sizes (CPU smoke run)
    models=("laic-tiny",), encode_batch=8, encode_batches=2, jpegs=16, jpeg_side=64,
    graph_n=(1_500, 3_000), graph_m=(20, 60), rad_n=(300, 500), rad_b=3,
    pipe_n=(800, 2_000), pipe_m=60, pipe_k=4, real_sets=("dtd",), matmul=512,
    shares=dict(encode=15, graph=10, rad=8, pipeline=12, real=10), budget=55)
SECTIONS = ("encode", "graph", "rad", "pipeline", "real")
KNN = 30


# --- wheels ---------------------------------------------------------------------------------------------------------

def _wheel_fits(name: str) -> bool:
    "A wheel file name's tags fit this interpreter: pure Python, abi3 of a CPython <= this one, or this CPython."
    tags = name[:-4].split("-")[-3:]
    py, abi, plat = tags
    if plat != "any" and not (sys.platform.startswith("linux") and platform.machine() in plat): return False
    if abi == "none": return True
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    if abi == "abi3": return int(py[2:]) <= int(here[2:])
    return here in py.split(".")


def prepare_wheels(folder) -> dict:
    "Unpack the wheels of the modules this Python lacks from `folder` into `folder/site`, first on sys.path: {module: how}."
    import importlib.util
    folder = Path(folder)
    site = folder / "site"
    if site.is_dir() and str(site) not in sys.path: sys.path.insert(0, str(site))
    got = {}
    for module, dist in WHEELS.items():
        if importlib.util.find_spec(module) is not None:
            got[module] = "present" if not str(importlib.util.find_spec(module).origin or "").startswith(str(site)) else "unpacked earlier"
            continue
        stem = dist.replace("-", "_").lower()
        wheels = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(stem + "-") and _wheel_fits(p.name))
        if not wheels:
            got[module] = f"MISSING: no {dist} wheel for this Python in {folder} (see --help)"; continue
        with zipfile.ZipFile(wheels[-1]) as z: z.extractall(site)
        if str(site) not in sys.path: sys.path.insert(0, str(site))
        got[module] = f"unpacked from {wheels[-1].name}"
    importlib.invalidate_caches()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return got


# --- the record -----------------------------------------------------------------------------------------------------

def _ratio(measured, model):
    return None if measured is None or not model else float(measured) / float(model)


def metric(quantity: str, unit: str, measured, model=None, model_name: str = "") -> dict:
    "One line of a table: what was measured, what the model predicted, and the ratio measured / model."
    f = lambda v: None if v is None else float(v)
    return dict(quantity=quantity, unit=unit, measured=f(measured), model=f(model), model_name=model_name,
                ratio=_ratio(measured, model))


class Record:
    "The JSON of the run, rewritten after every measurement."
    def __init__(self, path: Path, meta: dict):
        self.path, self.data = path, dict(meta, measurements=[], sections={})

    def add(self, section: str, name: str, params: dict, metrics=(), status="ok", note="", extra=None) -> dict:
        row = dict(section=section, name=name, params=params, status=status, note=note, metrics=list(metrics),
                   extra=extra or {})
        self.data["measurements"].append(row)
        self.save()
        print(f"[{section}] {name}: {status}" + (f" ({note})" if note else "") + "".join(
            f"\n    {m['quantity']}: {_fmt(m['measured'])} {m['unit']} (model {_fmt(m['model'])}, ratio {_fmt(m['ratio'])})"
            for m in row["metrics"]), flush=True)
        return row

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_jsonable) + "\n")
        tmp.replace(self.path)


def _fmt(v) -> str:
    if v is None: return "-"
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:,.0f}"


def _jsonable(o):
    import numpy as np
    if isinstance(o, np.generic): return o.item()
    if isinstance(o, np.ndarray): return o.tolist()
    return str(o)


class Budget:
    "Seconds per section: each its share, plus whatever the sections before it left; the shares after it are kept."
    def __init__(self, total: float, shares: dict, sections):
        scale = total / sum(shares[s] for s in sections)
        self.shares = {s: shares[s] * scale for s in sections}
        self.order, self.t0, self.total = list(sections), time.perf_counter(), total

    def left(self, section: str) -> float:
        "Seconds this section may still use."
        later = sum(self.shares[s] for s in self.order[self.order.index(section) + 1:])
        return self.total - (time.perf_counter() - self.t0) - later


# --- the device -----------------------------------------------------------------------------------------------------

def sync(device):
    import torch
    if str(device).startswith("cuda"): torch.cuda.synchronize()


def gpu_peak_start(device) -> int:
    "Reset the peak-memory counter of a CUDA device; the bytes allocated now (0 on the CPU)."
    import torch
    if not str(device).startswith("cuda"): return 0
    torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated()


def gpu_peak_since(device, base: int):
    "Peak bytes allocated on a CUDA device above `base` since `gpu_peak_start`; None on the CPU."
    import torch
    if not str(device).startswith("cuda"): return None
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def rss_reset():
    "Reset this process's peak RSS (Linux: clear_refs 5), so VmHWM measures from now on."
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f: f.write("5")


def rss(kind: str = "VmHWM"):
    with contextlib.suppress(OSError):
        for line in open("/proc/self/status"):
            if line.startswith(kind + ":"): return int(line.split()[1]) * 1024
    return None


def card(device) -> dict:
    "The device's name, memory, datasheet peaks (from PEAKS, or None) and driver."
    import torch
    if not str(device).startswith("cuda"):
        return dict(name=_cpu_name(), kind="cpu", memory_bytes=None, peak_flops=None, peak_source="no datasheet peak for a CPU")
    p = torch.cuda.get_device_properties(device)
    name = torch.cuda.get_device_name(device)
    row = next((r for r in PEAKS if r[0].lower() in name.lower()), None)
    driver = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                                text=True, timeout=20).stdout.strip().splitlines()[0]
    return dict(name=name, kind="cuda", memory_bytes=int(p.total_memory), sm_count=p.multi_processor_count,
                capability=f"{p.major}.{p.minor}", driver=driver, cuda=torch.version.cuda,
                peak_flops=row[2] if row else None, peak_bandwidth=row[3] if row else None,
                peak_source=(f"datasheet of the {row[1]}, dense" if row else f"no datasheet peak known for {name!r}"))


def _cpu_name() -> str:
    try: return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration): return platform.processor() or platform.machine() or "unknown CPU"


def _commit(given):
    if given: return given
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=20)
        if out.returncode == 0: return out.stdout.strip()
    return None


def source_hash() -> str:
    "sha256 of laic_nb/*.py: names the code even where the copy has no .git."
    h = hashlib.sha256()
    for p in sorted((ROOT / "laic_nb").glob("*.py")): h.update(p.name.encode()); h.update(p.read_bytes())
    return h.hexdigest()


def slug(s: str) -> str: return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40] or "device"


# --- sections -------------------------------------------------------------------------------------------------------

def section_encode(rec, budget, dev, cfg, rates):
    "CLIP image encoding, random weights: images/s from tensors and from a JPEG folder, against the compute bound."
    import numpy as np, torch
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode
    from laic_nb.clip import load_clip
    from laic_nb.features import encode_images
    from laic_nb.images import ImageFolder
    from laic_nb.scale import EMBED_RATE
    workers = min(16, os.cpu_count() or 1) if str(dev).startswith("cuda") else 1
    jpeg_dir = Path(tempfile.mkdtemp(prefix="laic-gpu-jpeg-"))
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    side = cfg["jpeg_side"]
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    for i in range(cfg["jpegs"]):  # smooth colour ramps plus noise: JPEGs of realistic size, not of noise
        c = rng.integers(0, 256, 3)
        img = (ramp[None, :, None] * 0.5 + ramp[:, None, None] * 0.3 + c * 0.2 + rng.normal(0, 12, (side, side, 3)))
        (jpeg_dir / f"c{i % 10}").mkdir(exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(jpeg_dir / f"c{i % 10}" / f"{i:05d}.jpg", quality=90)
    rec.data["sections"]["encode"] = dict(jpeg_folder=f"{cfg['jpegs']} JPEGs of {side}x{side}, generated in "
                                          f"{time.perf_counter() - t0:.1f} s", workers=workers)
    folder = ImageFolder(jpeg_dir)
    for model in cfg["models"]:
        if budget.left("encode") < 5:
            rec.add("encode", model, {}, status="skipped", note="the encode section's time budget is spent"); continue
        try:
            t0 = time.perf_counter()
            clip = load_clip(model, pretrained=None, device=dev)
            load_s = time.perf_counter() - t0
            size = clip.model.visual.image_size
            size = size[0] if isinstance(size, (tuple, list)) else size
            one = torch.randn(1, 3, size, size, device=dev)
            with torch.no_grad(), FlopCounterMode(display=False) as fc: clip.model.encode_image(one)
            flops = float(fc.get_total_flops())
        except Exception as e:
            rec.add("encode", model, {}, status="error", note=_err(e)); continue
        b = cfg["encode_batch"]
        for dtype in ("float16", "bfloat16"):
            name = f"{model} {dtype} autocast, tensors on the device"
            try:
                x = torch.randn(b, 3, size, size, device=dev)
                ac = torch.autocast(torch.device(dev).type, dtype=getattr(torch, dtype))
                with torch.no_grad(), ac:
                    clip.model.encode_image(x); sync(dev)  # warm-up (kernel selection)
                    t0 = time.perf_counter()
                    for _ in range(cfg["encode_batches"]): clip.model.encode_image(x)
                    sync(dev); secs = time.perf_counter() - t0
                ips = b * cfg["encode_batches"] / secs
                bound = rates["bfloat16"] / flops  # bf16 and fp16 tensor cores share a peak
                rec.add("encode", name, dict(model=model, dtype=dtype, batch=b, flops_per_image=flops, load_s=load_s),
                        [metric("throughput", "images/s", ips, bound, "image tower flops (torch's count) / measured bf16 matmul rate")])
            except Exception as e:
                rec.add("encode", name, dict(model=model, dtype=dtype), status="error", note=_err(e))
        name = f"{model} from JPEGs, {workers} decoding workers (encode_images, fp16 autocast on CUDA)"
        try:
            t0 = time.perf_counter()
            feats = encode_images(clip, folder, batch_size=b, num_workers=workers, progress=False)
            secs = time.perf_counter() - t0
            ms = [metric("throughput", "images/s", len(feats) / secs, rates["bfloat16"] / flops,
                         "image tower flops / measured bf16 matmul rate (compute bound)")]
            if model == "ViT-B-32":
                ms.append(metric("throughput", "images/s", len(feats) / secs, EMBED_RATE / 8,
                                 "scale.EMBED_RATE / 8: clip-retrieval's reported ViT-B/32 rate per A100 (scale_plan's embedding figure)"))
            rec.add("encode", name, dict(model=model, batch=b, workers=workers, images=len(feats)), ms)
        except Exception as e:
            rec.add("encode", name, dict(model=model), status="error", note=_err(e))
        del clip
        if str(dev).startswith("cuda"): torch.cuda.empty_cache()
    # decoding alone: the DataLoader's rate with the same workers, no model (what the JPEG path cannot beat)
    try:
        from laic_nb.images import PreparedImages, collate_prepared
        pre = load_clip(cfg["models"][0], pretrained=None, device="cpu").preprocess
        loader = torch.utils.data.DataLoader(PreparedImages(folder, pre), batch_size=cfg["encode_batch"], num_workers=workers,
                                             collate_fn=collate_prepared)
        t0 = time.perf_counter(); n = sum(len(i) for i, _, _ in loader); secs = time.perf_counter() - t0
        rec.add("encode", f"decoding and preprocessing alone, {workers} workers", dict(workers=workers, images=n),
                [metric("throughput", "images/s", n / secs)])
    except Exception as e:
        rec.add("encode", "decoding alone", {}, status="error", note=_err(e))


def _err(e) -> str: return f"{type(e).__name__}: {e}".splitlines()[0][:300]


class Data:
    "Synthetic CLIP-shaped features (make_bench_features), made once per (N, M, B) and reused by prefix."
    def __init__(self): self.cache = {}

    def get(self, n, m, b):
        import numpy as np
        from laic_nb.data import make_bench_features
        for (n0, m0, b0), f in self.cache.items():
            if n0 >= n and m0 >= m and b0 == b: return f["x"][:n], f["pt"][:, :m], f
        self.cache.clear()  # one set at a time: 1.28M x 512 floats are 2.6 GB
        t0 = time.perf_counter()
        f = make_bench_features(n, n_nouns=m, n_prompts=b, random_state=0)
        order = np.random.default_rng(0).permutation(n)  # the rows come sorted by cluster: a prefix must hold them all
        f["x"], f["y"] = f["x"][order], f["y"][order]
        f["seconds"] = time.perf_counter() - t0
        self.cache[(n, m, b)] = f
        return f["x"], f["pt"], f


def graph_prediction(n, m, b, dev, precision, rates, factor=1.0):
    "(flops, seconds, device bytes) of `ntk_topk` by the performance chapter's models, at the measured matmul rate."
    from laic_nb.performance import memory_model, flop_model
    from laic_nb.knn import _default_block
    from laic_nb.ntk import SEMANTIC_STORE_BYTES
    block = _default_block(n, dev)
    stored = 4 * b * n * m <= SEMANTIC_STORE_BYTES
    flops = flop_model(n, 512, m, b, block=None if stored else block)["total"]
    mem = memory_model(n, 512, m, knn=KNN, n_prompts=b, device=str(dev), block=block)["device_peak"]
    return flops, factor * flops / rates[precision], mem


def section_graph(rec, budget, dev, cfg, rates, data, peaks, mem_total):
    "The exact NTK top-q graph over the N x M x precision grid, cheapest first, while the budget lasts."
    from laic_nb.ntk import ntk_topk
    from laic_nb.scale import MODEL_RATES
    grid = sorted(((n, m, p) for n in cfg["graph_n"] for m in cfg["graph_m"] for p in ("float32", "bfloat16")),
                  key=lambda c: graph_prediction(*c[:2], 1, dev, c[2], rates)[1])
    factor = {"float32": 1.5, "bfloat16": 3.0}  # measured / model, updated after every run (starts as a guess)
    for n, m, prec in grid:
        params = dict(n=n, m=m, prompts=1, knn=KNN, precision=prec)
        name = f"N={n:,} M={m:,} {prec}"
        flops, secs_pred, mem_pred = graph_prediction(n, m, 1, dev, prec, rates, factor[prec])
        gen = 0 if any(k[0] >= n and k[1] >= m and k[2] == 1 for k in data.cache) else 1.6e-5 * n  # make_bench_features: about 0.3 s per 20k rows
        left = budget.left("graph")
        if secs_pred + gen > left:
            rec.add("graph", name, params, status="skipped", note=f"predicted {secs_pred + gen:.0f} s (kernel at {factor[prec]:.2g} x "
                    f"the flop model's time, data {gen:.0f} s) > {max(left, 0):.0f} s left in this section",
                    extra=dict(predicted_seconds=secs_pred, flops=flops)); continue
        if mem_total and mem_pred > 0.9 * mem_total:
            rec.add("graph", name, params, status="skipped", note=f"memory_model predicts {mem_pred / 1e9:.1f} GB > 90% of the card"); continue
        try:
            x, pt, f = data.get(n, max(cfg["graph_m"]), 1)
            t = pt[:, :m]
            ntk_topk(x[:min(n, 2048)], t, knn=KNN, device=dev, precision=prec)  # warm-up: kernels, numba
            base = gpu_peak_start(dev)
            t0 = time.perf_counter()
            ntk_topk(x, t, knn=KNN, device=dev, precision=prec)
            sync(dev); secs = time.perf_counter() - t0
            peak = gpu_peak_since(dev, base)
            model_s = flops / rates[prec]
            factor[prec] = max(secs / model_s, 1.0)
            ms = [metric("time", "s", secs, model_s, f"flop_model / measured {prec} matmul rate"),
                  metric("rate", "TFLOP/s", flops / secs / 1e12, rates[prec] / 1e12, f"measured {prec} matmul rate"),
                  metric("rate", "TFLOP/s", flops / secs / 1e12, MODEL_RATES[prec] / 1e12, f"scale.MODEL_RATES[{prec!r}] (scale_plan's assumption)")]
            if peaks: ms.append(metric("rate", "TFLOP/s", flops / secs / 1e12, peaks[prec] / 1e12, f"datasheet {prec} peak"))
            if peak is not None: ms.append(metric("peak device memory", "GB", peak / 1e9, mem_pred / 1e9, "memory_model device_peak"))
            rec.add("graph", name, params, ms, extra=dict(flops=flops, data_seconds=f.get("seconds")))
        except Exception as e:
            rec.add("graph", name, params, status="error", note=_err(e))
        if str(dev).startswith("cuda"):
            import torch; torch.cuda.empty_cache()


def _graphs(x, pt, dev, precision="float32"):
    from laic_nb.ntk import ntk_topk
    from laic_nb.knn import knn_graph
    idx, val = ntk_topk(x, pt, knn=KNN, device=dev, precision=precision)
    return [knn_graph(idx[b], val[b], "union") for b in range(len(pt))]


def section_rad(rec, budget, dev, cfg, rates, data, mem_total):
    "Dense RAD (A-hat N x N on the device) over B prompt graphs, against dense_rad_seconds and dense_rad_bytes."
    from laic_nb.rad import rad, dense_rad_seconds, dense_rad_bytes, sparse_dense_rate
    b = cfg["rad_b"]
    steps = 5 * (8 + 1)  # n_outer * (n_diffusion + 1): the most products per graph
    for n in cfg["rad_n"]:
        params = dict(n=n, prompts=b, m=cfg["pipe_m"], knn=KNN, mode="dense")
        name = f"dense RAD N={n:,} B={b}"
        need = dense_rad_bytes(n, dev)
        if mem_total and need > 0.85 * mem_total:
            rec.add("rad", name, params, status="skipped", note=f"dense_rad_bytes {need / 1e9:.0f} GB > 85% of the card"); continue
        try:
            x, pt, _ = data.get(n, cfg["pipe_m"], b)
            left = budget.left("rad")
            if left < 5: raise TimeoutError("the rad section's time budget is spent")
            graphs = _graphs(x, pt, dev)
            nnz = [g.nnz for g in graphs]
            pred = dense_rad_seconds(n, nnz, steps, dev)
            if pred > budget.left("rad"):
                rec.add("rad", name, params, status="skipped", note=f"dense_rad_seconds predicts {pred:.0f} s > "
                        f"{budget.left('rad'):.0f} s left", extra=dict(nnz=nnz)); continue
            os.environ["LAIC_DENSE_BUDGET_GB"] = str((mem_total or 8 * 2**30) * 0.9 / 2**30)
            base = gpu_peak_start(dev)
            t0 = time.perf_counter()
            res = rad(graphs, mode="dense", device=dev)
            sync(dev); secs = time.perf_counter() - t0
            peak = gpu_peak_since(dev, base)
            ms = [metric("time", "s", secs, pred, f"dense_rad_seconds (at the measured sparse x dense rate, {sparse_dense_rate(dev) / 1e9:.0f} G multiply-adds/s; {steps} products per graph at most)")]
            if peak is not None: ms.append(metric("peak device memory", "GB", peak / 1e9, need / 1e9, "dense_rad_bytes"))
            rec.add("rad", name, params, ms, extra=dict(nnz=nnz, beta=res.beta, diffusion_steps=len(res.changes), mode=res.mode))
        except Exception as e:
            rec.add("rad", name, params, status="skipped" if isinstance(e, TimeoutError) else "error", note=_err(e))
        if str(dev).startswith("cuda"):
            import torch; torch.cuda.empty_cache()


STEPS = ("_ntk_topk", "knn_graph", "_n_components", "rad", "_drop_diagonal", "_spectral_labels", "_vote")
STEP_NAMES = {"_ntk_topk": "NTK top-q lists (device)", "knn_graph": "kNN graphs (host)", "_n_components": "components",
              "rad": "RAD on the kNN pattern (host)", "_drop_diagonal": "drop diagonal", "_spectral_labels": "spectral step",
              "_vote": "vote"}


@contextlib.contextmanager
def timed_steps(dev, out: dict):
    "Wrap the steps `NTKSpectralClustering.fit` calls (names in laic_nb.cluster) with timers; out[step] = [seconds, host bytes]."
    from laic_nb import cluster
    saved = {s: getattr(cluster, s) for s in STEPS}
    def wrap(s, f):
        def g(*a, **kw):
            sync(dev); t0 = time.perf_counter()
            try: return f(*a, **kw)
            finally:
                sync(dev)
                e = out.setdefault(s, [0.0, 0])
                e[0] += time.perf_counter() - t0
        return g
    for s, f in saved.items(): setattr(cluster, s, wrap(s, f))
    try: yield out
    finally:
        for s, f in saved.items(): setattr(cluster, s, f)


def section_pipeline(rec, budget, dev, cfg, rates, data, mem_total):
    "The whole NTKSpectralClustering(variant='rad') at a small N, then at 1.28M with its steps predicted from the small run."
    from laic_nb.cluster import NTKSpectralClustering
    from laic_nb.metrics import evaluate
    from laic_nb.performance import memory_model
    b, m, k = cfg["rad_b"], cfg["pipe_m"], cfg["pipe_k"]
    small = None
    prec = "bfloat16" if str(dev).startswith("cuda") else "float32"
    for n in cfg["pipe_n"]:
        params = dict(n=n, prompts=b, m=m, k=k, knn=KNN, precision=prec, variant="rad", rad_mode="sparse")
        name = f"NTKSpectralClustering(variant='rad') N={n:,}"
        flops, kpred, dmem = graph_prediction(n, m, b, dev, prec, rates)
        hmodel = memory_model(n, 512, m, knn=KNN, n_prompts=b, n_clusters=k, device=str(dev))
        pred = {}
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
        if ram and hmodel["host_peak"] > 0.8 * ram:
            rec.add("pipeline", name, params, status="skipped", note=f"memory_model host_peak {hmodel['host_peak'] / 1e9:.0f} GB > "
                    f"80% of this host's {ram / 1e9:.0f} GB"); continue
        if small is not None:  # the small run's steps: the kernel scaled by flops, the host steps linearly in N
            s_n, s_steps, s_flops = small
            for s, (secs, _) in s_steps.items():
                pred[s] = secs * (flops / s_flops if s == "_ntk_topk" else n / s_n)
            gen = 2e-5 * n * 2
            if sum(pred.values()) + gen > budget.left("pipeline"):
                rec.add("pipeline", name, params, status="skipped", note=f"predicted {sum(pred.values()) + gen:.0f} s from the "
                        f"N={s_n:,} run > {max(budget.left('pipeline'), 0):.0f} s left",
                        extra=dict(predicted_steps={STEP_NAMES[s]: v for s, v in pred.items()})); continue
        try:
            x, pt, f = data.get(n, m, b)
            y = f["y"][:n]
            steps = {}
            base = gpu_peak_start(dev); rss_reset(); rss0 = rss("VmRSS")
            t0 = time.perf_counter()
            with timed_steps(dev, steps):
                est = NTKSpectralClustering(n_clusters=k, text_features=pt, variant="rad", device=dev, precision=prec,
                                            rad_mode="sparse").fit(x)
            secs = time.perf_counter() - t0
            peak, host = gpu_peak_since(dev, base), (rss() or 0) - (rss0 or 0)
            ms = [metric("total time", "s", secs, sum(pred.values()) or None, "sum of the step predictions" if pred else "")]
            for s, (v, _) in steps.items():
                model_name = ("kernel: flop ratio x the small run" if s == "_ntk_topk" else "linear in N from the small run") if pred else ""
                ms.append(metric(f"step: {STEP_NAMES[s]}", "s", v, pred.get(s), model_name))
            ms.append(metric("NTK top-q lists vs the flop model", "s", steps.get("_ntk_topk", [None])[0], kpred,
                             f"flop_model / measured {prec} matmul rate"))
            if peak is not None: ms.append(metric("peak device memory", "GB", peak / 1e9, dmem / 1e9, "memory_model device_peak"))
            ms.append(metric("host memory above the start", "GB", host / 1e9, hmodel["host_peak"] / 1e9, "memory_model host_peak"))
            quality = evaluate(y, est.labels_)
            rec.add("pipeline", name, params, ms, extra=dict(nmi_vs_planted=quality["nmi"], acc_vs_planted=quality["acc"],
                    rad_mode=est.rad_mode_, beta=est.beta_, n_voted=est.n_voted_, nnz=int(est.affinity_.nnz) if hasattr(est.affinity_, "nnz") else None,
                    data_seconds=f.get("seconds"), note_rad_1_28m="the RAD step of this run is the RAD measurement on the kNN pattern"))
            small = (n, steps, flops)
        except Exception as e:
            rec.add("pipeline", name, params, status="error", note=_err(e), extra=dict(trace=traceback.format_exc()[-2000:]))
        data.cache.clear()


def section_real(rec, budget, dev, cfg, real_data):
    "bench/real.py's real CLIP embeddings: NTK-SC (naive, RAD) on the device and on the CPU, labels compared."
    sys.path.insert(0, str(HERE))
    import real
    from laic_nb.cluster import NTKSpectralClustering
    from laic_nb.metrics import evaluate
    from sklearn.metrics import normalized_mutual_info_score as nmi
    root = real.data_root(real_data)
    if (why := real.missing(root)):
        rec.add("real", "real-embedding table", dict(root=str(root)), status="skipped", note=why); return
    vocab, sets = real.load_real(root, cfg["real_sets"])
    last = 1.0
    for name, ds in sets.items():
        for variant, t in (("naive", vocab.features), ("rad", vocab.in1k_prompts)):
            label = f"{name} {variant} (N={len(ds.features):,}, K={ds.k})"
            if budget.left("real") < 2 * last:
                rec.add("real", label, {}, status="skipped", note=f"{max(budget.left('real'), 0):.0f} s left in the real section, "
                        f"the last pair of fits took {last:.0f} s"); continue
            t_pair = time.perf_counter()
            try:
                out = {}
                for where in (dev, "cpu") if str(dev) != "cpu" else ("cpu",):
                    t0 = time.perf_counter()
                    est = NTKSpectralClustering(n_clusters=ds.k, text_features=t, variant=variant, device=where).fit(ds.features)
                    out[where] = (est.labels_, time.perf_counter() - t0)
                lab_d, s_d = out[dev]; lab_c, s_c = out["cpu"]
                ms = [metric("time on the device", "s", s_d, s_c, "the same fit on the CPU"),
                      metric("NMI device labels vs CPU labels", "", nmi(lab_c, lab_d), 1.0, "identical labels")]
                rec.add("real", label, dict(variant=variant, n=len(ds.features), k=ds.k), ms,
                        extra=dict(identical=bool((lab_c == lab_d).all()), nmi_truth_device=evaluate(ds.labels, lab_d)["nmi"],
                                   nmi_truth_cpu=evaluate(ds.labels, lab_c)["nmi"]))
            except Exception as e:
                rec.add("real", label, {}, status="error", note=_err(e))
            last = time.perf_counter() - t_pair


# --- main -----------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for the smoke run)")
    ap.add_argument("--tiny", action="store_true", help="toy sizes: the same code paths in under a minute on a CPU")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all measurements (default 420; tiny 55)")
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--wheels", default=str(ROOT / ".gpu-wheels"), help="folder of the wheels (see above)")
    ap.add_argument("--out", default=None, help="the JSON to write (default bench/results/{gpu|cpu}-<date>-<device>.json)")
    ap.add_argument("--commit", default=None, help="the commit the checkout is at (default: git rev-parse HEAD, where .git exists)")
    ap.add_argument("--real-data", default=None, help="folder of the real embeddings (default $LAIC_REAL_DATA or ../shared/data)")
    a = ap.parse_args(argv)
    t_start = time.perf_counter()
    wheels = prepare_wheels(a.wheels)
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    import torch
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"--device {a.device}: no CUDA device is visible (torch {torch.__version__}); use --device cpu --tiny for the smoke run",
              file=sys.stderr)
        return 2
    missing = {m: w for m, w in wheels.items() if w.startswith("MISSING")}
    cfg = TINY if a.tiny else FULL
    dev = a.device
    info = card(dev)
    date = datetime.datetime.now(datetime.timezone.utc)
    kind = "gpu" if info["kind"] == "cuda" else "cpu"
    part = "" if set(a.sections) == set(SECTIONS) else "-" + "-".join(a.sections)  # a partial run keeps the full run's file
    out = Path(a.out) if a.out else HERE / "results" / f"{kind}-{date:%Y-%m-%d}-{slug(info['name'])}{'-tiny' if a.tiny else ''}{part}.json"
    import laic_nb
    from laic_nb.performance import matmul_rate
    rates = {p: matmul_rate(dev, p, size=cfg["matmul"], repeats=5) for p in ("float32", "bfloat16")}
    meta = dict(schema=1, command="python bench/gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                date=date.isoformat(timespec="seconds"), tiny=a.tiny, kind=kind, device=info,
                torch=torch.__version__, python=platform.python_version(), host=dict(cpu=_cpu_name(), cores=os.cpu_count()),
                laic_nb=laic_nb.__version__, commit=_commit(a.commit), source_sha256=source_hash(), wheels=wheels,
                matmul_rate=rates, budget_s=a.budget or cfg["budget"],
                synthetic="every input except the 'real' section is synthetic (laic_nb.data.make_bench_features, random CLIP weights)")
    rec = Record(out, meta)
    rec.save()
    print(f"{info['name']} ({info['peak_source']}); torch {torch.__version__}; matmul {rates['float32'] / 1e12:.2f} TFLOP/s float32, "
          f"{rates['bfloat16'] / 1e12:.2f} bfloat16 (measured); writing {out}", flush=True)
    if missing: print("missing wheels: " + "; ".join(missing.values()), file=sys.stderr)
    budget = Budget(a.budget or cfg["budget"], cfg["shares"], a.sections)
    data, mem_total, peaks = Data(), info.get("memory_bytes"), info.get("peak_flops")
    runners = dict(encode=lambda: section_encode(rec, budget, dev, cfg, rates),
                   graph=lambda: section_graph(rec, budget, dev, cfg, rates, data, peaks, mem_total),
                   rad=lambda: section_rad(rec, budget, dev, cfg, rates, data, mem_total),
                   pipeline=lambda: section_pipeline(rec, budget, dev, cfg, rates, data, mem_total),
                   real=lambda: section_real(rec, budget, dev, cfg, a.real_data))
    for s in a.sections:
        t0 = time.perf_counter()
        if s == "encode" and "open_clip" in missing:
            rec.add(s, "CLIP encoding", {}, status="skipped", note=missing["open_clip"]); continue
        try: runners[s]()
        except Exception as e: rec.add(s, f"section {s}", {}, status="error", note=_err(e), extra=dict(trace=traceback.format_exc()[-2000:]))
        rec.data["sections"].setdefault(s, {})["seconds"] = time.perf_counter() - t0
        rec.save()
    rec.data["total_seconds"] = time.perf_counter() - t_start
    rec.save()
    rows = rec.data["measurements"]
    print(f"done in {rec.data['total_seconds']:.0f} s: {sum(r['status'] == 'ok' for r in rows)} measured, "
          f"{sum(r['status'] == 'skipped' for r in rows)} skipped, {sum(r['status'] == 'error' for r in rows)} errors -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
