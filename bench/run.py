"""Speed and scale benchmark of NTK spectral clustering (naive and RAD): this project's sparse path against the dense reference.

    .venv/bin/python bench/run.py                       # default sizes 2,500 / 10,000 / 20,000 / 60,000 (about 12 min, 2 cores)
    .venv/bin/python bench/run.py --bf16 --features     # also bfloat16 tile products and feature throughput
    .venv/bin/python bench/run.py --render-only         # rewrite results.md and scaling.png from results.json
    .venv/bin/python bench/run.py --quick               # a 2-minute smoke run
    .venv/bin/python bench/run.py --sizes 2500 10000 --out bench/results
    .venv/bin/python bench/run.py --device cuda --no-dense --sizes 60000 200000 1281167 --n-centers 4271 --bf16
                                                        # the GPU path up to ImageNet-1K size (M = 21,355 nouns)

Every measured case runs in a fresh Python process (`measure_call` of bench/harness.py), which reports the time of
the method itself and the process's absolute peak resident memory. Writes `results.json`, `results.md` and
`scaling.png` into `--out` and prints the markdown tables.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, subprocess, sys, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from harness import cpu_name, measure_call, save_bench_data  # noqa: E402  (bench/ is a folder of scripts, not a package)
CASES_PY = str(HERE / "cases.py")
FOOD101 = os.environ.get("LAIC_FOOD101", str(ROOT.parent / "shared" / "data" / "food101-clip-vitb32"))
CIFAR_JPEG = os.environ.get("LAIC_CIFAR10_JPEG", str(ROOT.parent / "shared" / "data" / "cifar10-test-jpeg"))

# Peak bytes of the dense reference per N^2 (measured; see the `calibration` printout of a run): used to skip sizes that do
# not fit the budget before trying them.
DENSE_BYTES_PER_N2 = {"dense_naive": 36.0, "dense_rad": 48.0}


def machine_info(device: str) -> dict:
    import torch, sklearn, scipy
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
            "platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__, "scipy": scipy.__version__,
            "sklearn": sklearn.__version__, "device": device}
    try:
        info["cpu"] = cpu_name()
        mem = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/meminfo")}
        info["ram_bytes"], info["ram_available_bytes"] = mem["MemTotal"], mem["MemAvailable"]
    except (OSError, StopIteration, KeyError): pass
    if device.startswith("cuda") and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"], info["gpu_memory_bytes"] = p.name, p.total_memory
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        info["git_dirty"] = subprocess.run(["git", "status", "--porcelain", "laic_nb", "bench"], cwd=ROOT, capture_output=True,
                                           text=True).stdout.split("\n")
    except OSError: pass
    return info


CODE_FILES = ("ntk", "spectral", "rad", "cluster", "performance")


def code_fingerprint() -> dict:
    "Short sha1 of the library modules a case runs and of the harness (others edit them while benchmarks run: record what was measured)."
    import hashlib
    out = {}
    for m, p in [(m, ROOT / "laic_nb" / f"{m}.py") for m in CODE_FILES] + [("harness", HERE / "harness.py")]:
        if p.exists(): out[m] = hashlib.sha1(p.read_bytes()).hexdigest()[:10]
    return out


def available_memory():
    try: return next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemAvailable"))
    except (OSError, StopIteration): return None


def load_average() -> list:
    try: return [float(v) for v in open("/proc/loadavg").read().split()[:3]]
    except OSError: return []


def other_busy_processes(threshold: float = 20.0) -> list:
    "Processes other than this run's using more than `threshold` % CPU right now (contention note)."
    try:
        out = subprocess.run(["ps", "-eo", "pid,ppid,pcpu,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout.splitlines()[1:]
    except OSError: return []
    me, busy = os.getpid(), []
    for line in out:
        pid, ppid, pcpu, comm = line.split(None, 3)
        if float(pcpu) >= threshold and int(pid) != me and int(ppid) != me: busy.append(f"{comm}({pcpu}%)")
    return busy


def fmt_s(v): return "-" if v is None else (f"{v:,.0f} s" if v >= 100 else f"{v:.1f} s" if v >= 1 else f"{v:.2f} s")
def fmt_gb(v): return "-" if v is None else f"{v / 1e9:.2f} GB"


class Bench:
    def __init__(self, args):
        self.args, self.out = args, Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "labels").mkdir(exist_ok=True)
        (self.out / "data").mkdir(exist_ok=True)
        self.rows, self.log = [], open(self.out / "log.txt", "a")

    def say(self, *a):
        msg = " ".join(str(x) for x in a)
        print(msg, flush=True)
        self.log.write(msg + "\n"); self.log.flush()

    def measure(self, target, kwargs, env=None, label=""):
        la0, code = load_average(), code_fingerprint()
        r = measure_call(target, kwargs, timeout=self.args.timeout, env=env)
        row = {"label": label, "load_before": la0, "load_after": load_average(), "wall_s": r["wall_s"],
               "peak_rss_bytes": r["peak_rss_bytes"], "ok": r["ok"], "code": code}
        if r["ok"]: row |= r["result"]
        else: row["error"] = r.get("error", "?") + ("\n" + r.get("traceback", r.get("stderr", "")))[-1500:]
        return row

    # --- synthetic scaling -------------------------------------------------------------------------------------
    def data_path(self, n):
        p = self.out / "data" / f"bench_n{n}_d{self.args.dim}_m{self.args.n_centers * 5}.npz"
        if not p.exists():
            t0 = time.perf_counter()
            save_bench_data(p, n, d=self.args.dim, n_clusters=self.args.n_clusters, n_centers=self.args.n_centers)
            self.say(f"  generated synthetic features N={n:,} in {time.perf_counter() - t0:.1f} s -> {p}")
        return p

    def skip_reason(self, case, n):
        a = self.args
        if case.startswith("dense"):
            if a.no_dense: return "skipped: --no-dense"
            need = DENSE_BYTES_PER_N2[case] * n * n
            if need > a.dense_budget_gb * 1e9:
                return f"skipped: needs ~{need / 1e9:.0f} GB (> budget {a.dense_budget_gb:.0f} GB)"
            avail = available_memory()
            if avail is not None and need > 0.85 * avail:  # never push the machine (and its other users) into the OOM killer
                return f"skipped: needs ~{need / 1e9:.0f} GB, only {avail / 1e9:.0f} GB available now"
            if case == "dense_rad" and n > a.dense_rad_max_n:
                prev = [r for r in self.rows if r.get("case") == case and r.get("ok")]
                est = f", est. {prev[-1]['seconds'] * (n / prev[-1]['n']) ** 2 / 60:,.0f} min" if prev else ""
                return f"skipped: N > --dense-rad-max-n {a.dense_rad_max_n}{est}"
        prev = [r for r in self.rows if r.get("case") == case and r.get("n", 0) < n]
        if prev and not prev[-1].get("ok") and not str(prev[-1].get("skipped", "")):
            return f"skipped: failed at N={prev[-1]['n']:,}"
        if prev and prev[-1].get("ok"):
            est = prev[-1]["seconds"] * (n / prev[-1]["n"]) ** (2.6 if case.startswith("dense") else 2.0)
            if est > a.timeout: return f"skipped: est. {est / 60:,.0f} min > --timeout {a.timeout / 60:.0f} min"
        return None

    def run_scaling(self):
        a = self.args
        cases = [c for c in ("idle", "sparse_naive", "sparse_naive_bf16", "dense_naive", "sparse_rad", "dense_rad") if c in a.cases]
        env = {"LAIC_DENSE_BUDGET_GB": str(a.dense_budget_gb / 1.073741824)}  # GB -> GiB as check_dense_budget reads it
        for n in a.sizes:
            self.say(f"\n== N = {n:,} ==")
            path = self.data_path(n)
            for case in cases:
                if case == "idle" and n != a.sizes[-1]: continue  # the memory floor, once at the largest N
                why = self.skip_reason(case, n)
                if why:
                    self.rows.append({"case": case, "n": n, "ok": False, "skipped": why}); self.say(f"  {case:13s} {why}")
                    continue
                kw = dict(case=case, data=str(path), n_clusters=a.n_clusters, device=a.device,
                          labels_out=str(self.out / "labels" / f"{case}_{n}.npy"))
                if a.profile and case.startswith("sparse"): kw["profile_out"] = str(self.out / f"profile_{case}_{n}.pstats")
                if case == "sparse_rad" or case == "dense_rad": kw["params"] = dict(a.rad_params)
                row = self.measure("harness:bench_case", kw, env=env, label=case)
                row.setdefault("case", case); row.setdefault("n", n)
                self.rows.append(row)
                if row["ok"]:
                    vt = row.get("vs_truth") or {}
                    self.say(f"  {case:13s} {fmt_s(row['seconds']):>9s} (cpu {fmt_s(row.get('cpu_seconds'))})  peak {fmt_gb(row['peak_rss_bytes']):>9s}"
                             + (f"  vs truth NMI {vt['nmi']:.3f} ACC {vt['acc']:.3f}" if vt else "")
                             + f"  load {row['load_before'][0] if row['load_before'] else '?'}  [{row.get('impl', '')}]")
                    if row.get("profile_top") and a.profile: (self.out / f"profile_{case}_{n}.txt").write_text(row["profile_top"])
                    if row.get("cuda_peak_bytes"): self.say(f"      CUDA peak allocated {fmt_gb(row['cuda_peak_bytes'])}")
                else: self.say(f"  {case:13s} FAILED: {row['error'][:600]}")
                self.save()

    def agreement(self, n, variant):
        from laic_nb.metrics import evaluate
        get = lambda c: next((r for r in self.rows if r.get("case") == c and r.get("n") == n and r.get("ok")), None)
        d, s = get(f"dense_{variant}"), get(f"sparse_{variant}")
        if not (d and s and d.get("labels") and s.get("labels")): return None
        return evaluate(np.load(d["labels"]), np.load(s["labels"]))

    # --- real features and throughput ----------------------------------------------------------------------
    def run_food101(self):
        if not Path(FOOD101, "test_features.npy").exists():
            self.say(f"\nFood-101 CLIP features not found at {FOOD101}: skipped (set LAIC_FOOD101)")
            self.rows.append({"case": "food101", "ok": False, "skipped": f"not found: {FOOD101}"})
            return
        self.say("\n== Food-101 CLIP ViT-B/32 features (real, 10 classes), image-only baselines ==")
        for split in ("test", "train"):
            for method in ("kmeans", "spectral"):
                row = self.measure(f"{CASES_PY}:food101_case", dict(path=FOOD101, split=split, method=method,
                                                                      n_seeds=self.args.food_seeds), label=f"food101_{method}")
                row.setdefault("case", f"food101_{method}")
                self.rows.append(row)
                if row["ok"]:
                    v, sd = row["vs_truth"], row["vs_truth_std"]
                    self.say(f"  {split:5s} {method:8s} N={row['n']:5d}  ACC {v['acc']:.3f}±{sd['acc']:.3f}  NMI {v['nmi']:.3f}±{sd['nmi']:.3f}"
                             f"  ARI {v['ari']:.3f}±{sd['ari']:.3f}  ({row['n_seeds']} seeds, {fmt_s(row['seconds'])}/run, peak {fmt_gb(row['peak_rss_bytes'])})")
                else: self.say(f"  {split} {method} FAILED: {row['error'][:600]}")
        self.save()

    def run_features(self):
        a = self.args
        if not Path(CIFAR_JPEG).exists():
            self.say(f"\nCIFAR-10 JPEGs not found at {CIFAR_JPEG}: feature throughput skipped (set LAIC_CIFAR10_JPEG)")
            return
        self.say("\n== Feature extraction throughput: open_clip, random weights (pretrained=None), real JPEGs with decoding ==")
        for model in a.models:
            precisions = ["fp32", "bf16"] if a.device.startswith("cuda") else ["fp32"]
            for prec in precisions:
                n_img = a.feature_images if model == "ViT-B-32" or a.device.startswith("cuda") else max(32, a.feature_images // 8)
                row = self.measure(f"{CASES_PY}:features_case", dict(image_dir=CIFAR_JPEG, model=model, n_images=n_img,
                                   batch_size=a.feature_batch, device=a.device, precision=prec,
                                   num_workers=a.feature_workers), label=f"features_{model}")
                row.setdefault("case", f"features_{model}")
                self.rows.append(row)
                if row["ok"]:
                    self.say(f"  {model:9s} {prec} {row['n_images']} images: {row['images_per_s']:.1f} images/s end to end "
                             f"({row['model_images_per_s']:.1f}/s in the model; decode+preprocess {row['decode_s']:.1f} s), "
                             f"{row['gflops_per_image']:.1f} GFLOP/image -> {row['achieved_gflops_per_s']:.0f} GFLOP/s achieved, "
                             f"{row['achieved_gflops_per_s'] / row['matmul_gflops_per_s']:.0%} of the device's measured "
                             f"{row['matmul_gflops_per_s']:.0f} GFLOP/s matmul rate")
                else: self.say(f"  {model} FAILED: {row['error'][:600]}")
        self.save()

    # --- output --------------------------------------------------------------------------------------------------
    def results(self):
        a = self.args
        agreement = {f"{v}_{n}": self.agreement(n, v) for n in a.sizes for v in ("naive", "rad")}
        command = getattr(self, "command", None) or " ".join([Path(sys.executable).name] + sys.argv)
        return {"machine": self.machine, "command": command, "args": vars(a),
                "memory_model": self.memory_model(), "rows": self.rows, "agreement": {k: v for k, v in agreement.items() if v},
                "contention": self.contention}

    def memory_model(self):
        from laic_nb.performance import memory_model
        a = self.args
        m = self.args.n_centers * 5
        return {str(n): {"naive": memory_model(n, a.dim, m, n_clusters=a.n_clusters, device=a.device)["total"],
                         "rad": memory_model(n, a.dim, m, n_prompts=7, n_clusters=a.n_clusters, device=a.device)["total"]}
                for n in a.sizes}

    def save(self):
        (self.out / "results.json").write_text(json.dumps(self.results(), indent=1, default=float))

    def table(self) -> str:
        a = self.args
        get = lambda c, n: next((r for r in self.rows if r.get("case") == c and r.get("n") == n), None)
        lines = []
        for v, name in (("naive", "NTK-SC naive"), ("rad", "NTK-SC RAD (7 prompt graphs)")):
            if f"sparse_{v}" not in a.cases and f"dense_{v}" not in a.cases: continue
            lines += [f"\n**{name}** (synthetic, d={a.dim}, M={a.n_centers * 5}, K={a.n_clusters}, q=30; device {a.device}; "
                      f"{self.machine.get('cpu', '?')}, {self.machine.get('cpu_count')} cores)\n",
                      "| N | dense time | dense peak RSS | sparse time | sparse peak RSS | speed-up (wall / CPU) | memory ratio | agreement NMI / ACC | sparse vs truth NMI |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for n in a.sizes:
                d, s = get(f"dense_{v}", n), get(f"sparse_{v}", n)
                def cell(r, key, f):
                    if r is None: return "-"
                    if r.get("ok"): return f(r[key])
                    return r.get("skipped") or ("failed: " + r.get("error", "?").splitlines()[0][:60])
                dt, dm = cell(d, "seconds", fmt_s), cell(d, "peak_rss_bytes", fmt_gb)
                if d is not None and not d.get("ok"): dm = ""
                st, sm = cell(s, "seconds", fmt_s), cell(s, "peak_rss_bytes", fmt_gb)
                if s is not None and not s.get("ok"): sm = ""
                ok = d and s and d.get("ok") and s.get("ok")
                sp = f"{d['seconds'] / s['seconds']:.1f}x / {d['cpu_seconds'] / s['cpu_seconds']:.1f}x" if ok else "-"
                mr = f"{d['peak_rss_bytes'] / s['peak_rss_bytes']:.1f}x" if ok else "-"
                ag = self.agreement(n, v)
                ag = f"{ag['nmi']:.3f} / {ag['acc']:.3f}" if ag else "-"
                vt = f"{s['vs_truth']['nmi']:.3f}" if s and s.get("ok") and s.get("vs_truth") else "-"
                lines.append(f"| {n:,} | {dt} | {dm} | {st} | {sm} | {sp} | {mr} | {ag} | {vt} |")
        bf16 = [r for r in self.rows if r.get("case") == "sparse_naive_bf16" and r.get("ok")]
        if bf16:
            from laic_nb.metrics import evaluate
            lines += [f"\n**Precision**: NTK-SC naive with the tile products from bfloat16 inputs against float32 (device {a.device})\n",
                      "| N | float32 time | bfloat16 time | agreement of the labels NMI / ACC | bfloat16 vs truth NMI |",
                      "|---:|---:|---:|---:|---:|"]
            for r in bf16:
                f = get("sparse_naive", r["n"])
                ag = evaluate(np.load(f["labels"]), np.load(r["labels"])) if f and f.get("ok") else None
                lines.append(f"| {r['n']:,} | {fmt_s(f['seconds']) if f and f.get('ok') else '-'} | {fmt_s(r['seconds'])} | "
                             + (f"{ag['nmi']:.3f} / {ag['acc']:.3f}" if ag else "-") + f" | {r['vs_truth']['nmi']:.3f} |")
        idle = next((r for r in self.rows if r.get("case") == "idle" and r.get("ok")), None)
        if idle: lines.append(f"\nMemory floor (interpreter + imports + features of N={idle['n']:,}, nothing run): {fmt_gb(idle['peak_rss_bytes'])}.")
        food = [r for r in self.rows if str(r.get("case", "")).startswith("food101_") and r.get("ok")]
        if food:
            lines += ["\n**Food-101 CLIP ViT-B/32 features** (real, 10 classes), image-only baselines\n",
                      "| split | N | method | ACC | NMI | ARI | time / run |", "|---|---:|---|---:|---:|---:|---:|"]
            for r in food:
                v = r["vs_truth"]
                lines.append(f"| {r['split']} | {r['n']} | {r['impl'].split('.')[-1]} | {v['acc']:.3f} | {v['nmi']:.3f} | {v['ari']:.3f} | {fmt_s(r['seconds'])} |")
        feats = [r for r in self.rows if str(r.get("case", "")).startswith("features_") and r.get("ok")]
        if feats:
            lines += ["\n**Feature extraction** (open_clip, random weights, CIFAR-10 test JPEGs decoded + preprocessed)\n",
                      "| model | device | precision | images | images/s end to end | images/s model only | GFLOP/image | achieved GFLOP/s | "
                      "matmul bound GFLOP/s | images/s at the bound |",
                      "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
            for r in feats:
                lines.append(f"| {r['model']} | {r['device']} | {r['precision']} | {r['n_images']} | {r['images_per_s']:.1f} | "
                             f"{r['model_images_per_s']:.1f} | {r['gflops_per_image']:.1f} | {r['achieved_gflops_per_s']:.0f} | "
                             + (f"{r['matmul_gflops_per_s']:.0f} | {r['matmul_gflops_per_s'] / r['gflops_per_image']:.1f} |"
                                if r.get("matmul_gflops_per_s") else "- | - |"))
        return "\n".join(lines)

    def plot(self):
        import matplotlib; matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        styles = {"dense_naive": ("C0", "--", "dense reference, naive"), "sparse_naive": ("C0", "-", "this project, naive"),
                  "dense_rad": ("C3", "--", "dense reference, RAD"), "sparse_rad": ("C3", "-", "this project, RAD")}
        for case, (c, ls, lab) in styles.items():
            rs = sorted((r for r in self.rows if r.get("case") == case and r.get("ok")), key=lambda r: r["n"])
            if not rs: continue
            ns = [r["n"] for r in rs]
            axes[0].plot(ns, [r["seconds"] for r in rs], ls, color=c, marker="o", label=lab)
            axes[1].plot(ns, [r["peak_rss_bytes"] / 1e9 for r in rs], ls, color=c, marker="o", label=lab)
        idle = next((r for r in self.rows if r.get("case") == "idle" and r.get("ok")), None)
        if idle: axes[1].axhline(idle["peak_rss_bytes"] / 1e9, color="gray", lw=0.8, ls=":", label="memory floor (imports + data)")
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
        sizes = sorted({r["n"] for r in self.rows if r.get("ok") and str(r.get("case")).startswith(("dense", "sparse"))})
        for ax, yl in zip(axes, ("time of the method (s)", "peak resident memory (GB)")):
            ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("N images"); ax.set_ylabel(yl); ax.grid(True, which="both", alpha=0.3)
            ax.xaxis.set_major_locator(FixedLocator(sizes)); ax.xaxis.set_minor_formatter(NullFormatter())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axes[0].legend(fontsize=8); axes[1].legend(fontsize=8)
        m = self.machine
        fig.suptitle(f"NTK-SC scaling, synthetic CLIP-shaped features (d={self.args.dim}, M={self.args.n_centers * 5}); "
                     f"{m.get('cpu', '?')}, {m.get('cpu_count')} cores, device {self.args.device}", fontsize=9)
        fig.tight_layout()
        fig.savefig(self.out / "scaling.png", dpi=120)
        plt.close(fig)

    def render(self):
        "Rewrite results.md and scaling.png from the results.json in --out (no case is rerun)."
        j = json.loads((self.out / "results.json").read_text())
        self.args = argparse.Namespace(**(j["args"] | {"out": str(self.out)}))
        self.rows, self.machine, self.contention, self.command = j["rows"], j["machine"], j["contention"], j["command"]
        self.finish()

    def finish(self):
        self.save()
        if any(r.get("case", "").startswith(("dense", "sparse")) and r.get("ok") for r in self.rows): self.plot()
        md = self.table()
        md += (f"\n\nCommand: `{self.results()['command']}`; total {self.contention['total_s'] / 60:.1f} min; "
               f"load average at start {self.contention['load_at_start']}, at end {self.contention['load_at_end']}.")
        (self.out / "results.md").write_text(md + "\n")
        self.say(md)

    def run(self):
        a = self.args
        if a.render_only: return self.render()
        self.machine = machine_info(a.device)
        self.contention = {"busy_at_start": other_busy_processes(), "load_at_start": load_average()}
        self.say(f"# bench/run.py {datetime.datetime.now():%Y-%m-%d %H:%M}: {self.machine.get('cpu', '?')}, {self.machine['cpu_count']} cores, "
                 f"{self.machine.get('ram_bytes', 0) / 2**30:.0f} GiB RAM, device {a.device}; load {self.contention['load_at_start']}; "
                 f"other busy processes: {', '.join(self.contention['busy_at_start']) or 'none'}")
        t0 = time.perf_counter()
        if a.sizes and a.cases: self.run_scaling()
        if not a.no_food101: self.run_food101()
        if a.features: self.run_features()
        self.contention |= {"busy_at_end": other_busy_processes(), "load_at_end": load_average(),
                            "total_s": time.perf_counter() - t0}
        self.finish()


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="*", default=None, help="N values (default 2500 10000 20000 60000)")
    p.add_argument("--out", default=str(HERE / "results"), help="output folder (default bench/results)")
    p.add_argument("--quick", action="store_true", help="small sizes, short limits: about 2 minutes")
    p.add_argument("--device", default="cpu", help="device of the sparse path: cpu or cuda")
    p.add_argument("--cases", nargs="*", default=["idle", "sparse_naive", "dense_naive", "sparse_rad", "dense_rad"])
    p.add_argument("--bf16", action="store_true", help="also run the naive path with bfloat16 tile products (case sparse_naive_bf16)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--n-centers", type=int, default=167, help="proxy centers; M = 5 x n_centers nouns (default 835)")
    p.add_argument("--n-clusters", type=int, default=10)
    p.add_argument("--dense-budget-gb", type=float, default=None,
                   help="largest dense reference to try, GB (default: 60%% of the available memory at start, at most 16)")
    p.add_argument("--dense-rad-max-n", type=int, default=5000, help="largest N for dense RAD (its time grows like N^2 to N^3)")
    p.add_argument("--no-dense", action="store_true", help="only this project's path")
    p.add_argument("--timeout", type=float, default=900, help="seconds per case; later sizes are skipped when predicted to exceed it")
    p.add_argument("--rad-params", type=json.loads, default={}, help='JSON dict passed to both RAD paths, e.g. \'{"n_outer": 5}\'')
    p.add_argument("--profile", action="store_true", help="cProfile the sparse cases; writes profile_*.txt/.pstats")
    p.add_argument("--no-food101", action="store_true")
    p.add_argument("--food-seeds", type=int, default=5)
    p.add_argument("--features", action="store_true", help="also measure feature-extraction throughput")
    p.add_argument("--render-only", action="store_true", help="only rewrite results.md and scaling.png from --out/results.json")
    p.add_argument("--models", nargs="*", default=["ViT-B-32", "ViT-L-14"])
    p.add_argument("--feature-images", type=int, default=256)
    p.add_argument("--feature-batch", type=int, default=64)
    p.add_argument("--feature-workers", type=int, default=0)
    a = p.parse_args(argv)
    if a.quick:
        a.sizes = a.sizes or [1000, 2500, 5000]
        a.timeout, a.dense_rad_max_n, a.food_seeds, a.feature_images = min(a.timeout, 60), min(a.dense_rad_max_n, 1000), 2, 64
        a.models = a.models[:1]
    a.sizes = sorted(a.sizes or [2500, 10000, 20000, 60000])
    if a.bf16 and "sparse_naive_bf16" not in a.cases: a.cases.append("sparse_naive_bf16")
    if a.dense_budget_gb is None:
        try: avail = next(int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.startswith("MemAvailable"))
        except (OSError, StopIteration): avail = 8e9
        a.dense_budget_gb = min(16.0, 0.6 * avail / 1e9)
    return a


if __name__ == "__main__":
    Bench(parse()).run()
