"""What the right answers are: numpy reference kernels, tolerances, memory layouts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

# Relative tolerance per dtype, stated once: every comparison with numpy uses these.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def relu_grad(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    return np.where(x > 0, grad, 0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid_grad(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    s = sigmoid(x)
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 is NaN, as it should be
        return grad * s * (1 - s)


def step(x: np.ndarray) -> np.ndarray:
    return np.heaviside(x, 0)


# Every elementwise kernel: name -> (numpy reference, number of array arguments).
# A kernel added here is tested on every backend, dtype and layout by default.
ELEMENTWISE: dict[str, tuple[Callable[..., np.ndarray], int]] = {
    "relu": (relu, 1),
    "relu_grad": (relu_grad, 2),
    "sigmoid": (sigmoid, 1),
    "sigmoid_grad": (sigmoid_grad, 2),
    "step": (step, 1),
}


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


def sum_scale(x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None) -> float:
    """The size of the terms in ``x @ weights + bias``: rounding in a sum is relative to them."""
    terms = np.abs(np.asarray(x, np.float64)) @ np.abs(np.asarray(weights, np.float64))
    if bias is not None:
        terms = terms + np.abs(np.asarray(bias, np.float64))
    return finite_max(terms)


def assert_close(actual: object, expected: object, *, scale: float = 0.0) -> None:
    """``actual`` has ``expected``'s shape and values, to the tolerance of its dtype.

    Each value may differ by rtol relative to itself plus ``rtol * scale``
    absolute; NaN must meet NaN and inf the same inf.
    """
    expected = np.asarray(expected)
    assert np.shape(actual) == expected.shape
    rtol = RTOL[expected.dtype]
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


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
