"""The benchmark harness: time and peak memory of one call in a fresh process, and the benchmark's cases.

Peak memory is only meaningful per process: Python rarely gives memory back to the operating system, so a second
measurement in the same process would inherit the first one's high-water mark. `measure_call` therefore runs one call
in a fresh Python process and reports that child's own peak resident set size. The figure is absolute: it includes the
interpreter, numpy, torch and scikit-learn and the input features; nothing is subtracted. The child also records its
CPU time (all threads): when other programs share the cores, wall time grows but CPU time much less.

One trap: on Linux a child started by fork + exec inherits its parent's high-water mark in `ru_maxrss`, so a small
child of a big parent (a notebook kernel holding a few GB) would report the parent's peak. The child therefore reads
its own `VmHWM` from /proc/self/status just before it exits, and that is the figure reported; `ru_maxrss` is kept as
`ru_maxrss_bytes` and used only where /proc does not exist.

`bench/run.py` drives the full benchmark with it; the performance chapter (nbs/30_performance.ipynb) runs a small
comparison. The dense references and the memory model the cases use are library code, in `laic_nb.performance`.
"""
from __future__ import annotations
import json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_MARK = "@@laic-result@@"
# The measured child: this folder goes at the END of its import path, so `harness` (and `cases`) import there without
# shadowing any other module; targets may then name this module as "harness:function".
_CHILD = f"import sys; sys.path.append({str(HERE)!r}); import harness; harness._child_main()"


def cpu_name() -> str:
    "The CPU's model name, as every benchmark report names its machine."
    try: return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration): return platform.processor() or platform.machine() or "unknown CPU"


def _resolve(target: str):
    import importlib, importlib.util
    mod, _, fn = target.rpartition(":")
    if not mod or not fn: raise ValueError(f"target must be 'package.module:function' or 'path/file.py:function', got {target!r}")
    if mod.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(mod).stem, mod)
        m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)
    else: m = importlib.import_module(mod)
    return getattr(m, fn)


def _child_main():
    "Entry point of the measured child process: call the target, print its JSON result after a marker."
    spec = json.loads(sys.argv[1])
    try: out = {"ok": True, "result": _resolve(spec["target"])(**spec["kwargs"])}
    except MemoryError as e: out = {"ok": False, "error": f"MemoryError: {e}"}
    except Exception as e:
        import traceback
        out = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}
    out["vmhwm_bytes"] = _vmhwm()
    print(_MARK + json.dumps(out, default=float), flush=True)


def _vmhwm():
    "Peak RSS of this process's own address space (Linux `VmHWM`), or None elsewhere."
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"): return int(line.split()[1]) * 1024
    except OSError: return None


def measure_call(
    target: str, # 'package.module:function', 'harness:function' or 'path/file.py:function'; it returns a JSON-able dict
    kwargs: dict | None = None, # JSON-able keyword arguments of the call
    timeout: float | None = None, # seconds before the child is killed (None: no limit)
    env: dict | None = None, # environment variables added to the child's
) -> dict: # `ok`, `result` (or `error`), `rc`, `wall_s`, `peak_rss_bytes` (the child's own peak) and `ru_maxrss_bytes`
    "Call `target` in a fresh Python process; add its wall time and peak resident memory."
    spec = json.dumps({"target": target, "kwargs": kwargs or {}})
    argv = [sys.executable, "-c", _CHILD, spec]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=None if env is None else {**os.environ, **env})
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid: break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                p.kill(); pid, status, ru = os.wait4(p.pid, 0); break
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
        wall = time.perf_counter() - t0
        out.seek(0); err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    res = {"ok": False, "error": f"the child process exited with code {p.returncode}"}
    if timeout is not None and wall > timeout: res["error"] = f"timed out after {timeout:.0f} s"
    for line in stdout.splitlines():
        if line.startswith(_MARK): res = json.loads(line[len(_MARK):])
    if not res["ok"] and "traceback" not in res and stderr: res["stderr"] = stderr[-2000:]
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    peak = res.pop("vmhwm_bytes", None) or int(ru.ru_maxrss) * scale
    return res | {"rc": p.returncode, "wall_s": wall, "peak_rss_bytes": peak, "ru_maxrss_bytes": int(ru.ru_maxrss) * scale}


def _alloc_probe(mb: int = 200) -> dict:
    "Allocate and touch `mb` MiB (a check for `measure_call`)."
    a = np.ones(mb * 2**20 // 8)
    return {"sum": float(a.sum())}


# Every case of the benchmark is one call of `bench_case` in a fresh process (through `measure_call`): it loads the
# features from an .npz of `laic_nb.data.make_bench_features`, times the method (input loading excluded), saves the
# labels (so the parent can compare the two paths) and returns the time and the labels' agreement with the planted
# clusters.
#   idle               nothing: the interpreter, the imports and the loaded features (the memory floor)
#   dense_naive        laic_nb.performance.dense_ntk_reference (dense kernel + scikit-learn)
#   sparse_naive       NTKSpectralClustering(variant="naive")
#   sparse_naive_bf16  the same with precision="bfloat16" (tile products from bfloat16 inputs)
#   dense_rad          laic_nb.performance.dense_rad_reference over the prompt graphs
#   sparse_rad         NTKSpectralClustering(variant="rad", rad_mode="sparse"); dense RAD is bench/rad.py's
BENCH_CASES = ("idle", "dense_naive", "sparse_naive", "sparse_naive_bf16", "dense_rad", "sparse_rad")


def save_bench_data(
    path, # the .npz file to write
    n: int, # N images
    d: int = 512, # feature dimension
    n_clusters: int = 10, # K planted clusters
    n_centers: int = 167, # proxy centers; the features have M = `per_center` x `n_centers` nouns (835 by default)
    per_center: int = 5, # nouns per proxy center
    random_state=0, # seed of `make_bench_features`
) -> Path: # `path`
    "Write the benchmark's synthetic features (`laic_nb.data.make_bench_features`, 7 prompts) to `path`."
    from laic_nb.data import make_bench_features
    np.savez(path, **make_bench_features(n, d, n_clusters, n_centers * per_center, random_state=random_state))
    return Path(path)


def _sparse_estimator(variant, n_clusters, t, pt, tau, knn, device, random_state, params):
    from laic_nb.cluster import NTKSpectralClustering
    return NTKSpectralClustering(n_clusters=n_clusters, text_features=pt if variant in ("rad", "pe") else t,
                                 variant=variant, tau=tau, knn=knn, device=device, random_state=random_state, **params)


def _estimator_name(est) -> str: return f"{type(est).__module__}.{type(est).__name__}"


def bench_case(
    case: str, # one of `BENCH_CASES`
    data, # an .npz path (from `save_bench_data`) or a dict with `x`, `t`, `pt`, `y`
    n_clusters: int = 10, # K
    tau: float = 0.04, # NTK temperature
    knn: int = 30, # q neighbours per image
    device: str = "cpu", # device of the sparse path
    random_state: int = 0, # seed of every method
    labels_out=None, # where to save the labels (.npy), for comparing two paths
    profile_out=None, # where to save a cProfile of the method (.pstats); its top lines come back as `profile_top`
    params: dict | None = None, # more keyword arguments of the method (RAD's `n_outer`, ...)
) -> dict: # `case`, `n`, `seconds`, `cpu_seconds`, `threads`, `impl` (what ran), `vs_truth` (metrics), `labels`
    "Run one benchmark `case` on the features in `data` and time it."
    import torch
    from laic_nb.metrics import evaluate
    from laic_nb.performance import dense_ntk_reference, dense_rad_reference
    if case not in BENCH_CASES: raise ValueError(f"case must be one of {BENCH_CASES}, got {case!r}")
    d = dict(np.load(data)) if isinstance(data, (str, Path)) else data
    x, t, pt, y = d["x"], d["t"], d["pt"], d["y"]
    params = dict(params or {})
    impl = "laic_nb.performance." + {"idle": "-", "dense_naive": "dense_ntk_reference", "dense_rad": "dense_rad_reference"}.get(case, "")
    if case == "idle": run = lambda: None
    elif case == "dense_naive": run = lambda: dense_ntk_reference(x, t, n_clusters, tau, knn, random_state)
    elif case == "dense_rad": run = lambda: dense_rad_reference(x, pt, n_clusters, tau, knn, random_state=random_state, **params)[0]
    else:
        if case.endswith("_bf16"): params["precision"] = "bfloat16"
        if case == "sparse_rad": params.setdefault("rad_mode", "sparse")  # the pattern path; dense RAD is bench/rad.py's
        est = _sparse_estimator(case.split("_")[1], n_clusters, t, pt, tau, knn, device, random_state, params)
        run = lambda: est.fit(x).labels_
        impl = _estimator_name(est)
    prof = None
    if profile_out:
        import cProfile; prof = cProfile.Profile()
    if device.startswith("cuda"): torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t0, c0 = time.perf_counter(), time.process_time()
    if prof: prof.enable()
    labels = run()
    if prof: prof.disable()
    if device.startswith("cuda"): torch.cuda.synchronize()
    out = {"case": case, "n": int(len(x)), "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
           "threads": torch.get_num_threads(), "impl": impl}
    if device.startswith("cuda"): out["cuda_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    if prof:
        import io, pstats
        prof.dump_stats(str(profile_out))
        s = io.StringIO(); pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
        out["profile_top"] = s.getvalue()[-6000:]
    if labels is not None:
        labels = np.asarray(labels)
        out |= {"vs_truth": evaluate(y, labels)}
        if labels_out: np.save(labels_out, labels); out["labels"] = str(labels_out)
    return out


def find_bench_results(
    path=None, # a results folder to use first
) -> Path | None: # the first of `path`, `$LAIC_BENCH_RESULTS`, `bench/results` above the cwd holding a results.json
    "The folder of the latest `bench/run.py` results, or None."
    cands = [path, os.environ.get("LAIC_BENCH_RESULTS")] + [p / "bench" / "results" for p in [Path.cwd(), *Path.cwd().parents]]
    for c in cands:
        if c and (Path(c) / "results.json").exists(): return Path(c)
    return None
