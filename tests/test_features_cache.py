"""The feature cache: a killed `laic features` resumes and ends equal to an uninterrupted run; a
mismatching cache entry is refused; changed images are never served from the cache.

Uses a small generated folder and the tiny random-weights model `laic-tiny` (no data from
../shared, no network)."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import laic_cmd
from laic_nb.images import ImageFolder
from laic_nb.clip import load_clip
from laic_nb.features import extract_image_features, extract_text_features

N_PER_CLASS, CLASSES, CHUNK = 10, ("a", "b", "c", "d"), 4  # 40 images -> 10 chunks


@pytest.fixture(scope="module")
def folder(image_folder):
    "40 PNGs in 4 class folders (conftest's `image_folder`)."
    return image_folder(CLASSES, N_PER_CLASS, ".png")


def entry_dir(cache: Path) -> Path:
    dirs = list((cache / "images").glob("*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def final_arrays(cache: Path) -> dict:
    with np.load(entry_dir(cache) / "features.npz") as z:
        return {k: z[k] for k in z.files}


def features_args(folder, cache):
    return ["features", folder, "--model", "laic-tiny", "--pretrained", "none", "--cache", cache,
            "--chunk-size", CHUNK, "--quiet"]


def test_kill_and_resume_equals_uninterrupted(folder, tmp_path):
    # reference: one uninterrupted extraction (in-process, same model, data and chunking)
    ref_cache = tmp_path / "ref"
    ref = extract_image_features(load_clip("laic-tiny", pretrained=None), ImageFolder(folder), cache=ref_cache,
                                 chunk_size=CHUNK, progress=False)
    assert ref.features.shape == (40, 64) and ref.stats.computed == 10

    # a run slowed down (LAIC_CHUNK_DELAY, a testing aid) and killed with SIGKILL after a few chunks
    cache = tmp_path / "killed"
    env = dict(os.environ, LAIC_CHUNK_DELAY="0.4", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(laic_cmd(*features_args(folder, cache)), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline, done = time.time() + 120, 0
    while time.time() < deadline and proc.poll() is None:
        chunks = list((cache / "images").glob("*/chunk_*.npz")) if (cache / "images").exists() else []
        if len(chunks) >= 3:
            done = len(chunks)
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted: " + proc.stderr.read().decode()[-500:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    entry = entry_dir(cache)
    left = sorted(p.name for p in entry.glob("chunk_*.npz"))
    assert not (entry / "features.npz").exists(), "killed before the end: no final file yet"
    assert 3 <= len(left) < 10 and len(left) >= done

    # rerun the same command (in-process: same code, no second interpreter start-up): it resumes from the
    # finished chunks, and the result equals the uninterrupted run
    from laic_nb.cli import run_cli
    code, out, err = run_cli(*features_args(folder, cache))
    assert code == 0, err
    assert f"{len(left)} of 10 chunks from the cache, {10 - len(left)} computed" in out, out
    a, b = final_arrays(cache), final_arrays(ref_cache)
    assert a.keys() == b.keys()
    for k in a: np.testing.assert_array_equal(a[k], b[k], err_msg=k)

    # a third run reads the final file only
    code, out, err = run_cli(*features_args(folder, cache))
    assert "10 of 10 chunks from the cache, 0 computed" in out, out


def test_mismatching_cache_is_refused(folder, tmp_path):
    clip = load_clip("laic-tiny", pretrained=None)
    ds = ImageFolder(folder)
    extract_image_features(clip, ds, cache=tmp_path, chunk_size=CHUNK, progress=False)
    meta = entry_dir(tmp_path) / "meta.json"
    m = json.loads(meta.read_text())
    m["description"]["clip"]["weights"] = "openai"  # as if written by another model
    meta.write_text(json.dumps(m))
    with pytest.raises(ValueError, match="written for different inputs"):
        extract_image_features(clip, ds, cache=tmp_path, chunk_size=CHUNK, progress=False)
    from laic_nb.cli import run_cli
    code, out, err = run_cli(*features_args(folder, tmp_path))
    errors = [line for line in err.splitlines() if line.startswith("laic: error:")]  # (a random-weights note precedes it)
    assert code == 2 and len(errors) == 1 and "written for different inputs" in errors[0] and "Traceback" not in err, err


def test_changed_images_and_models_get_new_entries(tmp_path, folder):
    import shutil
    root = tmp_path / "copy"
    shutil.copytree(folder, root)
    clip = load_clip("laic-tiny", pretrained=None)
    r1 = extract_image_features(clip, ImageFolder(root), cache=tmp_path / "c", chunk_size=CHUNK, progress=False)
    img = root / "a" / "00.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)  # new content (and size/mtime)
    r2 = extract_image_features(clip, ImageFolder(root), cache=tmp_path / "c", chunk_size=CHUNK, progress=False)
    assert r2.stats.path != r1.stats.path and r2.stats.resumed == 0
    assert not np.array_equal(r1.features[0], r2.features[0])
    import torch
    other = load_clip("laic-tiny", pretrained=None, seed=1)  # random weights from another seed: another entry
    r3 = extract_image_features(other, ImageFolder(root), cache=tmp_path / "c", chunk_size=CHUNK, progress=False)
    assert r3.stats.path not in (r1.stats.path, r2.stats.path) and r3.stats.resumed == 0
    ckpt = tmp_path / "w.pt"
    torch.save(other.model.state_dict(), ckpt)
    from_file = load_clip("laic-tiny", pretrained=None, checkpoint=ckpt)  # the same weights from a file: keyed by its hash
    r4 = extract_image_features(from_file, ImageFolder(root), cache=tmp_path / "c", chunk_size=CHUNK, progress=False)
    assert r4.stats.path not in (r1.stats.path, r2.stats.path, r3.stats.path)
    np.testing.assert_allclose(r4.features, r3.features, atol=1e-6)


def test_cache_keys_do_not_change(tmp_path):
    # the keys of entries written before the model, cache and decoding code moved to laic_nb.clip, laic_nb.cache and
    # laic_nb.datasets (with the tested open_clip and torchvision, whose preprocessing repr is in the key):
    # a user's existing cache must still be found
    import open_clip, torchvision
    lock = (Path(__file__).resolve().parents[1] / "requirements-lock.txt").read_text()
    if f"open_clip_torch=={open_clip.__version__}" not in lock or f"torchvision=={torchvision.__version__.split('+')[0]}" not in lock:
        pytest.skip("the keys include open_clip's and torchvision's preprocessing repr: known for the versions of requirements-lock.txt")
    clip = load_clip("laic-tiny", pretrained=None)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(7)]
    r = extract_image_features(clip, arrays, cache=tmp_path, chunk_size=3, progress=False)
    assert Path(r.stats.path).relative_to(tmp_path).parts == ("images", "05099ff1a1e86d7cab243760")
    nouns = ["dog", "cat", "ice cream", "hot-air balloon", "a", "container ship", "the quick brown fox jumps"]
    extract_text_features(clip, nouns, ["itap of a {}.", "a photo of the small {}.", "art of the {}."], cache=tmp_path,
                          chunk_size=3, progress=False)
    assert [p.name for p in (tmp_path / "texts").iterdir()] == ["de0f3f07aa6e7d1e0cc1df8d"]
    assert sorted(p.name for p in (tmp_path / "texts" / "de0f3f07aa6e7d1e0cc1df8d").iterdir()) == ["features.npz", "meta.json"]
