"""`bench/gpu.py`, the prepared GPU run, kept from rotting on a CPU: `--device cpu --tiny` runs every section's code
at toy sizes in a fresh process (the real-embedding section on a generated stand-in of bench/real.py's data), writes
its JSON, and the performance chapter's `render_gpu_results` renders it as a CPU smoke run. Also: `--help` tells how to
prepare the wheels, and a wheel's tags are matched to the interpreter as pip would.

No network: the child process gets proxies nobody listens on and the hub libraries' offline switches."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "gpu.py"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def fake_real_data(root: Path):
    "bench/real.py's layout with random unit vectors: 1,100 names (the first 1,000 'ImageNet' ones, two prompts), 120 DTD images."
    rng = np.random.default_rng(0)
    unit = lambda *s: (lambda a: (a / np.linalg.norm(a, axis=-1, keepdims=True)).astype(np.float16))(rng.standard_normal(s))
    base = root / "clip-vitb32-real"
    base.mkdir(parents=True)
    names = np.array([f"name {i}" for i in range(1100)])
    np.savez(base / "text_vocab.npz", names=names, source=np.array(["in1k"] * 1000 + ["lvis"] * 100),
             features=unit(1100, 512), in1k_photo_features=unit(1000, 512))
    np.savez(base / "images_dev.npz", dtd_features=unit(120, 512), dtd_labels=np.repeat(np.arange(4), 30),
             dtd_classnames=np.array(["a", "b", "c", "d"]))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    "One `--device cpu --tiny` run: (the JSON, seconds, stdout)."
    tmp = tmp_path_factory.mktemp("gpu")
    fake_real_data(tmp / "real")
    out = tmp / "cpu-tiny.json"
    env = dict(os.environ, **OFFLINE, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(out), "--budget", "150",
                          "--real-data", str(tmp / "real")], capture_output=True, text=True, env=env, cwd=tmp, timeout=300)
    secs = time.perf_counter() - t0
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(out.read_text()), secs, res.stdout


def test_tiny_run_measures_every_section(tiny_run):
    r, secs, stdout = tiny_run
    assert (r["kind"], r["tiny"], r["device"]["kind"]) == ("cpu", True, "cpu")
    assert {"date", "torch", "commit", "source_sha256", "matmul_rate", "wheels"} <= set(r)
    rows = r["measurements"]
    assert [x for x in rows if x["status"] == "error"] == [], [x["note"] for x in rows if x["status"] == "error"]
    for section in ("encode", "graph", "rad", "pipeline", "real"):
        assert any(x["section"] == section and x["status"] == "ok" for x in rows), (section, stdout[-2000:])
    graph = [x for x in rows if x["section"] == "graph" and x["status"] == "ok"]
    assert {x["params"]["precision"] for x in graph} == {"float32", "bfloat16"}
    for x in graph:  # each measurement beside its model, with the ratio
        q = {m["quantity"]: m for m in x["metrics"]}
        assert q["time"]["model"] > 0 and q["time"]["ratio"] == pytest.approx(q["time"]["measured"] / q["time"]["model"])
    pipe = [x for x in rows if x["section"] == "pipeline" and x["status"] == "ok"]
    assert len(pipe) == 2 and pipe[-1]["extra"]["rad_mode"] == "sparse"  # RAD on the kNN pattern, as at 1.28M
    steps = [m for m in pipe[-1]["metrics"] if m["quantity"].startswith("step: ")]
    assert {m["quantity"] for m in steps} >= {"step: NTK top-q lists (device)", "step: RAD on the kNN pattern (host)", "step: spectral step"}
    assert all(m["model"] for m in steps)  # the large run's steps are predicted from the small one
    real = [x for x in rows if x["section"] == "real" and x["status"] == "ok"]
    assert {x["params"]["variant"] for x in real} == {"naive", "rad"}


def test_tiny_run_is_quick(tiny_run):
    "Under a minute of the script's own time on a 2-core machine (the interpreter's start and imports included)."
    r, secs, _ = tiny_run
    assert r["total_seconds"] < 60, r["total_seconds"]


def test_renders_as_a_cpu_smoke_run(tiny_run):
    from laic_nb.performance import render_gpu_results
    md, fig = render_gpu_results(tiny_run[0])
    assert md.startswith("**CPU smoke run at toy sizes (not a GPU measurement)**")
    assert "| measurement | quantity | measured | model | ratio | model source |" in md and "*pipeline*" in md
    assert "CPU smoke run" in fig.axes[0].get_title()
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_help_says_how_to_prepare_the_wheels():
    res = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for s in ("pip download --no-deps -d .gpu-wheels open_clip_torch==3.3.0", "regex==2026.12.2", "5.8 MB", "--tiny",
              "gpu-<date>-<device>.json", "torch is never touched"):
        assert s in res.stdout, s
    lock = (REPO / "requirements-lock.txt").read_text()
    for pin in ("open_clip_torch==3.3.0", "ftfy==6.3.1", "tqdm==4.70.1", "wcwidth==0.9.5", "regex==2026.12.2"):
        assert pin in lock and pin in res.stdout, pin  # the wheels are the tested versions


def test_wheel_tags_match_the_interpreter():
    sys.path.insert(0, str(REPO / "bench"))
    try: import gpu
    finally: sys.path.remove(str(REPO / "bench"))
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert gpu._wheel_fits("tqdm-4.70.1-py3-none-any.whl")
    assert gpu._wheel_fits(f"regex-2026.12.2-{here}-{here}-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    assert not gpu._wheel_fits("regex-2026.12.2-cp39-cp39-manylinux2014_x86_64.whl")
    assert gpu._wheel_fits("wcwidth-0.9.5-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    assert not gpu._wheel_fits("wcwidth-0.9.5-cp399-abi3-manylinux2014_x86_64.whl")
