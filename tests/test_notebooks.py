"""Run every notebook in nbs/ as one pytest test (what `nbdev_test` does, with a summary line).

Flags: cells marked `#| slow` run when LAIC_TEST_FLAGS contains `slow` (CI sets it);
`#| gpu` cells run only when it contains `gpu` and a GPU is present.

When the flags are the book's (`slow` forced: only `notest` and `gpu` cells are skipped), a chapter is executed
the way `tools/book.py` executes it, in a fresh process, and its executed page is kept in `.cache/book/`: the
book's build (`tests/test_book.py`, ordered last by `conftest.py`) then reuses it instead of running every
chapter a second time. A failing cell fails the test with the chapter's traceback either way.
"""
import os
import sys
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook  # renamed so pytest does not collect it

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
NOTEBOOKS = sorted(p for p in NBS.rglob("*.ipynb") if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts))
TST_FLAGS = {"notest", "gpu", "slow"}  # as in settings.ini
FORCE = set(os.environ.get("LAIC_TEST_FLAGS", "").split())
sys.path.insert(0, str(ROOT))
from tools import book  # noqa: E402  (the repository's book builder)

AS_THE_BOOK = TST_FLAGS - FORCE == set(book.SKIP_FLAGS)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb):
    if AS_THE_BOOK and book._re_chapter.match(nb.name) and nb.parent == NBS:
        book.cached_page(nb)  # raises with the failing cell's traceback
        return
    ok, secs = run_notebook(nb, skip_flags=sorted(TST_FLAGS - FORCE), do_print=False, basepath=NBS.parent)
    assert ok, f"{nb.name} failed (run it with `nbdev_test --path {nb}` to see the traceback)"
