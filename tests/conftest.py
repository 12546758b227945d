"""Unit tests run one torch thread per pytest worker: xdist already uses both cores, and small batched
kernels slow down badly when two workers' thread pools fight over two cores."""

import os

os.environ.setdefault("RELML_THREADS", "1")

from relml.runtime import set_threads  # noqa: E402

set_threads()
