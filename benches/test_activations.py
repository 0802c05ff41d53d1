"""Benchmarks of the activations: per-call overhead at 4 elements, bandwidth at millions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import neurust as nr


@pytest.mark.parametrize("size", ["4", "64k", "1M"])
def test_relu(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    bench(backend, "relu", size)


@pytest.mark.parametrize("size", ["4", "64k", "1M"])
def test_sigmoid(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    bench(backend, "sigmoid", size)


@pytest.mark.parametrize("size", ["16M"])
def test_relu_out(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    """relu into a preallocated array: compare with test_copy, the bandwidth ceiling."""
    bench(backend, "relu_out", size)


@pytest.mark.parametrize("size", ["16M"])
def test_copy(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    bench(backend, "copy", size)


@pytest.mark.parametrize("size", ["64k", "1M"])
def test_sigmoid_float32(bench: Callable[..., None], backend: nr.Backend, size: str) -> None:
    """float32 sigmoid: neurust's float32 kernel beside torch's at the sizes torch splits."""
    bench(backend, "sigmoid", size, "float32")
