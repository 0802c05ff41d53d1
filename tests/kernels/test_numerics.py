"""Sigmoid never overflows, huge values give inf rather than a crash, float32 agrees with
float64, and no kernel leaves flush-to-zero on for the caller."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import neurust as nr
from support.kernel_calls import (
    ELEMENTWISE,
    GRADIENTS,
    KERNELS,
    LARGE,
    normal,
    rng,
)
from support.reference import ELEMENTWISE as REFERENCE_ELEMENTWISE
from support.reference import RTOL, public_kernel

# --- numerics ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_sigmoid_never_overflows_for_large_negative_inputs(dtype: Any) -> None:
    info = np.finfo(dtype)
    x = np.array([-info.max, -1e4, -800, -745, -120, -88, -30, -np.inf], dtype)
    with np.errstate(all="raise"):
        s = nr.sigmoid(x)
        grad = nr.sigmoid_grad(x, np.ones_like(x))
    assert np.all(np.isfinite(s)) and np.all(s >= 0) and np.all(s <= 1)
    assert np.all(np.isfinite(grad)) and np.all(grad >= 0)
    # where exp(x) is representable, sigmoid(x) ≈ exp(x) with full relative precision
    normal_range = np.exp(x.astype(np.float64)) > info.smallest_normal
    expected = np.exp(x.astype(np.float64))[normal_range]
    np.testing.assert_allclose(s[normal_range], expected, rtol=RTOL[np.dtype(dtype)] * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_sigmoid_saturates_exactly_at_the_extremes(dtype: Any) -> None:
    info = np.finfo(dtype)
    s = nr.sigmoid(np.array([-np.inf, -info.max, 0.0, info.max, np.inf], dtype))
    np.testing.assert_array_equal(s, np.array([0.0, 0.0, 0.5, 1.0, 1.0], dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_sums_of_huge_values_are_inf_not_a_crash(dtype: Any) -> None:
    huge = np.finfo(dtype).max
    assert nr.weighted_sum(np.full(3, huge, dtype), np.full(3, 10, dtype)) == np.inf
    assert nr.weighted_sum(np.full((2, 3), huge, dtype), np.full(3, -2, dtype)).tolist() == [
        -np.inf,
        -np.inf,
    ]
    assert np.all(nr.linear(np.full((2, 3), huge, dtype), np.full((3, 2), 4, dtype)) == np.inf)
    large = nr.linear(np.full((300, 300), huge, dtype), np.full((300, 300), 4, dtype))
    assert np.all(large == np.inf)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_float32_and_float64_agree_within_float32_tolerance(kernel: str) -> None:
    wide = KERNELS[kernel](LARGE, np.float64, 30)
    narrow = tuple(a.astype(np.float32) for a in wide)
    expected = np.asarray(public_kernel(kernel)(*(a.astype(np.float64) for a in narrow)))
    actual = np.asarray(public_kernel(kernel)(*narrow))
    assert actual.dtype == np.float32
    scale = np.abs(expected).max() if kernel in ("weighted_sum", "linear") else 1.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL[np.dtype(np.float32)], atol=1e-5 * scale)


def special(size: int, dtype: Any, seed: int) -> np.ndarray:
    """Normal values with NaN, ±inf, ±0, subnormals and the extremes sprinkled in."""
    info = np.finfo(dtype)
    values = normal(size, dtype, seed)
    specials = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, info.smallest_subnormal, info.max, -info.max, -800],
        dtype,
    )
    picks = rng(seed + 100).integers(0, size, size // 10)
    values[picks] = specials[np.arange(picks.size) % specials.size]
    return values


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_elementwise_kernel_on_large_input_with_special_values_matches_numpy(
    kernel: str, dtype: Any
) -> None:
    arguments = [special(LARGE, dtype, seed) for seed in range(2 if kernel in GRADIENTS else 1)]
    reference, _ = REFERENCE_ELEMENTWISE[kernel]
    with np.errstate(all="ignore"):
        expected = reference(*arguments).astype(dtype)
    actual = public_kernel(kernel)(*arguments)
    if kernel in ("relu", "step", "relu_grad"):
        np.testing.assert_array_equal(actual, expected)  # exact, NaN where numpy has NaN
    else:
        scale = 1.0 if kernel == "sigmoid" else np.abs(arguments[1][np.isfinite(arguments[1])])
        atol = RTOL[np.dtype(dtype)] * (scale if np.isscalar(scale) else scale.max())
        finite = np.isfinite(expected)
        np.testing.assert_allclose(actual[finite], expected[finite], RTOL[np.dtype(dtype)], atol)
        assert np.array_equal(np.isnan(actual), np.isnan(expected) | (~finite & np.isnan(actual)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_weighted_sum_of_large_rows_with_special_values_propagates_nan_and_inf(
    dtype: Any,
) -> None:
    inputs = special(64 * 4096, dtype, 1).reshape(4096, 64)
    weights = normal(64, dtype, 2)
    actual = nr.weighted_sum(inputs, weights)
    with np.errstate(all="ignore"):
        terms = inputs.astype(np.longdouble) * weights
    nan_rows = np.isnan(terms).any(1) | (np.isposinf(terms).any(1) & np.isneginf(terms).any(1))
    assert np.isnan(actual[nan_rows]).all()
    # rows whose finite terms cannot overflow in any order: the infinite term decides
    finite_part = np.where(np.isfinite(terms), np.abs(terms), 0).sum(1)
    inf_rows = ~nan_rows & np.isinf(terms).any(1) & (finite_part <= np.finfo(dtype).max / 2)
    assert inf_rows.sum() > 100
    np.testing.assert_array_equal(actual[inf_rows], terms[inf_rows].sum(1).astype(dtype))


def test_kernels_leave_subnormal_arithmetic_working_for_the_caller() -> None:
    # a kernel (or the GEMM crate) that set flush-to-zero on the calling thread would make
    # numpy, and the next call, round subnormals to zero
    nr.linear(normal((300, 300)), normal((300, 300)))
    nr.sigmoid(normal(LARGE))
    tiny = np.float64(5e-324)
    assert tiny * np.float64(1.0) == tiny
    assert nr.weighted_sum(np.array([tiny]), np.array([1.0])) == tiny
    assert nr.relu_grad(np.array([1.0]), np.array([tiny]))[0] == tiny
