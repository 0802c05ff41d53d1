"""Benchmarks of a dense layer, x @ W + b: GEMM from call-overhead-bound to compute-bound.

The 4096³ product of the performance targets takes seconds per call; run it with
``neurust compare --workloads linear --sizes linear=4k --dtype float64,float32``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import neurust as nr


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("size", ["4", "64", "256", "1k"])
def test_linear(bench: Callable[..., None], backend: nr.Backend, size: str, dtype: str) -> None:
    bench(backend, "linear", size, dtype)
