"""Every kernel with arguments of a given size, and one call of each kind (fast, slow, errors).

Shared by the tests of inputs, memory and threads, and imported by their child interpreters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from support.reference import with_layout

# Sizes: SMALL keeps the GIL and one thread; LARGE is past the GIL-release (32k elements)
# and the sigmoid's threading (64k) cut-offs and not a multiple of any chunk length.
SMALL = 7
LARGE = 200_003


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def normal(shape: int | tuple[int, ...], dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    return rng(seed).normal(0.0, 3.0, size=shape).astype(dtype)


# Every kernel with arguments of a given size: name -> builder(size, dtype, seed) -> args.
def _elementwise(arity: int) -> Callable[[int, Any, int], tuple[np.ndarray, ...]]:
    return lambda n, dtype, seed: tuple(normal(n, dtype, seed + i) for i in range(arity))


def _weighted_sum(n: int, dtype: Any, seed: int) -> tuple[np.ndarray, ...]:
    columns = 64 if n > SMALL else 3
    return normal((max(n // columns, 1), columns), dtype, seed), normal(columns, dtype, seed + 1)


def _linear(n: int, dtype: Any, seed: int) -> tuple[np.ndarray, ...]:
    side = 97 if n > SMALL else 3
    return (
        normal((side, side), dtype, seed),
        normal((side, side + 1), dtype, seed + 1),
        normal(side + 1, dtype, seed + 2),
    )


KERNELS: dict[str, Callable[[int, Any, int], tuple[np.ndarray, ...]]] = {
    "weighted_sum": _weighted_sum,
    "linear": _linear,
    "relu": _elementwise(1),
    "sigmoid": _elementwise(1),
    "step": _elementwise(1),
    "relu_grad": _elementwise(2),
    "sigmoid_grad": _elementwise(2),
}
UNARY = ["relu", "sigmoid", "step"]
GRADIENTS = ["relu_grad", "sigmoid_grad"]
ELEMENTWISE = UNARY + GRADIENTS


# One call of each kind, by name: fast path, slow path (lists, ints, strided), out=, errors.
CALL_KINDS = ["fast", "list", "int", "strided", "float32", "out", "shape-error", "type-error"]


def call_kind(kernel: str, kind: str) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    """Arguments for ``kernel`` of one kind, and the error expected (or None)."""
    arguments: list[Any] = list(KERNELS[kernel](SMALL, np.float64, 8))
    keywords: dict[str, Any] = {}
    error: Any = None
    if kind == "list":
        arguments[0] = arguments[0].tolist()
    elif kind == "int":
        arguments[0] = arguments[0].astype(np.int64)
    elif kind == "strided":
        arguments[0] = with_layout(arguments[0], "strided")
    elif kind == "float32":
        arguments = [a.astype(np.float32) for a in arguments]
    elif kind == "out":
        if kernel not in ELEMENTWISE:
            return call_kind(kernel, "fast")
        keywords["out"] = np.empty_like(arguments[0])
    elif kind == "shape-error":
        if kernel in UNARY:
            keywords["out"] = np.empty(SMALL + 2)
        else:
            arguments[-1] = np.ones(SMALL + 2)
        error = ValueError
    elif kind == "type-error":
        arguments[-1] = np.array(["a"] * SMALL)
        error = TypeError
    return tuple(arguments), keywords, error
