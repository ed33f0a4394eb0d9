import os
os.environ.setdefault("MPLBACKEND", "Agg")
# Two pytest-xdist workers on 2 cores: one BLAS/torch thread each, or they oversubscribe and crawl.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch
    torch.set_num_threads(1)


FIRST = ("test_audited_chapters_hold", "test_install_keeps_the_torch")  # the longest single tests: never the tail


def pytest_collection_modifyitems(config, items):
    """The longest single tests start first; the book's build runs last: by then the notebook tests have left every
    chapter's executed page in .cache/book/."""
    items.sort(key=lambda item: -1 if any(n in item.nodeid for n in FIRST) else "test_book_in_a_browser" in item.nodeid)
