"""The kernels' result dtype follows numpy's promotion for every pair of input dtypes.

numpy's answer is read from numpy itself (``np.dot``, arithmetic, ufuncs with
``out=``), never from neurust's rule. Where numpy's result is an integer or a
bool, neurust computes in float64 (as numpy does for ``ints * 1.0``); where it
is float16, neurust refuses with a TypeError naming the argument, since it
computes float32 and float64 only.

The compiled binding applies ``neurust._convert.as_float_arrays`` (tested here
directly) to all the arguments together whenever one is not already a
float32/float64 array, and casts into ``out=`` as numpy's ``same_kind`` rule
allows.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust._convert import as_float_arrays
from support.fuzzing import NUMERIC_DTYPES
from support.reference import public_kernel

# The fuzzers' numeric dtypes less those of no fixed width or not real
# (longdouble, the complex types).
DTYPES = [d for d in NUMERIC_DTYPES if d.kind in "biuf" and d != np.dtype(np.longdouble)]
PAIRS = list(itertools.product(DTYPES, DTYPES))
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def values(dtype: np.dtype, n: int = 4) -> np.ndarray:
    """Small values every dtype holds exactly."""
    if dtype.kind == "b":
        return np.array([True, False, True, True][:n])
    start = 0 if dtype.kind == "u" else -1
    return np.arange(start, start + n).astype(dtype)


def numpy_float(dtype: np.dtype) -> np.dtype:
    """numpy's result dtype as neurust returns it: integers and bools in float64."""
    return dtype if dtype.kind == "f" else F64


def case(*dtypes: np.dtype) -> Any:
    return pytest.param(*dtypes, id="-".join(d.name for d in dtypes))


def check(result: Any, expected_dtype: np.dtype, expected: np.ndarray) -> None:
    result = np.asarray(result)
    assert result.dtype == expected_dtype
    rtol = 1e-6 if expected_dtype == F32 else 1e-12
    np.testing.assert_allclose(result, expected.astype(expected_dtype), rtol=rtol, atol=rtol)


def dot_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    return numpy_float(np.dot(values(a), values(b)).dtype)


def arithmetic_dtype(a: np.dtype, b: np.dtype) -> np.dtype:
    return numpy_float((values(a) * values(b)).dtype)


# --- the rule, in Python -------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=lambda d: d.name)
def test_as_float_arrays_follows_numpy(a: np.dtype, b: np.dtype) -> None:
    expected = dot_dtype(a, b)
    if expected not in (F32, F64):
        with pytest.raises(TypeError, match=r"float16.*neurust computes float32 and float64"):
            as_float_arrays([(values(a), "x"), (values(b), "y")])
        return
    converted = as_float_arrays([(values(a), "x"), (values(b), "y")])
    assert [array.dtype for array in converted] == [expected, expected]
    assert all(array.flags.c_contiguous and array.flags.aligned for array in converted)


# --- the kernels ---------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [case(a, b) for a, b in PAIRS])
def test_weighted_sum_follows_numpy(a: np.dtype, b: np.dtype) -> None:
    expected = dot_dtype(a, b)
    inputs, weights = values(a).reshape(1, 4), values(b)
    if expected not in (F32, F64):
        with pytest.raises(TypeError, match="float16"):
            nr.weighted_sum(inputs, weights)
        return
    reference = np.dot(inputs.astype(np.float64), weights.astype(np.float64))  # bools: not OR
    check(nr.weighted_sum(inputs, weights), expected, reference)


@pytest.mark.parametrize(("a", "b"), [case(a, b) for a, b in PAIRS])
def test_linear_follows_numpy(a: np.dtype, b: np.dtype) -> None:
    expected = dot_dtype(a, b)
    x, weights = values(a).reshape(1, 4), values(b).reshape(4, 1)
    if expected not in (F32, F64):
        with pytest.raises(TypeError, match="float16"):
            nr.linear(x, weights)
        return
    check(nr.linear(x, weights), expected, x.astype(np.float64) @ weights.astype(np.float64))


@pytest.mark.parametrize("kernel", ["relu_grad", "sigmoid_grad"])
@pytest.mark.parametrize(("a", "b"), [case(a, b) for a, b in PAIRS])
def test_gradients_follow_numpy(kernel: str, a: np.dtype, b: np.dtype) -> None:
    expected = arithmetic_dtype(a, b)
    x, grad = values(a), values(b)
    if expected not in (F32, F64):
        with pytest.raises(TypeError, match="float16"):
            public_kernel(kernel)(x, grad)
        return
    xf = x.astype(np.float64)
    if kernel == "relu_grad":
        reference = np.where(xf > 0, grad, 0.0)
    else:
        s = 1 / (1 + np.exp(-xf))
        reference = grad * s * (1 - s)
    check(public_kernel(kernel)(x, grad), expected, reference)


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "step": lambda x: np.heaviside(x, 0.0),
}


@pytest.mark.parametrize("kernel", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_activations_follow_numpy(kernel: str, dtype: np.dtype) -> None:
    x = values(dtype)
    expected = numpy_float(np.maximum(x, 0.0).dtype)
    if expected not in (F32, F64):
        with pytest.raises(TypeError, match="x has dtype float16"):
            public_kernel(kernel)(x)
        return
    check(public_kernel(kernel)(x), expected, ACTIVATIONS[kernel](x.astype(np.float64)))


def out_case(kernel: str, a: np.dtype, out: np.dtype) -> Any:
    """relu(x, out=) is accepted exactly when numpy's ufunc accepts it (same_kind casting)."""
    return pytest.param(kernel, a, out, id=f"{kernel}-{a.name}-out-{out.name}")


@pytest.mark.parametrize(
    ("kernel", "a", "out"),
    [out_case(k, a, out) for k in ACTIVATIONS for a in DTYPES if a != np.float16 for out in DTYPES],
)
def test_out_accepts_what_numpy_casts_into(kernel: str, a: np.dtype, out: np.dtype) -> None:
    x = values(a)
    reference = np.empty(x.shape, out)
    try:
        with np.errstate(all="ignore"):
            if kernel == "step":
                np.heaviside(x.astype(numpy_float(x.dtype)), 0.0, out=reference)
            else:
                ufunc = np.maximum if kernel == "relu" else None
                if ufunc is not None:
                    ufunc(x, 0.0, out=reference)
                else:
                    np.divide(1, 1 + np.exp(-x.astype(numpy_float(x.dtype))), out=reference)
    except TypeError:
        with pytest.raises((TypeError, ValueError), match="out"):
            public_kernel(kernel)(x, out=np.empty(x.shape, out))
        return
    target = np.empty(x.shape, out)
    result = public_kernel(kernel)(x, out=target)
    assert result is target
    rtol = 1e-3 if out == np.float16 else 1e-6
    np.testing.assert_allclose(target.astype(np.float64), reference.astype(np.float64), rtol=rtol)


@pytest.mark.parametrize("out", [">f8", "<f8", ">f4", "float16", "longdouble", "complex128"])
def test_out_in_another_byte_order_or_float_type_receives_the_cast_result(out: str) -> None:
    x = np.array([-1.5, 0.0, 2.25])
    target = np.full(3, 7, out)
    assert nr.relu(x, out=target) is target
    np.testing.assert_array_equal(target, np.maximum(x, 0.0).astype(out))
    assert nr.relu_grad(x, x, out=target) is target
    np.testing.assert_array_equal(target, np.where(x > 0, x, 0.0).astype(out))
