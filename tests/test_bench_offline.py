"""The benchmark path, end to end and offline: `laic bench --dataset cifar10 --root ROOT` on a generated root in
torchvision's on-disk CIFAR-10 format (download=False), with the tiny random-weights model: the dataset loads
through torchvision's reader, the features are cached and a second run resumes from the cache, every default
method runs, and the markdown table and report.json are written with the papers' figures beside the measured ones.
The same on a generated ImageNet-style root (train/<wnid>/, val/<wnid>/ of tiny JPEGs, no devkit): ImageNet-10 reads
its classes from the folders, `laic bench --dataset imagenet10` runs, and ImageNet-V2 without the ImageNet root fails
in one line. Also: the backbone table against open_clip's registry, the profiles against the library's defaults, and the
resources' sources.

Nothing here reads files outside the repository or the network: sockets are closed for the whole module."""
import json
import pickle
import socket
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from laic_nb.cli import run_cli

REPO = Path(__file__).resolve().parent.parent
PER_CLASS = {"train": 6, "test": 4}  # images per class and split: 60 train, 40 test
TINY = ["--model", "laic-tiny", "--pretrained", "none", "--nouns", "40", "--seeds", "0"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    "Any attempt to open a connection fails the test."
    def refuse(*a, **kw): raise AssertionError(f"network access attempted: {a[:1]}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def colour_split(n_per_class, seed, k=10):
    "k classes of 32 x 32 images, each a planted colour plus noise."
    base = np.random.default_rng(7).integers(30, 226, (k, 3))
    labels = np.repeat(np.arange(k), n_per_class)
    noise = np.random.default_rng(seed).normal(0, 20, (len(labels), 32, 32, 3))
    return np.clip(base[labels][:, None, None] + noise, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    "A dataset root in torchvision's CIFAR-10 layout, written by `write_cifar10`."
    from laic_nb.datasets import write_cifar10
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root, colour_split(PER_CLASS["train"], 0), colour_split(PER_CLASS["test"], 1), source="generated colours (a test)")
    return root


def test_root_is_torchvisions_cifar10_format(cifar_root):
    "The files torchvision's CIFAR10 reads, in its pickle format; torchvision's reader loads them with download=False."
    folder = cifar_root / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta", "laic_manifest.json"])
    with open(folder / "data_batch_1", "rb") as f: batch = pickle.load(f, encoding="latin1")
    assert batch["data"].dtype == np.uint8 and batch["data"].shape[1] == 3072 and len(batch["labels"]) == len(batch["data"])
    with open(folder / "batches.meta", "rb") as f: assert pickle.load(f, encoding="latin1")["label_names"][0] == "airplane"
    from laic_nb.datasets import load_dataset
    ds = load_dataset("cifar10", "train", root=cifar_root)
    assert type(ds.ds).__name__ == "CIFAR10" and len(ds) == 10 * PER_CLASS["train"]
    assert np.array_equal(np.asarray(ds[0]), colour_split(PER_CLASS["train"], 0)[0][0])
    assert ds.identity()["origin"]["source"] == "generated colours (a test)"  # never mistaken for the official files


def _bench(root, cache, out, *extra):
    code, stdout, err = run_cli("bench", "--dataset", "cifar10", "--root", root, *TINY, "--cache", cache, "--out", out, *extra)
    assert code == 0, err
    return stdout, err


@pytest.fixture(scope="module")
def bench_runs(cifar_root, tmp_path_factory):
    "Two identical `laic bench` runs: (stdout, stderr, report.json) of each, and the table path."
    work = tmp_path_factory.mktemp("bench")
    out = work / "out" / "cifar10.md"
    runs = []
    for _ in range(2):
        stdout, err = _bench(cifar_root, work / "cache", out, "--limit", "30")
        runs.append((stdout, err, json.loads((out.parent / "report.json").read_text())))
    return runs, out


def test_bench_runs_every_default_method(bench_runs):
    from laic_nb.benchmark import DEFAULT_BENCH_METHODS
    rep = bench_runs[0][0][2]
    entry = rep["datasets"]["cifar10"]
    assert list(entry["methods"]) == list(DEFAULT_BENCH_METHODS)
    assert (entry["n_train"], entry["n_test"], entry["n_clusters"], entry["random_weights"]) == (30, 30, 10, True)
    for m, r in entry["methods"].items():
        assert set(r["metrics"]["mean"]) == {"nmi", "acc", "ari"} and len(r["runs"]) == 1, m
        assert all(0 <= r["metrics"]["mean"][q] <= 1 for q in ("nmi", "acc")), m
    assert entry["methods"]["centers"]["mode"] == "images"  # the default, auto: the datasets load their images


def test_second_run_resumes_from_the_cache(bench_runs):
    runs, _ = bench_runs
    first, second = runs[0][1], runs[1][1]
    for split in ("train", "test"):
        assert f"cifar10 {split}: 30 images encoded (0 of 1 chunks from cache)" in first, first
        assert f"cifar10 {split}: 30 images encoded (1 of 1 chunks from cache)" in second, second
    same = lambda rep: {m: r["runs"] for m, r in rep["datasets"]["cifar10"]["methods"].items()}
    assert same(runs[0][2]) == same(runs[1][2])  # cached features, same seeds: the same numbers


def test_table_has_the_papers_figures_beside_the_measured(bench_runs):
    from laic_nb.datasets import published_results
    runs, out = bench_runs
    table = out.read_text()
    assert "| paper NMI | paper ACC | paper ARI |" in table and "Random weights" in table
    for m, figures in published_results()["cifar10"].items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {m}"))
        assert " | ".join("-" if v is None else f"{v:.1f}" for v in figures) in row, row
    assert table.strip() in runs[1][0]  # printed too


def test_report_json_records_paper_figures_and_origin(bench_runs):
    entry = bench_runs[0][0][2]["datasets"]["cifar10"]
    assert entry["methods"]["ntk-rad"]["paper"] == dict(zip(("nmi", "acc", "ari"), (83.3, 92.0, 83.0)))
    assert "generated colours" in json.dumps(entry["data"])


def test_bad_root_is_one_line(tmp_path):
    code, _, err = run_cli("bench", "--dataset", "cifar10", "--root", tmp_path / "empty", *TINY, "--cache", tmp_path / "c",
                           "--out", tmp_path / "o" / "t.md", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(tmp_path / "empty") in err and "cifar-10-batches-py" in err and "--download" in err


def test_jpeg_converter_on_a_generated_folder(tmp_path):
    "bench/cifar10_jpeg_to_torchvision.py on a folder laid out as the JPEG copy: halves per class, loadable."
    from PIL import Image
    from laic_nb.datasets import CIFAR10_CLASSES, load_dataset
    src = tmp_path / "jpeg"
    for c, cls in enumerate(CIFAR10_CLASSES):
        (src / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), 20 * c + i, np.uint8)).save(src / cls / f"{i:04d}.jpg", quality=95)
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import cifar10_jpeg_to_torchvision as conv
        assert conv.main(["--src", str(src), "--out", str(tmp_path / "root")]) == 0
        assert conv.main(["--src", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    finally:
        sys.path.remove(str(REPO / "bench"))
    train, test = load_dataset("cifar10", "train", root=tmp_path / "root"), load_dataset("cifar10", root=tmp_path / "root")
    assert (len(train), len(test)) == (20, 20) and np.bincount(test.labels).tolist() == [2] * 10
    means = lambda ds: sorted(float(np.asarray(ds[j]).mean()) for j in range(len(ds)))  # file i of class c is 20c + i
    assert np.allclose(means(train), sorted(20 * c + i for c in range(10) for i in (0, 1)), atol=1)  # first half: train
    assert np.allclose(means(test), sorted(20 * c + i for c in range(10) for i in (2, 3)), atol=1)
    assert "YoongiKim" in test.identity()["origin"]["source"]


def test_backbones_are_in_open_clips_registry():
    "Every (model, pretrained) pair of resources/backbones.toml is one open_clip knows, read offline."
    import open_clip
    table = tomllib.loads((REPO / "laic_nb" / "resources" / "backbones.toml").read_text())["backbone"]
    known = set(open_clip.list_pretrained())
    assert [(b["model"], b["pretrained"]) for b in table if (b["model"], b["pretrained"]) not in known] == []
    assert all(b["label"] and b["source"] for b in table)
    assert ("ViT-B-32", "openai") == (table[0]["model"], table[0]["pretrained"])  # the papers' backbone first
    assert len({(b["model"], b["pretrained"]) for b in table}) == len(table)


def test_profiles_agree_with_the_library_defaults():
    "The profiles' defaults are the ones vocab and ntk use: tau = ntk.TAU, and 3K centers where no k_f is published."
    from laic_nb.datasets import DATASET_CARDS, benchmark_profile
    from laic_nb.ntk import TAU
    from laic_nb.vocab import default_n_centers
    profiles = tomllib.loads((REPO / "laic_nb" / "resources" / "profiles.toml").read_text())["profile"]
    published = {p["dataset"] for p in profiles if "n_centers" in p and "model" not in p}
    assert published == {"cifar10", "cifar20", "cifar100", "stl10", "imagenet10", "imagenet-dogs", "dtd", "ucf101", "imagenet"}
    for name, card in DATASET_CARDS.items():
        p = benchmark_profile(name + ":fog:3" * bool(card.parameters))  # ImageNet-C names a corruption and severity
        assert p["tau"] == TAU, (name, p)
        if name not in published and not (name.startswith("imagenet-") and name != "imagenet-dogs"):  # the variants: ImageNet's
            assert p["n_centers"] == default_n_centers(card.n_classes), (name, p)


def test_resources_cite_papers_not_notes():
    "Every source in the resources names a paper, its table or section, or the reference code: none cites design notes."
    for name in ("profiles.toml", "backbones.toml", "dataset_facts.toml", "class_subsets.toml"):
        text = (REPO / "laic_nb" / "resources" / name).read_text()
        assert "DESIGN.md" not in text and "../shared" not in text, name


def test_dataset_facts_give_each_value_its_source():
    "The consistency classes and the published figures: every value with its source, as the readers return them."
    from laic_nb.datasets import consistency_class, published_results, published_sources
    facts = tomllib.loads((REPO / "laic_nb" / "resources" / "dataset_facts.toml").read_text())
    for name, d in facts["dataset"].items():
        assert ("consistency" in d) == bool(d.get("consistency_source")), name
        assert all(f["source"] for f in d.get("published", {}).values()), name
    assert [n for n in facts["dataset"] if consistency_class(n) == "few"] == ["stl10", "cifar10", "imagenet10", "imagenet-dogs"]
    assert [n for n in facts["dataset"] if consistency_class(n) == "many"] == ["dtd", "ucf101", "flowers102", "cifar100"]
    assert published_results()["imagenet-dogs"]["centers"] == (86.2, 88.0, 82.6)
    assert set(published_sources()) == {m for methods in published_results().values() for m in methods}


IMAGENET_PER_CLASS = {"train": 3, "val": 2}  # images per ImageNet-10 class and split: 30 train, 20 test
OTHER_WNIDS = ["n09000001", "n09000002"]  # WordNet-id folders outside ImageNet-10 (fake ids): never read


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory):
    "An ImageNet-style root, generated: train/<wnid>/ and val/<wnid>/ with tiny JPEGs, no devkit, no class list."
    from PIL import Image
    from laic_nb.datasets import IMAGENET10
    root = tmp_path_factory.mktemp("imagenet")
    base = np.random.default_rng(3).integers(30, 226, (len(IMAGENET10) + len(OTHER_WNIDS), 3))
    for split, n in IMAGENET_PER_CLASS.items():
        for c, wnid in enumerate([*IMAGENET10, *OTHER_WNIDS]):
            (root / split / wnid).mkdir(parents=True)
            for i in range(n):
                noise = np.random.default_rng(100 * c + i).normal(0, 15, (32, 32, 3))
                img = np.clip(base[c] + noise, 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / split / wnid / f"{wnid}_{i}.JPEG", quality=90)
    return root


def test_imagenet10_reads_its_classes_from_the_folders(imagenet_root):
    "ImageNet-10 is its DAC ids over the user's folders: labels in the ids' order, the other folders left out."
    from laic_nb.datasets import IMAGENET10, imagenet_classes, load_dataset
    train, test = load_dataset("imagenet10", "train", root=imagenet_root), load_dataset("imagenet10", root=imagenet_root)
    assert (len(train), len(test)) == (30, 20) and train.classes == test.classes == list(IMAGENET10)
    assert np.bincount(test.labels).tolist() == [2] * 10 and test.class_names[0] == "king penguin"
    assert all(p.parent.name == test.classes[y] for p, y in zip(test.paths, test.labels))
    with pytest.warns(UserWarning, match="named by WordNet id"):  # no devkit: the sorted train/ folders, named by id
        assert list(imagenet_classes(imagenet_root)) == sorted([*IMAGENET10, *OTHER_WNIDS])


def test_bench_on_a_generated_imagenet_root(imagenet_root, tmp_path):
    "`laic bench --dataset imagenet10` end to end on the generated root: every default method, K = 10."
    from laic_nb.benchmark import DEFAULT_BENCH_METHODS
    out = tmp_path / "out" / "imagenet10.md"
    code, _, err = run_cli("bench", "--dataset", "imagenet10", "--root", imagenet_root, *TINY, "--cache", tmp_path / "cache",
                           "--out", out)
    assert code == 0, err
    entry = json.loads((out.parent / "report.json").read_text())["datasets"]["imagenet10"]
    assert (entry["n_train"], entry["n_test"], entry["n_clusters"]) == (30, 20, 10)
    assert list(entry["methods"]) == list(DEFAULT_BENCH_METHODS)


def test_imagenet_v2_without_the_imagenet_root_is_one_line(tmp_path, monkeypatch):
    "V2's folders are class indices: without ImageNet's devkit or train/ folders it fails in one line saying so."
    root = tmp_path / "data" / "imagenet"
    (root / "imagenetv2-matched-frequency-format-val" / "0").mkdir(parents=True)
    monkeypatch.setenv("LAIC_DATA", str(tmp_path / "data"))
    code, _, err = run_cli("cluster", "imagenet-v2", *TINY[:4], "--k", "2", "--no-cache", "--out", tmp_path / "o", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "class indices" in err and str(root / "train") in err and "ILSVRC2012_devkit_t12.tar.gz" in err
