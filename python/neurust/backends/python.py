"""Pure Python on nested lists: the readable reference, one textbook loop per kernel.

Arrays are nested lists of Python floats, so everything is computed in double
precision whatever the input dtype. A list cannot record the length of the
inner axes of an empty outer axis: a ``(0, 3)`` array comes back as ``[]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from neurust.backends import CopyInto, ReluInto
from neurust.backends._base import BaseBackend
from neurust.backends._mlp import ListMlp

Nested = Any  # a float, or a (nested) list of floats

_NO_OUT = "nested lists have no out= (they are rebuilt on every call)"


def _dot(inputs: Sequence[float], weights: Sequence[float]) -> float:
    # A plain left-to-right sum, as on paper (the builtin sum() compensates
    # rounding from Python 3.12 on, which would make this no longer plain).
    total = 0.0
    for value, weight in zip(inputs, weights, strict=True):
        total += value * weight
    return total


def _elementwise(function: Callable[..., float], x: Nested, *others: Nested) -> Nested:
    """Apply ``function`` to matching elements of equally shaped nested lists."""
    if isinstance(x, list):
        return [_elementwise(function, *items) for items in zip(x, *others, strict=True)]
    return function(x, *others)


def _relu(x: float) -> float:
    return 0.0 if x < 0 else x  # NaN fails every comparison, so it passes through


def _relu_grad(x: float, grad: float) -> float:
    return grad if x > 0 else 0.0


def _sigmoid(x: float) -> float:
    # Two forms so that exp() never overflows: e^-x for x >= 0, e^x below.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    exp_x = math.exp(x)  # NaN lands here and stays NaN
    return exp_x / (1.0 + exp_x)


def _sigmoid_grad(x: float, grad: float) -> float:
    s = _sigmoid(x)
    return grad * s * (1.0 - s)


def _step(x: float) -> float:
    if math.isnan(x):
        return math.nan
    return 1.0 if x > 0 else 0.0


class PythonBackend(ListMlp, BaseBackend):
    """Nested lists of Python floats; no numpy in the kernels."""

    name = "python"
    color = "#7f7f7f"
    dtypes = ("float64",)
    interpreted = True
    unsupported = MappingProxyType({ReluInto: _NO_OUT, CopyInto: _NO_OUT})

    def _from_array(self, a: np.ndarray) -> Nested:
        return np.asarray(a, dtype=np.float64).tolist()

    def to_numpy(self, x: Nested) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def weighted_sum(self, inputs: Nested, weights: list[float]) -> Nested:
        if inputs and isinstance(inputs[0], list):
            return [_dot(row, weights) for row in inputs]
        return _dot(inputs, weights)

    def relu(self, x: Nested) -> Nested:
        return _elementwise(_relu, x)

    def relu_grad(self, x: Nested, grad: Nested) -> Nested:
        return _elementwise(_relu_grad, x, grad)

    def sigmoid(self, x: Nested) -> Nested:
        return _elementwise(_sigmoid, x)

    def sigmoid_grad(self, x: Nested, grad: Nested) -> Nested:
        return _elementwise(_sigmoid_grad, x, grad)

    def step(self, x: Nested) -> Nested:
        return _elementwise(_step, x)

    def linear(
        self, x: Nested, weights: list[list[float]], bias: list[float] | None = None
    ) -> Nested:
        if x and isinstance(x[0], list):
            return [self.linear(row, weights, bias) for row in x]
        outputs = [_dot(x, column) for column in zip(*weights, strict=True)]
        if bias is not None:
            outputs = [output + b for output, b in zip(outputs, bias, strict=True)]
        return outputs
