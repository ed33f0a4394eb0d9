"""The package installs beside the torch a machine already has (Colab, the GPU machines), and the quick start runs there.

`settings.ini` asks for version ranges (`torch>=2.9`, `torchvision>=0.24`, ...); the exact tested set that `make` and
CI install lives in `requirements-lock.txt`. This slow test makes a fresh environment holding another torch /
torchvision pair, the one the project's GPU machines carry (2.11 / 0.26, CUDA builds), installs this clone into it
with plain `pip install` as a Colab user would, and checks that pip kept that pair and that the README's example runs.
It downloads and installs a few GB (about 3 minutes here), so it runs only with LAIC_TEST_FLAGS=slow.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_readme import OFFLINE, README, code_blocks  # noqa: E402  (the README's own example, run the way its test runs it)

SLOW = "slow" in os.environ.get("LAIC_TEST_FLAGS", "").split()
THEIRS = {"torch": "2.11.0", "torchvision": "0.26.0"}  # what the GPU machines have: another pair than the lock's


def pip(py, *args, **kw):
    res = subprocess.run([str(py), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"pip {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def test_lock_pins_what_the_ranges_allow():
    "The tested set satisfies the library's own ranges (a lock that contradicts them would test another package)."
    from packaging.requirements import Requirement
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=["="]); cfg.read(ROOT / "settings.ini")
    lock = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", (ROOT / "requirements-lock.txt").read_text(), re.M))
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
    lock = {norm(k): v for k, v in lock.items()}
    for spec in cfg["DEFAULT"]["requirements"].split():
        req = Requirement(spec)
        assert norm(req.name) in lock, f"{req.name} is required but not in requirements-lock.txt"
        assert req.specifier.contains(lock[norm(req.name)], prereleases=True), f"the lock's {req.name} {lock[norm(req.name)]} is outside {req}"


@pytest.mark.skipif(not SLOW, reason="installs torch into a fresh environment (a few GB, about 3 minutes): LAIC_TEST_FLAGS=slow")
def test_install_keeps_the_torch_already_there(tmp_path):
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    pip(py, "install", "-q", *(f"{k}=={v}" for k, v in THEIRS.items()))
    out = pip(py, "install", str(ROOT))  # what the book's install cell does, from a clone instead of GitHub
    print("\n".join(l for l in out.splitlines() if re.search(r"\btorch(vision)?\b", l) and "Downloading" not in l))
    assert not re.search(r"Uninstalling (torch|torchvision)-", out), "pip replaced the environment's torch"
    got = subprocess.run([str(py), "-c", "import torch, torchvision, laic_nb; print(torch.__version__, torchvision.__version__)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert [v.split("+")[0] for v in got] == list(THEIRS.values()), got
    for code in code_blocks(README.read_text(encoding="utf-8"), "python"):  # the quick start, outside the clone
        res = subprocess.run([str(py), "-c", code], cwd=tmp_path, env=dict(os.environ, MPLBACKEND="Agg", **OFFLINE),
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0 and res.stdout.strip(), res.stderr[-3000:]
