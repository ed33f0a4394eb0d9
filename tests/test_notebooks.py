"""Run every notebook in nbs/ as one pytest test (what `nbdev_test` does, with a summary line).

Flags: cells marked `#| slow` run when LAIC_TEST_FLAGS contains `slow` (CI sets it);
`#| gpu` cells run only when it contains `gpu` and a GPU is present.
"""
import os
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it

NBS = Path(__file__).resolve().parents[1] / "nbs"
NOTEBOOKS = sorted(p for p in NBS.rglob("*.ipynb") if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts))
TST_FLAGS = {"notest", "gpu", "slow"}  # as in settings.ini
FORCE = set(os.environ.get("LAIC_TEST_FLAGS", "").split())


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb):
    ok, secs = run_notebook(nb, skip_flags=sorted(TST_FLAGS - FORCE), do_print=False, basepath=NBS.parent)
    assert ok, f"{nb.name} failed (run it with `nbdev_test --path {nb}` to see the traceback)"
