"""The GPU chapters open in Colab: each has one link to its own notebook on GitHub (from settings.ini's git_url and
branch) and, as its first code cell, an install cell that acts only on Colab. Off Colab the cell does nothing and
reaches no network; on Colab it installs the package from git_url with the runtime's torch and torchvision pinned
as constraints, so pip cannot replace them. No notebook carries a Colab link other than its own."""
import configparser
import importlib.metadata
import json
import re
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
GPU_CHAPTERS = ("04_clip", "07_features", "08b_knn", "09_ntk", "11_rad", "13_cluster", "15_centers", "18b_benchmark",
                "21_exp_paper_tables", "22_exp_ablations", "23_exp_prompts", "24_exp_auto_k", "25_exp_real",
                "30_performance", "31_scale")
_cfg = configparser.ConfigParser(); _cfg.read(ROOT / "settings.ini")
GIT_URL, BRANCH = _cfg["DEFAULT"]["git_url"], _cfg["DEFAULT"]["branch"]
COLAB = re.compile(r"https://colab\.research\.google\.com/[^\s)\"'>]*")


def colab_url(stem: str) -> str:
    return f"https://colab.research.google.com/github/{GIT_URL.split('github.com/')[1]}/blob/{BRANCH}/nbs/{stem}.ipynb"


def cells(stem: str) -> list:
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads((NBS / f"{stem}.ipynb").read_text())["cells"]]


def install_cell(stem: str) -> str:
    code = [s for kind, s in cells(stem) if kind == "code" and not s.startswith("#| default_exp")]
    return code[0]


@pytest.mark.parametrize("stem", GPU_CHAPTERS)
def test_gpu_chapter_has_its_link_and_install_cell(stem):
    assert (NBS / f"{stem}.ipynb").exists()
    links = [u for _, s in cells(stem) for u in COLAB.findall(s)]
    assert links == [colab_url(stem)], links
    first_md = [s for kind, s in cells(stem) if kind == "markdown"][:2]
    assert colab_url(stem) in first_md[1], "the link comes right after the title"
    src = install_cell(stem)
    assert 'if "google.colab" in sys.modules:' in src and f"laic_nb @ git+{GIT_URL}@{BRANCH}" in src


def test_no_other_colab_links():
    "Any Colab link in any notebook is that notebook's own (the lead adds the chapters it owns the same way)."
    for nb in sorted(NBS.glob("*.ipynb")):
        for u in COLAB.findall(nb.read_text()):
            assert u == colab_url(nb.stem), (nb.name, u)


def test_no_unguarded_install_left():
    "The experiment chapters' GPU cells no longer install the package themselves (the guarded cell does, keeping torch)."
    for nb in sorted(NBS.glob("*.ipynb")):
        assert "!pip install -q \"laic_nb @ git+" not in nb.read_text(), nb.name


def test_install_cell_does_nothing_off_colab(monkeypatch):
    def refuse(*a, **kw): raise AssertionError(f"the install cell acted off Colab: {a[:1]}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    for stem in GPU_CHAPTERS: exec(install_cell(stem), {})


def test_install_cell_on_colab_keeps_torch(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    exec(install_cell("09_ntk"), {})
    (cmd,) = calls
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"] and cmd[-1] == f"laic_nb @ git+{GIT_URL}@{BRANCH}"
    pins = Path(cmd[cmd.index("-c") + 1]).read_text().split()
    assert pins == [f"torch=={importlib.metadata.version('torch')}", f"torchvision=={importlib.metadata.version('torchvision')}"]
