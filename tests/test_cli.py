"""The `laic` command: outputs of `laic cluster`, unreadable files, stratified --limit, bad input
(one line, exit code 2), `laic bench --dry-run` offline, and a quick `laic demo`.

Everything runs on small generated folders with the tiny random-weights model `laic-tiny`;
nothing reads ../shared or the network. Most calls run `main` in-process (`run_cli`);
two go through the installed console script to check what a user sees."""
import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import laic_cmd
from laic_nb.cli import run_cli
from laic_nb.report import LABELS_COLUMNS

TINY = ["--model", "laic-tiny", "--pretrained", "none", "--nouns", "40", "--quiet"]


@pytest.fixture(scope="module")
def folder(image_folder):
    "Three colour classes of 8 JPEGs (conftest's `image_folder`), plus a truncated JPEG and a text file."
    root = image_folder(["red", "green", "blue"], 8, ".jpg")
    (root / "blue" / "truncated.jpg").write_bytes((root / "blue" / "00.jpg").read_bytes()[:150])
    (root / "red" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_cluster_writes_outputs_and_lists_skipped(folder, cache, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli("cluster", folder, "--k", "3", "--method", "tac-notrain", "--out", out, "--cache", cache, *TINY)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} >= {"labels.csv", "report.json", "clusters.png", "config.toml"}
    rep = json.loads((out / "report.json").read_text())
    assert rep["weights"] == "random" and rep["random_weights"] is True
    assert rep["n_images_clustered"] == 24 and rep["n_skipped"] == 2
    assert sorted(Path(s["path"]).name for s in rep["skipped"]) == ["notes.txt", "truncated.jpg"]
    assert set(rep["timings_s"]) >= {"scan", "load_model", "image_features", "vocabulary", "cluster", "write", "total"}
    assert rep["versions"]["torch"] and rep["k_used"] == 3 and rep["config"]["method"] == "tac-notrain"
    assert -1 <= rep["label_free"]["features"]["silhouette"] <= 1 and rep["metrics"]["acc"] >= 0
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert len(rows) == 24 and tuple(rows[0]) == LABELS_COLUMNS
    assert not any("truncated" in r["path"] or "notes" in r["path"] for r in rows)
    assert all(r["cluster_name"] for r in rows)
    assert err.count("laic: warning:") == 1 and "truncated.jpg" in err and "notes.txt" in err
    assert "RANDOM weights" in err


def test_limit_is_stratified_and_seeded(folder, cache, tmp_path):
    paths = []
    for run in range(2):
        out = tmp_path / f"o{run}"
        code, _, err = run_cli("cluster", folder, "--k", "2", "--method", "tac-notrain", "--limit", "6", "--seed", "3",
                               "--out", out, "--cache", cache, "--no-figure", *TINY)
        assert code == 0, err
        paths.append([r["path"] for r in csv.DictReader(open(out / "labels.csv"))])
    # 6 files drawn 2 per class folder (seeded); the truncated JPEG may be among them and is then skipped
    assert paths[0] == paths[1] and len(paths[0]) in (5, 6)
    assert {Path(p).parent.name for p in paths[0]} == {"red", "green", "blue"}


def test_k_auto_and_zeroshot(folder, cache, tmp_path):
    code, _, err = run_cli("cluster", folder, "--k", "auto", "--method", "relational", "--out", tmp_path / "a",
                           "--cache", cache, "--no-figure", *TINY)
    assert code == 0, err
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["config"]["k"] == "auto" and 2 <= rep["k_used"] == rep["config"]["k_used"] <= 20
    code, _, err = run_cli("cluster", folder, "--method", "zeroshot", "--out", tmp_path / "z", "--cache", cache,
                           "--no-figure", *TINY)
    assert code == 0, err
    rep = json.loads((tmp_path / "z" / "report.json").read_text())
    assert rep["unsupervised"] is False and "not an unsupervised result" in rep["metrics_note"]
    assert {c["name"] for c in rep["clusters"]} <= {"red", "green", "blue"}


@pytest.mark.parametrize("case", ["missing folder", "empty folder", "k=1", "k>images", "k not a number",
                                  "unknown method", "unknown model", "unknown option", "bad nouns file"])
def test_bad_input_is_one_line_exit_2(case, folder, tmp_path):
    (tmp_path / "empty").mkdir()
    argv = {"missing folder": ["cluster", tmp_path / "nope", "--k", "3"],
            "empty folder": ["cluster", tmp_path / "empty", "--k", "3"],
            "k=1": ["cluster", folder, "--k", "1"],
            "k>images": ["cluster", folder, "--k", "1000"],
            "k not a number": ["cluster", folder, "--k", "many"],
            "unknown method": ["cluster", folder, "--method", "dbscan"],
            "unknown model": ["cluster", folder, "--model", "ViT-Q-99"],
            "unknown option": ["cluster", folder, "--colour", "red"],
            "bad nouns file": ["cluster", folder, "--k", "3", "--out", tmp_path / "o", "--nouns", tmp_path / "none.txt",
                               "--model", "laic-tiny", "--pretrained", "none", "--quiet", "--no-cache"]}[case]
    code, out, err = run_cli(*argv)
    assert code == 2, (out, err)
    assert err.startswith("laic: error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_console_script_bad_input_and_dry_run(tmp_path):
    "Through the installed `laic` script: a one-line error with exit 2, and an offline benchmark plan."
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    res = subprocess.run(laic_cmd("cluster", tmp_path / "missing", "--k", "10"), capture_output=True, text=True,
                         timeout=300, env=env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("laic: error:"), res.stderr
    res = subprocess.run(laic_cmd("bench", "--dataset", "cifar10", "stl10", "--methods", "ntk-rad", "kmeans",
                                  "--seeds", "0", "1", "2", "--dry-run"), capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    for needle in ("cifar10", "stl10", "CIFAR-10 python archive", "STL-10", "ViT-B-32", "openai", "ntk-rad, kmeans", "0 1 2"):
        assert needle in res.stdout, needle


def test_features_then_cluster_reuses_the_cache(folder, tmp_path):
    cache = tmp_path / "c"
    code, out, err = run_cli("features", folder, "--model", "laic-tiny", "--pretrained", "none", "--cache", cache,
                             "--nouns", "40", "--quiet")
    assert code == 0, err
    assert "0 of 1 chunks from the cache" in out and "40 nouns encoded" in out and "2 skipped" in out
    code, _, err = run_cli("cluster", folder, "--k", "3", "--method", "tac-notrain", "--out", tmp_path / "o",
                           "--cache", cache, "--no-figure", *TINY)
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert code == 0 and rep["cache"]["chunks_from_cache"] == rep["cache"]["chunks_total"] == 1


def test_demo_quick(folder, tmp_path):
    code, out, err = run_cli("demo", "--images", folder, "--limit", "12", "--k", "3", "--nouns", "30", "--seeds", "1",
                             "--methods", "tac-notrain", "ntk-naive", "zeroshot", "--model", "laic-tiny", "--pretrained", "none",
                             "--out", tmp_path / "demo", "--cache", tmp_path / "c")
    assert code == 0, err
    assert "RANDOM weights" in out and "SYNTHETIC" in out and "ntk-naive" in out and "method ntk-rad" in out
    assert (tmp_path / "demo" / "real" / "report.json").exists() and (tmp_path / "demo" / "synthetic.md").exists()


def _colour_split(n_per_class, seed, k=10):
    "k classes of 32 x 32 images, each a planted colour plus noise: a stand-in for a benchmark split."
    from laic_nb.images import ArrayImages
    base = np.random.default_rng(7).integers(30, 226, (k, 3))
    labels = np.repeat(np.arange(k), n_per_class)
    noise = np.random.default_rng(seed).normal(0, 20, (len(labels), 32, 32, 3))
    return ArrayImages(np.clip(base[labels][:, None, None] + noise, 0, 255).astype(np.uint8), labels, name=f"colours-{seed}")


@pytest.fixture
def offline_cifar10(monkeypatch):
    "`load_dataset` replaced by generated colour images (40 train, 30 test) under the name cifar10; records the splits asked for."
    import laic_nb.datasets
    splits, calls = {"train": _colour_split(4, 0), "test": _colour_split(3, 1)}, []
    def fake(name, split="test", **kw):
        calls.append((name, split))
        return splits[split]
    monkeypatch.setattr(laic_nb.datasets, "load_dataset", fake)
    return calls


def test_bench_report_protocol_offline(offline_cifar10, tmp_path):
    "The second paper fits on train and evaluates on test; report.json says so per method, with the centers' mode."
    import laic_nb.features
    encoded = []
    real_extract = laic_nb.features.extract_image_features
    def spy(clip, data, *a, split=None, **kw):
        r = real_extract(clip, data, *a, split=split, **kw)
        encoded.append((split, len(r.features)))
        return r
    out = tmp_path / "bench" / "cifar10.md"
    common = ["bench", "--dataset", "cifar10", "--seeds", "0", "1", "--model", "laic-tiny", "--pretrained", "none",
              "--nouns", "40", "--cache", tmp_path / "cache", "--out", out, "--quiet"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(laic_nb.features, "extract_image_features", spy)
        code, stdout, err = run_cli(*common, "--methods", "kmeans", "tac-notrain", "relational", "centers",
                                    "--centers-mode", "features")
    assert code == 0, err
    assert offline_cifar10 == [("cifar10", "train"), ("cifar10", "test")]
    assert encoded == [("train", 40), ("test", 30)]  # both splits are encoded
    rep = json.loads((out.parent / "report.json").read_text())
    assert rep["kind"] == "laic bench report" and rep["versions"]["torch"]
    entry = rep["datasets"]["cifar10"]
    assert (entry["n_train"], entry["n_test"], entry["weights"], entry["table"]) == (40, 30, "random", str(out))
    m = entry["methods"]
    splits = {k: (v["noun_selection_split"], v["fit_split"], v["eval_split"]) for k, v in m.items()}
    assert splits == {"kmeans": (None, "test", "test"), "tac-notrain": ("train", "test", "test"),
                      "relational": ("train", "train", "test"), "centers": ("train", "train", "test")}
    assert m["centers"]["mode"] == "features"
    assert m["centers"]["mode_label"] == "feature mode (CPU approximation: Gaussian feature noise as the strong view)"
    for k in ("relational", "centers"):  # fitted on the 40 training images, evaluated on the 30 test images, per seed
        assert [(s["n_fit"], s["n_eval"]) for s in m[k]["per_seed"]] == [(40, 30), (40, 30)]
    assert len(m["centers"]["runs"]) == 2 and set(m["centers"]["metrics"]["mean"]) == {"nmi", "acc", "ari"}
    table = out.read_text()
    assert "feature mode (CPU approximation: Gaussian feature noise as the strong view)" in table and "train / test" in table
    # the default, auto, trains the centers on the training images; the entry for cifar10 is replaced, the file kept
    code, _, err = run_cli(*common, "--methods", "centers", "--seeds", "0")
    assert code == 0, err
    entry = json.loads((out.parent / "report.json").read_text())["datasets"]["cifar10"]
    assert list(entry["methods"]) == ["centers"] and entry["methods"]["centers"]["mode"] == "images"
    assert entry["methods"]["centers"]["per_seed"][0]["n_fit"] == 40
    assert "image mode" in out.read_text()


def test_bench_bad_input_is_one_line(offline_cifar10, tmp_path):
    (tmp_path / "report.json").write_text('{"something": "else"}')
    for argv in (["--centers-mode", "pixels"], ["--out", tmp_path / "t.md"]):
        code, out, err = run_cli("bench", "--dataset", "cifar10", "--methods", "kmeans", "--model", "laic-tiny",
                                 "--pretrained", "none", "--nouns", "40", "--quiet", *argv)
        assert code == 2 and err.startswith("laic: error:") and len(err.strip().splitlines()) == 1, err
    assert "not a laic bench report" in err and offline_cifar10 == []  # refused before anything was loaded


def test_config_toml_reruns_the_run(folder, cache, tmp_path):
    "The resolved config.toml reruns the same run (q adapted to a tiny folder is recorded as run), overrides apply."
    a, b = tmp_path / "a", tmp_path / "b"
    code, _, err = run_cli("cluster", folder, "--k", "3", "--method", "ntk-pe", "--set", "params.tau=auto",
                           "--set", "noun_selection.per_center=3", "--out", a, "--cache", cache, "--no-figure", *TINY)
    assert code == 0, err
    code, _, err = run_cli("cluster", "--config", a / "config.toml", "--out", b, "--quiet", "--no-figure")
    assert code == 0, err
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    assert ra["config"] == rb["config"] and ra["config"]["params"]["knn"] == 23  # 24 readable images: q = N - 1
    assert (a / "labels.csv").read_text() == (b / "labels.csv").read_text()
    code, _, err = run_cli("cluster", "--config", a / "config.toml", "--set", "params.knn=10", "--out", tmp_path / "c", "--quiet",
                           "--no-figure")
    assert code == 0 and json.loads((tmp_path / "c" / "report.json").read_text())["config"]["params"]["knn"] == 10, err
