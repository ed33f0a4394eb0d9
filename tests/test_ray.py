"""The Ray engines on a local Ray cluster of two CPUs: `laic features --engine ray` writes the cache
the local path writes (image folder and WebDataset shards), and the NTK graph built by Ray row
blocks is the single process's, bit for bit, resuming from its edge shards.

Generated images, the tiny random-weights model `laic-tiny`, synthetic features: nothing from
../shared, no network. All tests share one Ray cluster (one xdist group)."""
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the Ray engines need the optional extra laic_nb[ray]")

from laic_nb.cli import run_cli
from laic_nb.core import ray_session
from laic_nb.cluster import NTKSpectralClustering
from laic_nb.data import make_vl_blobs
from laic_nb.ntk import ntk_topk, ray_ntk_topk

pytestmark = pytest.mark.xdist_group("ray")  # one local cluster, not one per pytest worker


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    "A folder of 3 classes x 7 PNGs plus an unreadable JPEG, and the same samples as two WebDataset shards."
    root = tmp_path_factory.mktemp("ray-imgs")
    folder, shards = root / "folder", root / "shards"
    shards.mkdir()
    rng = np.random.default_rng(0)
    members = []
    for i in range(21):
        cls = f"c{i % 3}"
        (folder / cls).mkdir(parents=True, exist_ok=True)
        path = folder / cls / f"{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(path)
        members.append((f"{i:02d}", path.read_bytes(), i % 3))
    (folder / "c0" / "zz.jpg").write_bytes(b"not a jpeg")
    members.append(("zz", b"not a jpeg", 0))
    for s, part in enumerate((members[:11], members[11:])):
        with tarfile.open(shards / f"part-{s:06d}.tar", "w") as tar:
            for key, data, label in part:
                for name, blob in ((f"{key}.{'jpg' if key == 'zz' else 'png'}", data), (f"{key}.cls", str(label).encode())):
                    info = tarfile.TarInfo(name); info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
    return folder, shards


def features_cli(images, cache, *extra):
    code, out, err = run_cli("features", images, "--model", "laic-tiny", "--pretrained", "none", "--cache", cache,
                             "--chunk-size", 6, "--quiet", *extra)
    assert code == 0, err
    entries = list(Path(cache).glob("images/*/features.npz"))
    assert len(entries) == 1, entries
    return entries[0]


def same_arrays(a, b):
    with np.load(a) as za, np.load(b) as zb:
        assert sorted(za.files) == sorted(zb.files)
        for k in za.files: assert np.array_equal(za[k], zb[k]), k


def test_ray_session_keeps_a_cluster_it_did_not_start():
    with ray_session() as r: assert r.is_initialized()
    assert ray.is_initialized()


def test_features_cache_equals_local(images, tmp_path):
    folder, shards = images
    for source in (folder, f"{shards}/part-{{000000..000001}}.tar"):
        far = features_cli(source, tmp_path / f"ray-{Path(str(source)).name}", "--engine", "ray", "--actors", 2)
        near = features_cli(source, tmp_path / f"local-{Path(str(source)).name}")
        assert far.parent.name == near.parent.name  # one fingerprint: the same cache entry
        same_arrays(far, near)
        with np.load(far) as z: assert (len(z["ok"]), z["ok"].sum()) == (22, 21)  # the unreadable one is recorded, skipped


def test_graph_equals_single_process_and_resumes(tmp_path):
    data = make_vl_blobs(n_samples=1500, n_clusters=6, dim=32, n_nouns=120, n_prompts=2, random_state=0)
    x, t = data.image_features, data.prompt_text_features
    local = ntk_topk(x, t, knn=15, block_size=256)
    far = ray_ntk_topk(x, t, knn=15, block_size=256, shard_dir=tmp_path)
    assert np.array_equal(far[0], local[0]) and np.array_equal(far[1], local[1])
    shards = sorted(tmp_path.rglob("chunk_*.npz"))
    assert len(shards) == 6  # 1500 rows in row blocks of one 256-row tile
    stamps = {p: p.stat().st_mtime_ns for p in shards}
    shards[2].write_bytes(b"cut short")  # an interrupted write: that block alone is recomputed
    again = ray_ntk_topk(x, t, knn=15, block_size=256, shard_dir=tmp_path)
    assert np.array_equal(again[0], local[0]) and np.array_equal(again[1], local[1])
    assert all(p.stat().st_mtime_ns == stamps[p] for p in shards if p != shards[2])
    wider = ray_ntk_topk(x, t, knn=15, block_size=256, rows_per_task=768)  # another split, the same lists
    assert np.array_equal(wider[1], local[1])


def test_estimator_engine_ray_same_labels():
    data = make_vl_blobs(n_samples=600, n_clusters=5, dim=32, n_nouns=80, n_prompts=3, random_state=1)
    fits = [NTKSpectralClustering(5, text_features=data.prompt_text_features, variant="pe", engine=e).fit(data.image_features)
            for e in ("local", "ray")]
    assert np.array_equal(fits[0].labels_, fits[1].labels_)
    assert (fits[0].affinity_ != fits[1].affinity_).nnz == 0
