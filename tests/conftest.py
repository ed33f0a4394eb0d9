import os
os.environ.setdefault("MPLBACKEND", "Agg")
# Two pytest-xdist workers on 2 cores: one BLAS/torch thread each, or they oversubscribe and crawl.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch
    torch.set_num_threads(1)
