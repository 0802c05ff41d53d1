"""Results do not depend on the thread count: 1 and 2 threads give the same bits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support.reference import ELEMENTWISE, public_kernel

LARGE = 2_000_003  # far above any threading cut-off, and not a multiple of a chunk size


def random(shape: tuple[int, ...], dtype: np.dtype, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 3.0, size=shape).astype(dtype)


def with_threads(count: int, function: Callable[..., Any], *arguments: Any) -> np.ndarray:
    nr.set_num_threads(count)
    return np.asarray(function(*arguments))


def assert_same_bits(one_thread: np.ndarray, two_threads: np.ndarray) -> None:
    assert one_thread.dtype == two_threads.dtype
    assert one_thread.shape == two_threads.shape
    assert one_thread.tobytes() == two_threads.tobytes()


def assert_thread_count_independent(function: Callable[..., Any], *arguments: Any) -> None:
    assert_same_bits(with_threads(1, function, *arguments), with_threads(2, function, *arguments))


def test_set_num_threads_sets_what_get_num_threads_reports(restore_threads: None) -> None:
    nr.set_num_threads(1)
    assert nr.get_num_threads() == 1
    nr.set_num_threads(2)
    assert nr.get_num_threads() == 2


def test_build_info_reports_the_thread_count(restore_threads: None) -> None:
    nr.set_num_threads(2)
    assert nr.build_info()["num_threads"] == 2


def test_elementwise_kernel_is_thread_count_independent(
    restore_threads: None, elementwise_kernel: str, dtype: np.dtype
) -> None:
    _, arity = ELEMENTWISE[elementwise_kernel]
    arguments = [random((LARGE,), dtype, seed) for seed in range(arity)]
    assert_thread_count_independent(public_kernel(elementwise_kernel), *arguments)


def test_elementwise_kernel_with_out_is_thread_count_independent(
    restore_threads: None, elementwise_kernel: str, dtype: np.dtype
) -> None:
    _, arity = ELEMENTWISE[elementwise_kernel]
    arguments = [random((LARGE,), dtype, seed) for seed in range(arity)]

    def into_new_out(*arguments: np.ndarray) -> np.ndarray:
        return public_kernel(elementwise_kernel)(*arguments, out=np.empty_like(arguments[0]))

    assert_thread_count_independent(into_new_out, *arguments)


def test_weighted_sum_of_long_vectors_is_thread_count_independent(
    restore_threads: None, dtype: np.dtype
) -> None:
    inputs, weights = random((LARGE,), dtype, 0), random((LARGE,), dtype, 1)
    assert_thread_count_independent(nr.weighted_sum, inputs, weights)


@pytest.mark.parametrize("shape", [(2000, 1001), (3, 700_001)], ids=["tall", "wide"])
def test_weighted_sum_of_matrix_is_thread_count_independent(
    restore_threads: None, dtype: np.dtype, shape: tuple[int, int]
) -> None:
    inputs, weights = random(shape, dtype, 0), random(shape[1:], dtype, 1)
    assert_thread_count_independent(nr.weighted_sum, inputs, weights)


def test_weighted_sum_of_strided_vectors_is_thread_count_independent(
    restore_threads: None, dtype: np.dtype
) -> None:
    inputs, weights = random((2 * LARGE,), dtype, 0)[::2], random((2 * LARGE,), dtype, 1)[::2]
    assert_thread_count_independent(nr.weighted_sum, inputs, weights)


def test_linear_is_thread_count_independent(restore_threads: None, dtype: np.dtype) -> None:
    x, weights = random((512, 300), dtype, 0), random((300, 257), dtype, 1)
    bias = random((257,), dtype, 2)
    assert_thread_count_independent(nr.linear, x, weights, bias)


@pytest.mark.parametrize(
    ("rows", "inner", "cols"),
    [
        (1000, 777, 513),  # OpenBLAS's own threading changes these bits
        (130, 1000, 100),  # the tutorial network's layer: few rows to cut
        (37, 600, 2000),  # wide: the cut falls along columns where it can
    ],
)
def test_large_products_are_thread_count_independent(
    restore_threads: None, dtype: np.dtype, rows: int, inner: int, cols: int
) -> None:
    x, weights = random((rows, inner), dtype, 3), random((inner, cols), dtype, 4)
    assert_thread_count_independent(nr.linear, x, weights)


def test_training_is_thread_count_independent(restore_threads: None, dtype: np.dtype) -> None:
    # Large enough that every product of the forward and backward passes
    # (transposed operands included) is split over threads.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((256, 700)).astype(dtype)
    y = rng.standard_normal((256, 3)).astype(dtype)

    def train() -> np.ndarray:
        net = nr.TwoLayerNet(700, 300, 3, seed=6, dtype=dtype)
        history = net.fit(x, y, steps=3, lr=1e-5)
        gradients = net.gradients(x, y)
        parameters = net.parameters()
        return np.concatenate(
            [np.ravel(history)]
            + [np.ravel(gradients[name]) for name in sorted(gradients)]
            + [np.ravel(parameters[name]) for name in sorted(parameters)]
        )

    assert_thread_count_independent(train)
