"""Runs that load back (issue 22): `laic cluster` on one half of a generated image folder, `laic predict` on the other
half, a round of `laic edit` and `--undo`, all through the real console script and read back from the files; a run
folder whose state carries a pickle or an unexpected key, or that was made with another model, is refused in one line.
Tiny random-weights model (the clusters test the plumbing, not the method), generated images; no network, no ../shared."""
import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import laic_cmd

TINY = ["--model", "laic-tiny", "--pretrained", "none"]


def laic(*args, ok=True):
    "`laic ARGS` in this process (`cli.run_cli`: fast); the fixture's `laic cluster` goes through the real console script."
    from types import SimpleNamespace
    from laic_nb.cli import run_cli
    code, out, err = run_cli(*args)
    if ok: assert code == 0, err
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def rows(folder):
    return list(csv.DictReader((Path(folder) / "labels.csv").open(encoding="utf-8")))


@pytest.fixture(scope="module")
def halves(image_folder, tmp_path_factory):
    "Two disjoint halves of one generated folder (4 colour classes), the first clustered with kmeans K=4."
    full = image_folder(["red", "green", "blue", "cyan"], 12, ".jpg")
    root = tmp_path_factory.mktemp("halves")
    first, second = root / "first", root / "second"
    for p in sorted(full.rglob("*.jpg")):
        half = first if int(p.stem) % 2 == 0 else second
        (half / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, half / p.parent.name / p.name)
    cache, run = root / "cache", root / "run"
    res = subprocess.run(laic_cmd("cluster", first, "--method", "kmeans", "--k", "4", "--nouns", "40", "--out", run, "--cache", cache,
                                  "--quiet", "--no-figure", *TINY), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return first, second, run, cache


def test_cluster_then_predict_the_other_half(halves, tmp_path):
    first, second, run, cache = halves
    assert {p.name for p in (run / "model").iterdir()} == {"state.json", "state.npz", "run.json", "run.npz"}
    assert (run / "clusters.toml").is_file()
    res = laic("predict", second, "--run", run, "--out", tmp_path / "pred", "--quiet", "--cache", cache)
    new, old = rows(tmp_path / "pred"), rows(run)
    assert len(new) == 24 and {Path(r["path"]).parent.parent for r in new} == {second}  # every new image, none of the run's
    names = {r["cluster"]: r["cluster_name"] for r in old}
    for r in new:
        assert r["cluster_name"] == ("unknown" if r["cluster"] == "-1" else names[r["cluster"]])
    rep = json.loads((tmp_path / "pred" / "report.json").read_text())
    assert rep["kind"] == "laic predict report" and rep["n_images"] == 24 and rep["random_weights"]
    assert rep["n_unknown"] == sum(r["cluster"] == "-1" for r in new) and "unknown_rate=0.05" in rep["rule"]
    assert rep["cache"]["chunks_from_cache"] == 0 and (tmp_path / "pred" / "report.html").stat().st_size > 5000
    # the planted colours: the new images of a class go where the run put that class (random weights still separate colours)
    by_class = {}
    for r in old: by_class.setdefault(Path(r["path"]).parent.name, []).append(r["cluster"])
    home = {c: max(set(v), key=v.count) for c, v in by_class.items()}
    hits = [r["cluster"] == home[Path(r["path"]).parent.name] for r in new if r["cluster"] != "-1"]
    assert np.mean(hits) >= 0.9, hits
    # unknown_rate 0: nothing is unknown
    laic("predict", second, "--run", run, "--out", tmp_path / "all", "--quiet", "--unknown-rate", "0", "--cache", cache)
    assert all(r["cluster"] != "-1" for r in rows(tmp_path / "all"))


def test_edits_undo_and_predict_after_edits(halves, tmp_path):
    first, second, run0, cache = halves
    run = tmp_path / "run"
    shutil.copytree(run0, run)
    before = (run / "labels.csv").read_text()
    ids = sorted({int(r["cluster"]) for r in rows(run)})
    a, b, c, e = ids
    res = laic("edit", run, "--rename", f"{a}=beach", "--merge", f"{b},{c}", "--split", f"{e}:2", "--dry-run")
    assert "dry run: nothing written" in res.stdout and (run / "labels.csv").read_text() == before
    laic("edit", run, "--rename", f"{a}=beach", "--merge", f"{b},{c}", "--split", f"{e}:2", "--quiet")
    after = rows(run)
    got = sorted({int(r["cluster"]) for r in after})
    assert got == [a, b, 4, 5]  # the split's parts get new ids
    assert {r["cluster_name"] for r in after if int(r["cluster"]) == a} == {"beach"}
    assert sum(int(r["cluster"]) == b for r in after) == sum(int(r["cluster"]) in (b, c) for r in csv.DictReader(before.splitlines()))
    rep = json.loads((run / "report.json").read_text())
    assert [o["op"] for o in rep["edits"][-1]["ops"]] == ["merge", "split", "rename"]
    assert {q["id"] for q in rep["clusters"]} == {a, b, 4, 5} and "time" in rep["edits"][-1]
    assert "beach" in (run / "report.html").read_text(encoding="utf-8") and 'beach' in (run / "clusters.toml").read_text()
    # predict uses the edited clusters
    laic("predict", second, "--run", run, "--out", tmp_path / "pred", "--quiet", "--unknown-rate", "0", "--cache", cache)
    assert {int(r["cluster"]) for r in rows(tmp_path / "pred")} <= {a, b, 4, 5}
    # a drop makes the cluster's images unknown, in the run and in predict
    laic("edit", run, "--drop", str(a), "--quiet")
    assert {r["cluster_name"] for r in rows(run) if r["cluster"] == "-1"} == {"unknown"}
    laic("predict", second, "--run", run, "--out", tmp_path / "pred2", "--quiet", "--unknown-rate", "0", "--cache", cache)
    assert a not in {int(r["cluster"]) for r in rows(tmp_path / "pred2")}
    # clusters.toml: the user renames a cluster in the file
    toml = (run / "clusters.toml").read_text()
    old_name = next(r["cluster_name"] for r in rows(run) if int(r["cluster"]) == b)
    (run / "clusters.toml").write_text(toml.replace(f'{b} = {json.dumps(old_name)}', f'{b} = "harbour"'))
    laic("edit", run, "--quiet")
    assert {r["cluster_name"] for r in rows(run) if int(r["cluster"]) == b} == {"harbour"}
    # undo, three times: back to the run as laic cluster wrote it
    for _ in range(3): laic("edit", run, "--undo", "--quiet")
    assert (run / "labels.csv").read_text() == before
    res = laic("edit", run, "--undo", ok=False)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no edit to undo" in res.stderr


def one_line_refusal(res, *words):
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("laic: error:") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr and all(w in res.stderr for w in words), res.stderr


def test_tampered_state_is_refused(halves, tmp_path):
    first, second, run0, cache = halves
    # a pickle in the arrays: an object array saved with allow_pickle=True
    run = tmp_path / "pickled"; shutil.copytree(run0, run)
    with np.load(run / "model" / "state.npz") as z: arrays = dict(z)
    arrays["attr.labels_"] = np.array([subprocess.call], dtype=object)
    np.savez(run / "model" / "state.npz", **arrays, allow_pickle=True)
    one_line_refusal(laic("predict", second, "--run", run, "--out", tmp_path / "p1", ok=False), "state.npz", "refused")
    # an unexpected key in state.json
    run = tmp_path / "extra"; shutil.copytree(run0, run)
    s = json.loads((run / "model" / "state.json").read_text()); s["__reduce__"] = "os.system"
    (run / "model" / "state.json").write_text(json.dumps(s))
    one_line_refusal(laic("predict", second, "--run", run, "--out", tmp_path / "p2", ok=False), "unexpected key(s) __reduce__")
    one_line_refusal(laic("edit", run, "--rename", "0=x", ok=False), "unexpected key(s) __reduce__")
    # another laic_nb version
    run = tmp_path / "old"; shutil.copytree(run0, run)
    s = json.loads((run / "model" / "run.json").read_text()); s["laic_nb"] = "0.0.1"
    (run / "model" / "run.json").write_text(json.dumps(s))
    one_line_refusal(laic("predict", second, "--run", run, "--out", tmp_path / "p3", ok=False), "laic_nb 0.0.1", "rerun laic cluster")


def test_another_model_is_refused(halves, tmp_path):
    first, second, run, cache = halves
    res = laic("predict", second, "--run", run, "--out", tmp_path / "p", "--model", "ViT-B-32", "--pretrained", "openai", ok=False)
    one_line_refusal(res, "was clustered with laic-tiny", "ViT-B-32")
    one_line_refusal(laic("predict", second, "--run", tmp_path / "nope", ok=False), "no such run folder")
    one_line_refusal(laic("edit", run, "--merge", "0,99", "--dry-run", ok=False), "there is no cluster 99")
