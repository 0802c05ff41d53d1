"""What the right answers are: reference kernels from their definitions, tolerances, layouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import neurust as nr

DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

# Relative tolerance per dtype, stated once: every comparison with the reference uses these.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
SUBNORMAL_SLACK = 64
"""How many of the smallest subnormal spacings any result may be off by."""

# The references below are the definitions, evaluated in longdouble (or by selection,
# which is exact) and rounded once to the inputs' dtype. They are written unlike the
# numpy backend on purpose, so that a slip there is not repeated here.


def _result_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*(np.asarray(a) for a in arrays))


def _wide(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(np.longdouble)


def relu(x: np.ndarray) -> np.ndarray:
    """x where x > 0, else 0; NaN stays NaN."""
    x = np.asarray(x)
    result = np.zeros_like(x)
    np.copyto(result, x, where=(x > 0) | np.isnan(x))
    return result


def relu_grad(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """grad where x > 0, else 0 (also where x is NaN)."""
    result = np.zeros(np.shape(grad), _result_dtype(x, grad))
    np.copyto(result, grad, where=np.asarray(x) > 0)
    return result


def _exact_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) in longdouble, from e^-|x| so that nothing overflows."""
    wide = _wide(x)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        small = np.exp(-np.abs(wide))
        return np.where(wide >= 0, 1 / (1 + small), small / (1 + small))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), rounded once to x's dtype; 0 at -inf, 1 at +inf."""
    return _exact_sigmoid(x).astype(np.asarray(x).dtype)


def sigmoid_grad(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """grad * s * (1 - s) with s = sigmoid(x), that is grad * e^-|x| / (1 + e^-|x|)^2."""
    wide = _wide(x)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        small = np.exp(-np.abs(wide))
        return (_wide(grad) * (small / (1 + small) ** 2)).astype(_result_dtype(x, grad))


def step(x: np.ndarray) -> np.ndarray:
    """1 where x > 0, else 0; NaN stays NaN."""
    x = np.asarray(x)
    return np.where(np.isnan(x), x, (x > 0).astype(x.dtype))


def weighted_sum(inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum over k of inputs[..., k] * weights[k], accumulated in longdouble."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = (_wide(inputs) * _wide(weights)).sum(axis=-1)
    return np.asarray(total).astype(_result_dtype(inputs, weights))


def linear(x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x @ weights (+ bias) as a loop over the inner index, accumulated in longdouble."""
    wide_x, wide_weights = _wide(x), _wide(weights)
    total = np.zeros((*wide_x.shape[:-1], wide_weights.shape[1]), np.longdouble)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(wide_weights.shape[0]):
            total += wide_x[..., k, None] * wide_weights[k]
        if bias is not None:
            total += _wide(bias)
    arrays = (x, weights) if bias is None else (x, weights, bias)
    return total.astype(_result_dtype(*arrays))


def undetermined(name: str, *arrays: np.ndarray) -> np.ndarray | None:
    """Where a kernel's answer depends on its rounding, not on the definition.

    sigmoid_grad with an infinite grad is inf * s * (1 - s): NaN where the dtype's s
    is exactly 0 or 1, ±inf where it is not, and where s first rounds to 0 or 1 depends
    on how it is computed. There either answer is right.
    """
    if name != "sigmoid_grad":
        return None
    x, grad = (np.asarray(a) for a in arrays)
    factor = np.exp(-np.abs(_wide(x)))
    eps = float(np.finfo(_result_dtype(x, grad)).eps)
    return np.isinf(grad) & (factor < eps)


# Every elementwise kernel: name -> (reference, number of array arguments).
# A kernel added here is tested on every backend, dtype and layout by default.
ELEMENTWISE: dict[str, tuple[Callable[..., np.ndarray], int]] = {
    "relu": (relu, 1),
    "relu_grad": (relu_grad, 2),
    "sigmoid": (sigmoid, 1),
    "sigmoid_grad": (sigmoid_grad, 2),
    "step": (step, 1),
}


# The kernel names above are the backends' method names. In neurust's public API the
# Heaviside kernel is ``nr.heaviside``; ``nr.step`` is its deprecated alias, which only the
# tests of the alias call.
PUBLIC_NAMES = {"step": "heaviside"}


def public_kernel(name: str) -> Callable[..., Any]:
    """neurust's public function for the kernel (or any public function) ``name``."""
    function: Callable[..., Any] = getattr(nr, PUBLIC_NAMES.get(name, name))
    return function


def finite_max(a: np.ndarray) -> float:
    """The largest finite magnitude in ``a`` (0 when there is none)."""
    magnitudes = np.abs(np.asarray(a, dtype=np.float64))
    finite = magnitudes[np.isfinite(magnitudes)]
    return float(finite.max()) if finite.size else 0.0


def elementwise_scale(name: str, *arrays: np.ndarray) -> float:
    """The absolute slack, in units of rtol, that an elementwise kernel may need.

    relu, relu_grad and step are exact. sigmoid lies in [0, 1], and where it
    underflows, formulas that are equally good differ by tiny absolute amounts.
    sigmoid_grad = grad * s * (1 - s) loses digits to the cancellation in
    1 - s, so its error is relative to |grad|, not to the (tiny) result.
    """
    if name == "sigmoid":
        return 1.0
    if name == "sigmoid_grad":
        return finite_max(arrays[1])
    return 0.0


def assert_elementwise_close(name: str, actual: object, *arguments: np.ndarray) -> None:
    """``actual`` is what the elementwise kernel ``name`` gives for ``arguments``."""
    reference, _ = ELEMENTWISE[name]
    assert_close(
        actual,
        reference(*arguments),
        scale=elementwise_scale(name, *arguments),
        undetermined=undetermined(name, *arguments),
    )


def sum_scale(x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None) -> float:
    """The size of the terms in ``x @ weights + bias``: rounding in a sum is relative to them."""
    terms = np.abs(np.asarray(x, np.float64)) @ np.abs(np.asarray(weights, np.float64))
    if bias is not None:
        terms = terms + np.abs(np.asarray(bias, np.float64))
    return finite_max(terms)


def assert_close(
    actual: object,
    expected: object,
    *,
    scale: float = 0.0,
    undetermined: np.ndarray | None = None,
) -> None:
    """``actual`` has ``expected``'s shape and values, to the tolerance of its dtype.

    Each value may differ by rtol relative to itself plus ``rtol * scale``
    absolute; NaN must meet NaN and inf the same inf. Where ``undetermined``
    is true, NaN is right too.
    """
    expected = np.asarray(expected)
    assert np.shape(actual) == expected.shape
    rtol = RTOL[expected.dtype]
    if undetermined is not None and undetermined.any():
        actual = np.array(actual, copy=True)
        either = undetermined & np.isnan(actual)
        actual[either] = expected[either]
    # Results among the subnormals are spaced by the smallest one, so no
    # relative tolerance holds there: a kernel that rounds each product (as
    # numpy's float32 arithmetic does too) may land a few spacings away.
    floor = SUBNORMAL_SLACK * np.finfo(expected.dtype).smallest_subnormal
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale + floor)


# The memory layouts an input may come in; each holds the same values.
LAYOUTS = ("C", "F", "strided", "reversed", "unaligned")


def with_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """A new array equal to ``a``, laid out in memory as ``layout`` names."""
    a = np.asarray(a)
    # Ellipsis first: indexing a 0-d array with () alone would give a scalar, not a view.
    every_other = (..., *[slice(None, None, 2)] * a.ndim)
    backwards = (..., *[slice(None, None, -1)] * a.ndim)
    if layout == "C":
        return np.array(a, order="C")
    if layout == "F":
        return np.array(a, order="F")
    if layout == "strided":  # every other element of a larger array
        larger = np.zeros([2 * n for n in a.shape], dtype=a.dtype)
        view = larger[every_other]
        view[...] = a
        return view
    if layout == "reversed":  # negative strides on every axis
        return np.array(a[backwards], order="C")[backwards]
    if layout == "unaligned":  # data starting one byte past an aligned address
        buffer = np.zeros(a.nbytes + 1, dtype=np.uint8)
        view = buffer[1:].view(a.dtype).reshape(a.shape)
        view[...] = a
        return view
    raise ValueError(f"unknown layout {layout!r}")
