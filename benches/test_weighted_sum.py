"""Benchmarks of a layer of neurons, matrix · weights: the tutorial's toes data, then larger."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import neurust as nr


@pytest.mark.parametrize("size", ["toes", "64x64", "1kx1k"])
def test_weighted_sum(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    bench(backend, "weighted_sum", size)
