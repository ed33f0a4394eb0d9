"""Validation once at the door: one run applies the K rule and the features check a counted number of times.

Public entry points check their inputs; private cores trust them. `run_method` is a door and the estimator it builds
is another (scikit-learn validates at `fit`), so on one run the K rule runs exactly twice (the run's door with the
lower bound and 'auto', the estimator's with K <= N) and the image array is checked exactly twice (once per door), the
noun selection, the K estimate and the naming adding none. Before the doors were drawn, one `laic cluster` run checked
K five times. Synthetic data, a tiny random-weights CLIP.
"""
import sys

import numpy as np
import pytest

import laic_nb.core
from laic_nb.data import make_colour_images, make_vl_blobs


def counted(monkeypatch, name):
    "Count the calls of `core.<name>` from every laic_nb module that imported it; the first argument's name is kept."
    real, calls = getattr(laic_nb.core, name), []
    default = {"check_n_clusters": "n_clusters", "check_features": "features"}[name]
    def wrapper(*a, **k):
        calls.append(k.get("name", a[1] if name == "check_features" and len(a) > 1 else default))
        return real(*a, **k)
    for mod in [m for n, m in sys.modules.items() if n.startswith("laic_nb")]:
        if getattr(mod, name, None) is real: monkeypatch.setattr(mod, name, wrapper)
    return calls


@pytest.fixture
def blobs():
    return make_vl_blobs(200, 4, 32, 60, confusion=0.5, random_state=0)


@pytest.mark.parametrize("method", ["ntk-rad", "tac-notrain", "kmeans", "relational"])
def test_run_method_checks_k_and_images_once_per_door(method, blobs, monkeypatch):
    from laic_nb.pipeline import run_method
    k_rule, features = counted(monkeypatch, "check_n_clusters"), counted(monkeypatch, "check_features")
    r = run_method(method, blobs.image_features, 4, blobs.text_features, blobs.prompt_text_features)
    assert r.labels.shape == (200,)
    assert k_rule == ["k", "n_clusters"]  # run_method's door, then the estimator's
    assert [q for q in features if q in ("image_features", "X")] == ["image_features", "X"]


def test_cluster_images_checks_k_twice(monkeypatch, tmp_path):
    from laic_nb.clip import load_clip
    from laic_nb.images import ArrayImages
    from laic_nb.pipeline import cluster_images
    imgs, labels = make_colour_images(4, 0, n_classes=5, size=32)
    ds = ArrayImages(imgs, labels, [f"colour {c}" for c in range(5)], name="colours")
    tiny = load_clip("laic-tiny", pretrained=None)
    k_rule = counted(monkeypatch, "check_n_clusters")
    run = cluster_images(ds, "kmeans", 5, clip=tiny, nouns=30, cache=tmp_path, progress=False)
    assert run.result.n_clusters == 5
    assert k_rule == ["k", "n_clusters"]  # cluster_images' door (images counted, before the model loads), then the estimator's
    with pytest.raises(ValueError, match="larger than the number of samples"):
        cluster_images(ds, "kmeans", 50, clip=tiny, nouns=30, cache=tmp_path, progress=False)
