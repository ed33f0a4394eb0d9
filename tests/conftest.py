import os
os.environ.setdefault("MPLBACKEND", "Agg")
# Two pytest-xdist workers on 2 cores: one BLAS/torch thread each, or they oversubscribe and crawl.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch
    torch.set_num_threads(1)

import sys
from pathlib import Path

import numpy as np
import pytest


FIRST = ("test_audited_chapters_hold", "test_install_keeps_the_torch")  # the longest single tests: never the tail


def pytest_collection_modifyitems(config, items):
    """The longest single tests start first; the book's build runs last: by then the notebook tests have left every
    chapter's executed page in .cache/book/."""
    items.sort(key=lambda item: -1 if any(n in item.nodeid for n in FIRST) else "test_book_in_a_browser" in item.nodeid)


def laic_cmd(*args) -> list[str]: # the argv of a `laic` call, for `subprocess`
    "The installed console script `laic` when present, else the same entry point through this interpreter (`from conftest import laic_cmd`)."
    script = Path(sys.executable).parent / "laic"
    head = [str(script)] if script.exists() else [sys.executable, "-c", "from laic_nb.cli import main; raise SystemExit(main())"]
    return head + [str(a) for a in args]


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """A factory of small generated image folders: `image_folder(classes, n_per_class, suffix)` writes a new folder
    with one subfolder per class of `n_per_class` images `00.png`, `01.png`, ... (32 x 32, seeded) and returns it.
    Class `c` is noise in [0, 70) with channel `c % 3` raised by 180: a colour even the tiny random-weights model
    separates. Session-scoped so that module-scoped fixtures can call it; every call makes a fresh folder (callers
    add or change files in theirs)."""
    from PIL import Image

    def make(classes, # the class folders' names
             n_per_class: int, # images per class
             suffix: str = ".png", # the image format, by file suffix (".jpg", ".png")
             size: int = 32, # width and height in pixels
             seed: int = 0, # seed of the pixels
             ) -> Path: # the new folder
        root = tmp_path_factory.mktemp("imgs")
        rng = np.random.default_rng(seed)
        for c, cls in enumerate(classes):
            (root / cls).mkdir()
            for i in range(n_per_class):
                a = rng.integers(0, 70, (size, size, 3))
                a[..., c % 3] += 180
                Image.fromarray(a.astype(np.uint8)).save(root / cls / f"{i:02d}{suffix}")
        return root
    return make


@pytest.fixture(scope="session")
def chromium():
    """Path of a headless Chromium for the tests that open pages in a browser. When none is on the PATH and the tests
    run as root, Debian's `chromium` is installed with apt-get (waiting for the dpkg lock: two pytest-xdist workers
    may ask at once); otherwise the test is skipped, except in CI (env CI=true), where a missing browser fails it."""
    import shutil
    import subprocess

    from laic_nb.gallery import find_chromium as find

    if exe := find(): return exe
    missing = pytest.fail if os.environ.get("CI", "").lower() == "true" else pytest.skip
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        missing("chromium is not installed and the tests do not run as root: apt-get install -y chromium")
    if shutil.which("apt-get") is None:
        missing("chromium is not installed and there is no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600", "chromium"]
    res = subprocess.run(install, capture_output=True, text=True, env=env)
    if res.returncode != 0:  # stale package lists on a fresh machine
        subprocess.run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=600"], capture_output=True, text=True, env=env)
        res = subprocess.run(install, capture_output=True, text=True, env=env)
    if (exe := find()) is None: pytest.fail(f"apt-get install chromium failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return exe
