"""Exports of a run folder (`laic_nb.export`, `laic export`): every export read back by what consumes it where it
installs here (torchvision's ImageFolder; pyarrow and pandas), the Label Studio and FiftyOne files checked against
their documented formats, a move and its undo, refusals, dry runs, awkward file names, and one real `laic cluster`
run exported end to end.

Most run folders are written by hand, exactly as the contract says (`write_run`); nothing reads ../shared or the
network."""
import csv
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from conftest import laic_cmd
from laic_nb.cache import atomic_save_npz
from laic_nb.cli import run_cli
from laic_nb.core import LaicInputError
from laic_nb.export import (EXPORT_FORMATS, LABELS_COLUMNS, MOVE_JOURNAL, cluster_folder_name, export_run, read_run, slug,
                            undo_move, unique_names)

NAMES = {0: "cat / kitten", 2: "golden retriever / dog", 11: "<b>bold</b> & ümlaut"}
# (subfolder, file name) of each image: equal names in one cluster, non-ASCII, markup and a comma
ON_DISK = [("a", "same.png"), ("b", "same.png"), ("a", "café é.png"), ("a", "<img src=x onerror=alert(1)>.png"),
           ("b", "comma, name.png"), ("b", "x.png"), ("b", "same.jpg")]
LABELS = [2, 2, 2, 0, 0, 11, 2]


def write_run(run, paths, labels, names, *, typicality=None, outlier=None, duplicate_of=None, confidence=None,
              explored=True, report=None) -> Path: # the run folder
    "A run folder as `laic cluster` writes it: labels.csv with the contract's nine columns, report.json."
    run = Path(run); run.mkdir(parents=True, exist_ok=True)
    typ = np.linspace(1, 0.1, len(paths)) if typicality is None else typicality
    with open(run / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f); w.writerow(LABELS_COLUMNS)
        for i, p in enumerate(paths):
            c = int(labels[i]); conf = (confidence or {}).get(c, 0.5)
            tail = ([("" if conf is None else f"{conf:.4f}"), f"{typ[i]:.4f}", int(bool(outlier and outlier[i])),
                     (duplicate_of or {}).get(i, ""), f"{i:.4f}", f"{-i:.4f}"] if explored else [""] * 6)
            w.writerow([str(p), c, names[c], *tail])
    rep = dict(clusters=[dict(id=c, size=labels.count(c), name=names[c]) for c in sorted(set(labels))],
               config=dict(images="photos", method="kmeans", model=dict(name="laic-tiny", pretrained="random")),
               model=dict(model="laic-tiny"), weights="random", random_weights=True, k_used=len(set(labels)),
               cache=dict(image_features=None))
    rep.update(report or {})
    (run / "report.json").write_text(json.dumps(rep), encoding="utf-8")
    return run


@pytest.fixture
def photos(tmp_path):
    "Seven 8 x 8 PNG images (one saved as .jpg) under awkward names, and a run folder over them."
    rng = np.random.default_rng(0)
    files = []
    for sub, name in ON_DISK:
        (tmp_path / "photos" / sub).mkdir(parents=True, exist_ok=True)
        f = tmp_path / "photos" / sub / name
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(f, format="PNG")
        files.append(f)
    run = write_run(tmp_path / "run", files, LABELS, NAMES, outlier=[0, 0, 1, 0, 0, 0, 0],
                    duplicate_of={1: str(files[0])}, confidence={11: None})
    return files, run


def test_folders_load_in_torchvision_linked_and_copied(photos, tmp_path):
    from torchvision.datasets import ImageFolder
    files, run = photos
    for mode in ("link", "copy"):
        out = tmp_path / f"by_{mode}"
        s = export_run(run, "folders", out, mode=mode)
        ds = ImageFolder(str(out))
        assert ds.classes == sorted(p.name for p in out.iterdir()) == ["00_cat", "02_golden_retriever", "11_bboldb_ümlaut"]
        assert len(ds) == len(files) and all(ds[i][0].size == (8, 8) for i in range(len(ds)))
        by_class = {}
        for path, k in ds.samples: by_class.setdefault(ds.classes[k], []).append(Path(path).name)
        # equal names in one cluster: the first in labels.csv keeps its name, the next gets ~2; same.jpg differs by suffix
        assert sorted(by_class["02_golden_retriever"]) == ["café é.png", "same.jpg", "same.png", "same~2.png"]
        assert sorted(by_class["00_cat"]) == ["<img src=x onerror=alert(1)>.png", "comma, name.png"]
        assert all(Path(f).is_symlink() == (mode == "link") for f in s.files)
        assert [Path(f).read_bytes() for f in s.files] == [f.read_bytes() for f in files]  # row i's image is row i's file


def test_folder_names_and_equal_file_names():
    assert cluster_folder_name(3, "golden retriever / retriever") == "03_golden_retriever"
    assert cluster_folder_name(3, "x", width=3) == "003_x"
    for bad in ("..", ".", "", "/", "<>:\"|?*", " / dog"):
        s = slug(bad)
        assert s and s not in (".", "..") and not set(s) & set("/\\:<>\"|?*")
    assert slug("Ærø / x") == "Ærø" and slug("猫 tabby") == "猫_tabby"
    assert unique_names(["a.png", "A.png", "a.png", ".h.png"]) == ["a.png", "A~2.png", "a~3.png", "_.h.png"]


def test_many_clusters_sort_in_cluster_order(tmp_path):
    from torchvision.datasets import ImageFolder
    f = tmp_path / "one.png"
    Image.new("RGB", (4, 4)).save(f)
    ids = [5, 99, 100, 7]
    files = []
    for c in ids:
        files.append(tmp_path / f"{c}.png"); shutil.copy(f, files[-1])
    run = write_run(tmp_path / "run", files, ids, {c: f"n{c}" for c in ids})
    export_run(run, "folders", tmp_path / "out")
    ds = ImageFolder(str(tmp_path / "out"))
    assert ds.classes == ["005_n5", "007_n7", "099_n99", "100_n100"]  # three digits from id 100 on: still in cluster order


def test_parquet_read_back_with_pyarrow_and_pandas(photos, tmp_path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    files, run = photos
    entry = tmp_path / "cache" / "images" / "key"
    x = np.random.default_rng(1).normal(size=(len(files) + 1, 16)).astype(np.float32)
    ok = np.ones(len(files) + 1, bool); ok[3] = False  # an unreadable image: no row in labels.csv
    atomic_save_npz(entry / "features.npz", n_rows=len(ok), features=x, ok=ok, reason=np.array([""] * len(ok)))
    report = json.loads((run / "report.json").read_text()); report["cache"]["image_features"] = str(entry)
    (run / "report.json").write_text(json.dumps(report))
    out = tmp_path / "run.parquet"
    export_run(run, "parquet", out, embeddings=True)
    t = pq.read_table(out)
    assert t.schema.names == list(LABELS_COLUMNS) + ["embedding"] and t.num_rows == len(files)
    types = {n: t.schema.field(n).type for n in t.schema.names}
    assert types["cluster"] == pa.int64() and types["outlier"] == pa.bool_() and types["path"] == pa.string()
    assert all(types[c] == pa.float32() for c in ("name_confidence", "typicality", "x", "y"))
    assert pa.types.is_fixed_size_list(types["embedding"]) and types["embedding"].list_size == 16
    assert types["embedding"].value_type == pa.float32()
    df = pd.read_parquet(out)
    assert df["path"].tolist() == [str(f) for f in files] and df["cluster"].tolist() == LABELS
    assert np.array_equal(np.stack(df["embedding"]), x[ok])
    assert df["name_confidence"].isna().tolist() == [lab == 11 for lab in LABELS]
    assert df["duplicate_of"].isna().tolist()[:2] == [True, False] and df["duplicate_of"][1] == str(files[0])
    assert df["outlier"].tolist()[2] and t.column("duplicate_of").null_count == len(files) - 1
    assert json.loads(t.schema.metadata[b"laic"])["k_used"] == 3


def test_parquet_of_a_run_without_exploration_has_nulls(photos, tmp_path):
    import pandas as pd
    files, _ = photos
    run = write_run(tmp_path / "plain", files, LABELS, NAMES, explored=False)
    export_run(run, "parquet", tmp_path / "p.parquet")
    df = pd.read_parquet(tmp_path / "p.parquet")
    assert df[["typicality", "x", "y", "name_confidence"]].isna().all().all() and not df["outlier"].any()
    export_run(run, "labelstudio", tmp_path / "t.json")  # no score to give: the optional key is left out
    assert all("score" not in t["predictions"][0] for t in json.loads((tmp_path / "t.json").read_text()))


def test_embeddings_need_the_cache(photos, tmp_path):
    files, run = photos
    with pytest.raises(LaicInputError, match="without the feature cache"):
        export_run(run, "parquet", tmp_path / "a.parquet", embeddings=True)
    gone = write_run(tmp_path / "gone", files, LABELS, NAMES,
                     report=dict(cache=dict(image_features=str(tmp_path / "c" / "images" / "k")), config=dict(
                         images="my photos", limit=5, model=dict(name="ViT-B-32", pretrained="openai")), random_weights=False))
    with pytest.raises(LaicInputError, match=r"refill it with `laic features 'my photos' --model ViT-B-32 --pretrained openai "
                                             r"--limit 5 --cache .*/c`"):
        export_run(gone, "parquet", tmp_path / "a.parquet", embeddings=True)
    assert not (tmp_path / "a.parquet").exists()


def test_parquet_without_pyarrow_says_what_to_install(photos, tmp_path):
    with mock.patch.dict(sys.modules, {"pyarrow": None, "pyarrow.parquet": None}):
        with pytest.raises(LaicInputError, match="pip install pyarrow"):
            export_run(photos[1], "parquet", tmp_path / "a.parquet")


def test_labelstudio_tasks_follow_the_documented_format(photos, tmp_path):
    files, run = photos
    out = tmp_path / "ls" / "tasks.json"
    export_run(run, "labelstudio", out)
    tasks = json.loads(out.read_text(encoding="utf-8"))
    config = ET.fromstring((tmp_path / "ls" / "tasks.label_config.xml").read_text(encoding="utf-8"))
    assert config.tag == "View"
    images = {o.get("name"): o.get("value") for o in config.iter("Image")}
    controls = {c.get("name"): c for c in config.iter("Choices")}
    choices = [c.get("value") for c in config.iter("Choice")]
    assert images == {"image": "$image"} and set(controls) == {"cluster"} and controls["cluster"].get("toName") == "image"
    assert controls["cluster"].get("choice") == "single" and len(set(choices)) == len(choices) == 3
    assert "11: <b>bold</b> & ümlaut" in choices  # escaped in the XML, read back as text
    assert isinstance(tasks, list) and len(tasks) == len(files)
    for task, f, lab in zip(tasks, files, LABELS):
        assert isinstance(task, dict) and set(task) == {"data", "predictions"}
        data = task["data"]
        assert isinstance(data, dict) and isinstance(data["image"], str) and data["path"] == str(f) and data["cluster"] == lab
        assert data["image"].startswith("/data/local-files/?d=") and " " not in data["image"]
        assert isinstance(task["predictions"], list) and len(task["predictions"]) == 1
        for p in task["predictions"]:
            assert isinstance(p["model_version"], str) and isinstance(p["score"], (int, float)) and 0 <= p["score"] <= 1
            assert isinstance(p["result"], list) and p["result"]
            for r in p["result"]:
                assert r["type"] == "choices" and r["from_name"] in controls
                assert r["to_name"] == controls[r["from_name"]].get("toName") and r["to_name"] in images
                assert isinstance(r["value"]["choices"], list) and set(r["value"]["choices"]) <= set(choices)
                assert r["value"]["choices"] == [f"{lab:02d}: {NAMES[lab]}"]
    from urllib.parse import parse_qs, urlsplit
    rel = parse_qs(urlsplit(tasks[4]["data"]["image"]).query)["d"][0]  # the comma and the space survive the URL
    assert (files[0].parent.parent / rel) == files[4]


def test_labelstudio_url_prefix_and_document_root(photos, tmp_path):
    files, run = photos
    export_run(run, "labelstudio", tmp_path / "t.json", url_prefix="https://host/pics/", document_root=tmp_path)
    tasks = json.loads((tmp_path / "t.json").read_text())
    assert tasks[3]["data"]["image"] == "https://host/pics/photos/a/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.png"
    with pytest.raises(LaicInputError, match="is not under the document root"):
        export_run(run, "labelstudio", tmp_path / "u.json", document_root=tmp_path / "photos" / "a")


def test_fiftyone_dataset_follows_the_documented_format(photos, tmp_path):
    files, run = photos
    out = tmp_path / "fo"
    export_run(run, "fiftyone", out)
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    data = {p.stem: p for p in (out / "data").iterdir()}
    assert set(labels) == {"classes", "labels"} and isinstance(labels["classes"], list)
    assert all(isinstance(c, str) for c in labels["classes"]) and len(set(labels["classes"])) == 3
    assert len(data) == len(files) and set(labels["labels"]) == set(data)  # every uuid is one file's stem in data/
    for uuid, target in labels["labels"].items():
        assert data[uuid].is_file() and Image.open(data[uuid]).size == (8, 8)
        assert isinstance(target, dict) and isinstance(target["label"], int) and 0 <= target["label"] < len(labels["classes"])
        assert 0 <= target["confidence"] <= 1 and isinstance(target["attributes"], dict)
        assert all(isinstance(v, (str, int, float, bool)) for v in target["attributes"].values())
    assert "same" in data and "same~2" in data and "same~3" in data  # same.png, same.png, same.jpg: one stem each
    assert labels["classes"][labels["labels"]["comma, name"]["label"]] == "00: cat / kitten"
    with pytest.raises(LaicInputError, match="--move is for --to folders"):
        export_run(run, "fiftyone", tmp_path / "fo2", mode="move")


def test_move_then_undo_restores_every_file(photos, tmp_path):
    files, run = photos
    before = {f: f.read_bytes() for f in files}
    s = export_run(run, "folders", tmp_path / "moved", mode="move")
    assert not any(f.exists() for f in files) and all(Path(p).is_file() and not Path(p).is_symlink() for p in s.files)
    assert json.loads((run / MOVE_JOURNAL).read_text())["state"] == "done"
    with pytest.raises(LaicInputError, match="undo"):  # labels.csv still names the original paths
        export_run(run, "folders", tmp_path / "again")
    assert undo_move(run, dry_run=True).n_images == len(files) and not any(f.exists() for f in files)
    undo_move(run)
    assert {f: f.read_bytes() for f in files} == before
    assert not (tmp_path / "moved").exists() and not (run / MOVE_JOURNAL).exists() and (run / "export-move.undone.json").exists()
    with pytest.raises(LaicInputError, match="nothing to undo"):
        undo_move(run)


def test_undo_after_a_move_killed_halfway(photos, tmp_path):
    files, run = photos
    real_move = shutil.move
    calls = []
    def dies_at_the_fourth(src, dst):
        calls.append(src)
        if len(calls) == 4: raise KeyboardInterrupt
        return real_move(src, dst)
    with mock.patch("laic_nb.export.shutil.move", dies_at_the_fourth), pytest.raises(KeyboardInterrupt):
        export_run(run, "folders", tmp_path / "moved", mode="move")
    assert json.loads((run / MOVE_JOURNAL).read_text())["state"] == "moving"
    assert sum(f.exists() for f in files) == len(files) - 3
    undo_move(run)
    assert all(f.is_file() for f in files) and not (tmp_path / "moved").exists()


def test_nothing_is_overwritten_without_force(photos, tmp_path):
    files, run = photos
    out = tmp_path / "out"; out.mkdir(); (out / "mine.txt").write_text("keep")
    with pytest.raises(LaicInputError, match="not empty: pass --force"):
        export_run(run, "folders", out)
    export_run(run, "folders", out, force=True)
    assert (out / "mine.txt").read_text() == "keep" and len(list(out.glob("*/*"))) == len(files)
    export_run(run, "folders", out, force=True, mode="copy")  # links replaced by copies
    assert not any(p.is_symlink() for p in out.glob("*/*"))
    (tmp_path / "t.parquet").write_text("old")
    with pytest.raises(LaicInputError, match="exists: pass --force"):
        export_run(run, "parquet", tmp_path / "t.parquet")
    assert (tmp_path / "t.parquet").read_text() == "old"
    (tmp_path / "t.label_config.xml").write_text("old")
    with pytest.raises(LaicInputError, match="t.label_config.xml exists"):
        export_run(run, "labelstudio", tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize("to,dest", [("folders", "f"), ("parquet", "p.parquet"), ("labelstudio", "t.json"), ("fiftyone", "fo")])
def test_dry_run_writes_nothing(photos, tmp_path, to, dest):
    files, run = photos
    snapshot = sorted(str(p) for p in tmp_path.rglob("*"))
    s = export_run(run, to, tmp_path / dest, dry_run=True, mode="move" if to == "folders" else "link")
    assert s.dry_run and s.n_images == len(files) and s.files and "nothing written" in str(s)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == snapshot


def test_not_a_run_folder_is_one_clear_error(photos, tmp_path):
    files, run = photos
    with pytest.raises(LaicInputError, match="no such run folder"):
        read_run(tmp_path / "nope")
    with pytest.raises(LaicInputError, match="has no labels.csv"):
        read_run(tmp_path / "photos")
    (run / "labels.csv").write_text("path,cluster,cluster_name\na.png,0,cat\n")
    with pytest.raises(LaicInputError, match="labels.csv has the columns 'path,cluster,cluster_name'"):
        read_run(run)
    (run / "labels.csv").write_text(",".join(LABELS_COLUMNS) + "\na.png,0,cat,,0.5,maybe,,0,0\n")
    with pytest.raises(LaicInputError, match="line 2: outlier 'maybe' is not 0 or 1"):
        read_run(run)
    rows = write_run(tmp_path / "missing", [files[0], tmp_path / "gone.png"], [0, 0], {0: "cat"})
    with pytest.raises(LaicInputError, match="1 of 2 images named in .* are not files here"):
        export_run(rows, "folders", tmp_path / "x")


def test_laic_export_command(photos, tmp_path):
    from torchvision.datasets import ImageFolder
    files, run = photos
    code, out, err = run_cli("export", run, "--to", "folders", tmp_path / "f", "--dry-run")
    assert code == 0 and "would write 7 images" in out and not (tmp_path / "f").exists()
    code, out, err = run_cli("export", run, "--to", "folders", tmp_path / "f", "--move", "--quiet")
    assert code == 0 and out == "" and len(ImageFolder(str(tmp_path / "f"))) == len(files)
    code, out, err = run_cli("export", run, "--undo")
    assert code == 0 and "put 7 images back" in out and all(f.exists() for f in files)
    bad = {"format": ["--to", "csv", tmp_path / "x"], "no --to": [], "undo and copy": ["--undo", "--copy"],
           "embeddings": ["--to", "fiftyone", tmp_path / "x", "--embeddings"], "url prefix": ["--to", "parquet", tmp_path / "x", "--url-prefix", "h"],
           "exists": ["--to", "folders", tmp_path / "f"], "undo twice": ["--undo"]}
    (tmp_path / "f").mkdir(exist_ok=True); (tmp_path / "f" / "x").write_text("")
    for name, argv in bad.items():
        code, out, err = run_cli("export", run, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("laic: error:"), (name, err)
    code, out, _ = run_cli("export", "--help")
    assert code == 0 and all(f in out for f in EXPORT_FORMATS) and "ImageFolder" in out and "--undo" in out


def test_end_to_end_cluster_then_export(image_folder, tmp_path):
    "A real `laic cluster` run (tiny random-weights model) exported by the installed console script."
    import subprocess
    import pandas as pd
    from torchvision.datasets import ImageFolder
    root = image_folder(["red", "green", "blue"], 6, ".jpg")
    shutil.copy(root / "red" / "00.jpg", root / "blue" / "00.jpg")  # the same file name in two class folders
    out = tmp_path / "run"
    code, _, err = run_cli("cluster", root, "--k", "3", "--method", "kmeans", "--model", "laic-tiny", "--pretrained", "none",
                           "--nouns", "40", "--quiet", "--no-figure", "--out", out, "--cache", tmp_path / "cache")
    assert code == 0, err
    header = (out / "labels.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(LABELS_COLUMNS)
    proc = subprocess.run(laic_cmd("export", out, "--to", "folders", tmp_path / "folders", "--quiet"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ds = ImageFolder(str(tmp_path / "folders"))
    assert len(ds) == 18 and len(ds.classes) == 3 and all(ds[i][0].size == (32, 32) for i in range(0, 18, 5))
    code, _, err = run_cli("export", out, "--to", "parquet", tmp_path / "run.parquet", "--embeddings", "--quiet")
    assert code == 0, err
    df = pd.read_parquet(tmp_path / "run.parquet")
    assert len(df) == 18 and df["typicality"].between(0, 1).all() and df["x"].notna().all()
    assert len(df["embedding"][0]) == len(np.stack(df["embedding"])[0]) > 0
    code, _, err = run_cli("export", out, "--to", "fiftyone", tmp_path / "fo", "--quiet")
    assert code == 0, err
    assert len(json.loads((tmp_path / "fo" / "labels.json").read_text())["labels"]) == 18


def test_folders_load_in_hugging_face_imagefolder(photos, tmp_path, monkeypatch):
    "Hugging Face's `imagefolder` (not a dependency: runs where `datasets` is installed, offline)."
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1"); monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    files, run = photos
    export_run(run, "folders", tmp_path / "f")
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "f"), split="train", cache_dir=str(tmp_path / "hf"))
    names = ds.features["label"].names
    assert names == ["00_cat", "02_golden_retriever", "11_bboldb_ümlaut"] and len(ds) == len(files)
    assert sorted(names[r["label"]] for r in ds) == sorted(f"{c:02d}_" + slug(NAMES[c]) for c in LABELS)
