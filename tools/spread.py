"""Run chapters under several thread counts and CPU kernel settings; show how far each measured claim moves.

    .venv/bin/python tools/spread.py                         # the audited chapters, every setting below
    .venv/bin/python tools/spread.py 23_exp_prompts --settings native-1t avx2-1t
    .venv/bin/python tools/spread.py --list                  # the settings, and the kernels each one really gets

A chapter asserts a measured figure with `laic_nb.core.claim(name, value, op, bound)`. Here every chapter runs in a
fresh process, as `tools/book.py` runs it, with `LAIC_CLAIMS` naming a file: each claim is recorded there (value,
bound, margin, whether it held) instead of asserted. The table gives, per claim, its value under each setting, the
spread (largest minus smallest value) and the smallest margin; a claim is robust when its margin is well above the
spread. The exit status is 1 when a chapter fails or any claim does not hold under some setting (a *flip* when it
holds under another), so `tests/test_spread.py` can keep the chapters honest on CPUs the build machine is not.

The settings emulate other machines of this project's kind on this one. A 2-core AMD EPYC gets OpenBLAS's Zen
kernels, MKL's AVX2 code path, torch's AVX2 kernels, numba code and FAISS kernels without AVX-512 (`avx2-1t`); `sse-1t` goes one
step further down, a perturbation no real machine here would choose but a cheap test of how fragile a bound is.
This is a tool of the repository, not part of the `laic_nb` package.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/"tools")); sys.path.append(str(ROOT/"bench"))
import book  # noqa: E402  (the chapters run exactly as the book runs them)
from harness import cpu_name  # noqa: E402  (how every benchmark names its machine)

_AVX2 = dict(OPENBLAS_CORETYPE="Zen", MKL_ENABLE_INSTRUCTIONS="AVX2", ATEN_CPU_CAPABILITY="avx2",
             ONEDNN_MAX_CPU_ISA="AVX2", NUMBA_CPU_NAME="haswell", FAISS_SIMD_LEVEL="AVX2")
_SSE = dict(OPENBLAS_CORETYPE="Nehalem", MKL_ENABLE_INSTRUCTIONS="SSE4_2", ATEN_CPU_CAPABILITY="default",
            ONEDNN_MAX_CPU_ISA="SSE41", NUMBA_CPU_NAME="nehalem", FAISS_SIMD_LEVEL="NONE")
SETTINGS = {  # name -> (threads, environment); `native-1t` is how `make test` runs a chapter
    "native-1t": (1, {}),
    "native-2t": (2, {}),
    "avx2-1t": (1, _AVX2),
    "sse-1t": (1, _SSE),
}
AUDITED = ("12_selection", "13_cluster", "21_exp_paper_tables", "22_exp_ablations", "23_exp_prompts", "24_exp_auto_k",
           "25_exp_real", "30_performance", "31_scale")
# The audited chapters whose claims move with the CPU kernels: in the four-setting table (this tool, on the 2-core
# Intel Xeon of 2026-12-05) their smallest margin / spread is below 10 (12: 1, 25: 2.2, 23: 6.0, 22: 6.6). In the
# others every claim's value is the same to 1e-7 under AVX-512, AVX2 and SSE kernels and one or two threads (margin /
# spread above 2,000, or no spread at all), so rerunning them under AVX2 in every `make test` would only repeat the
# native run. `python tools/spread.py` still runs every audited chapter under every setting.
AT_RISK = ("12_selection", "22_exp_ablations", "23_exp_prompts", "25_exp_real")
_PROBE = """
import json, numba, threadpoolctl, torch
try: import faiss; faiss_level = faiss.SIMDConfig.get_level_name()
except ImportError: faiss_level = None
blas = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
print(json.dumps(dict(openblas=blas[0].get("architecture") if blas else None, torch=torch.backends.cpu.get_cpu_capability(),
                      numba=numba.config.CPU_NAME or "host", threads=torch.get_num_threads(), faiss=faiss_level)))
"""


def setting_env(
    name: str, # a key of `SETTINGS`
) -> dict: # the environment variables a child process gets for it
    "Threads and CPU kernel variables of setting `name`."
    threads, env = SETTINGS[name]
    return dict(env, **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")})


def probe(
    name: str, # a key of `SETTINGS`
) -> dict: # the kernels a child process really gets: OpenBLAS's core type, torch's CPU capability, numba's CPU
    "What the libraries report under setting `name` (so a setting that is silently ignored shows)."
    out = subprocess.run([sys.executable, "-c", _PROBE], env=dict(os.environ, **setting_env(name)),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_chapter(
    stem: str, # a chapter, `NN_name` without `.ipynb`
    setting: str, # a key of `SETTINGS`
    out: Path, # folder for the claims files
) -> dict: # `stem`, `setting`, `wall_s`, `claims` (the records), `error` (None, or the failure's last lines)
    "Execute chapter `stem` as the book does under `setting`, recording its claims instead of asserting them."
    log = out/f"{stem}.{setting}.jsonl"
    log.unlink(missing_ok=True)
    env = dict(setting_env(setting), LAIC_CLAIMS=str(log))
    t0, error = time.perf_counter(), None
    with tempfile.TemporaryDirectory() as tmp:
        try: book.make_page(ROOT/"nbs"/f"{stem}.ipynb", Path(tmp)/"page.ipynb", env=env)
        except RuntimeError as e: error = str(e)[-3000:]
    claims = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    return dict(stem=stem, setting=setting, wall_s=round(time.perf_counter() - t0, 1), claims=claims, error=error)


def spread_table(
    runs: list, # results of `run_chapter`
    settings: list, # the settings, in column order
) -> tuple[str, list]: # (a Markdown table, the problems found: failed chapters, claims that did not hold or went missing)
    "One row per claim: the value under each setting, the bound, the spread and the smallest margin."
    problems, rows = [], {}
    for r in runs:
        if r["error"]: problems.append(f"{r['stem']} failed under {r['setting']}:\n{r['error']}")
        for c in r["claims"]:
            rows.setdefault((r["stem"], c["name"]), {})[r["setting"]] = c
    fmt = lambda v: f"{v:.4g}"
    lines = ["| chapter | claim | bound | " + " | ".join(settings) + " | spread | min margin | margin / spread |",
             "|---" * (len(settings) + 6) + "|"]
    for (stem, name), by in rows.items():
        got = [by[s] for s in settings if s in by]
        vals = [c["value"] for c in got]
        spread, margin = max(vals) - min(vals), min(c["margin"] for c in got)
        ratio = ("exact" if got[0]["op"] == "==" else "inf" if spread == 0 and margin > 0
                 else f"{margin / spread:.3g}" if spread else "-")
        cells = [("**" + fmt(by[s]["value"]) + " (fails)**" if not by[s]["ok"] else fmt(by[s]["value"])) if s in by else "missing"
                 for s in settings]
        lines.append(f"| {stem} | {name} | {got[0]['op']} {fmt(got[0]['bound'])} | " + " | ".join(cells)
                     + f" | {fmt(spread)} | {fmt(margin)} | {ratio} |")
        problems += [f"{stem}: claim '{name}' does not hold under {s} ({fmt(by[s]['value'])} {by[s]['op']} {fmt(by[s]['bound'])})"
                     for s in settings if s in by and not by[s]["ok"]]
        missing = [s for s in settings if s not in by]
        if missing and any(r["stem"] == stem and r["setting"] in missing and not r["error"] for r in runs):
            problems.append(f"{stem}: claim '{name}' was not reached under {', '.join(missing)}")
    return "\n".join(lines), problems


def spread(
    chapters=AUDITED, # chapter stems
    settings=tuple(SETTINGS), # keys of `SETTINGS`
    out=None, # folder for claims files and `spread.md` (default: .cache/spread/)
    workers: int | None = None, # chapters run at once (default: one per core)
    quiet: bool = False, # True: print nothing
) -> tuple[str, list]: # as `spread_table`
    "Run `chapters` under every setting; return the table of claims and the problems found (also written to `out/spread.md`)."
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown: raise SystemExit(f"unknown setting(s) {unknown}: choose from {list(SETTINGS)}")
    missing = [c for c in chapters if not (ROOT/"nbs"/f"{c}.ipynb").is_file()]
    if missing: raise SystemExit(f"no chapter {missing} in nbs/: pass stems such as 23_exp_prompts")
    out = Path(out or ROOT/".cache"/"spread"); out.mkdir(parents=True, exist_ok=True)
    kernels = {s: probe(s) for s in settings}
    jobs = sorted(((c, s) for c in chapters for s in settings), key=lambda j: SETTINGS[j[1]][0])  # 2-thread runs last
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    def one(job):
        r = run_chapter(*job, out)
        if not quiet: print(f"{r['stem']} under {r['setting']}: {r['wall_s']} s, {len(r['claims'])} claims"
                            + (", FAILED" if r["error"] else ""), flush=True)
        return r
    with ThreadPoolExecutor(workers or cpus) as pool: runs = list(pool.map(one, jobs))
    table, problems = spread_table(runs, list(settings))
    head = f"Claims under {len(settings)} settings on {cpu_name()} ({cpus} cores)\n\n" + "\n".join(
        f"- `{s}`: {SETTINGS[s][0]} thread(s), OpenBLAS {k['openblas']}, torch {k['torch']}, numba {k['numba']}, FAISS {k['faiss']}"
        for s, k in kernels.items())
    (out/"spread.md").write_text(head + "\n\n" + table + "\n\n" + "\n".join(f"- {p}" for p in problems) + "\n")
    if not quiet: print(head + "\n\n" + table + ("\n\nProblems:\n" + "\n".join(problems) if problems else "\n\nEvery claim held."))
    return table, problems


def main(argv=None):
    ap = argparse.ArgumentParser(prog="tools/spread.py", description=__doc__.split("\n\n")[0].strip().splitlines()[-1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chapters", nargs="*", default=list(AUDITED), help="chapter stems (default: the audited chapters)")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), help=f"from {list(SETTINGS)} (default: all)")
    ap.add_argument("--out", default=None, help="folder for claims files and spread.md (default: .cache/spread/)")
    ap.add_argument("--workers", type=int, default=None, help="chapters run at once (default: one per core)")
    ap.add_argument("--list", action="store_true", help="print the settings and the kernels each gets, then stop")
    a = ap.parse_args(argv)
    if a.list:
        for s in SETTINGS: print(s, setting_env(s), probe(s))
        return 0
    return 1 if spread(a.chapters, a.settings, a.out, a.workers)[1] else 0


if __name__ == "__main__":
    sys.exit(main())
