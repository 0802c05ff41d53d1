"""Benchmarks of training a two-layer ReLU net: one step, and whole loops.

The ``fit`` sizes are the performance targets': a tiny net for 10,000 steps, a
small one for 5,000, the tutorial's 128×1000→100→1 for 500 and a large one for 20.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import neurust as nr


@pytest.mark.parametrize("size", ["4x3x8x1", "128x1000x100x1"])
def test_train_step(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    bench(backend, "train_step", size)


@pytest.mark.parametrize(
    "size", ["4x3x8x1:10000", "64x16x32x1:5000", "128x1000x100x1:500", "1kx1kx1kx10:20"]
)
def test_fit(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    bench(backend, "fit", size)
