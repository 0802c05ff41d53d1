"""The argument rules of the Python API, written once for TwoLayerNet and Perceptron.

Each check raises the exception a caller would expect (TypeError for the wrong
kind of value, ValueError for the right kind out of range) with a message that
names the argument, says what was given and what was expected.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from neurust._convert import as_float_array
from neurust.backends import Backend, get_backend

FLOAT_DTYPES = ("float32", "float64")


def positive_int(value: Any, name: str, *, at_most: int | None = sys.maxsize) -> int:
    """``value`` as an int of at least 1 (and at most ``at_most``, when given).

    The default bound is what the compiled kernels can index; pass None for a
    count that never reaches them.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    if at_most is not None and number > at_most:
        raise ValueError(f"{name} must be at most {at_most}, got {value}")
    return number


def choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in choices:
        valid = ", ".join(repr(option) for option in choices)
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")
    return str(value)


def _real(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")


def learning_rate(lr: Any) -> float:
    """A gradient-descent learning rate: finite and not negative (0 leaves the weights)."""
    _real(lr, "lr")
    value = float(lr)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"lr must be a finite, non-negative number, got {value}")
    return value


def positive_learning_rate(lr: Any) -> float:
    """A perceptron-rule learning rate: finite and above 0 (0 would never learn)."""
    _real(lr, "lr")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive, finite number, got {lr}")
    return float(lr)


def generator(seed: Any) -> np.random.Generator:
    """``numpy.random.default_rng(seed)``, with errors that name ``seed``."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as error:
        raise type(error)(f"seed must be None or a non-negative int: {error}") from None


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as messages write it: ``(3,)``, ``(2, 3)``."""
    return f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(map(str, shape))})"


def parameter_arrays(
    params: Any, shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype, what: str
) -> dict[str, np.ndarray]:
    """``params`` when it has exactly the names of ``shapes``, those shapes and ``dtype``.

    Nothing is cast: a dtype that differs is a TypeError, so a float64 array is
    never silently rounded into a float32 net.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"{what} must be a dict of arrays, got {type(params).__name__}")
    missing = sorted(set(shapes) - set(params))
    unknown = sorted(set(params) - set(shapes))
    if missing or unknown:
        raise ValueError(
            f"{what} must have exactly the keys {sorted(shapes)}; "
            f"missing {missing}, unexpected {unknown}"
        )
    checked = {}
    for name, shape in shapes.items():
        value = params[name]
        try:
            array = value if isinstance(value, np.ndarray) else np.asarray(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{what}[{name!r}] is not an array: {error}") from None
        if array.dtype != dtype:
            raise TypeError(
                f"{what}[{name!r}] has dtype {array.dtype}, but the net is {dtype.name}"
            )
        if array.shape != shape:
            raise ValueError(
                f"{what}[{name!r}] has shape {shape_text(array.shape)}, "
                f"but the net needs {shape_text(shape)}"
            )
        checked[name] = array
    return checked


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` (a name, type or dtype) when it is float32 or float64."""
    try:
        name = np.dtype(dtype).name
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    return np.dtype(choice(name, "dtype", FLOAT_DTYPES))


def backend_for(backend: Any, dtype: np.dtype) -> Backend:
    """The backend named (or given) by ``backend``, when it computes ``dtype`` natively."""
    if isinstance(backend, str):
        resolved = get_backend(backend)
    elif isinstance(backend, Backend):
        resolved = backend
    else:
        raise TypeError(
            f"backend must be a backend name or a Backend, got {type(backend).__name__}"
        )
    if dtype.name not in resolved.dtypes:
        raise ValueError(
            f"backend {resolved.name!r} computes only {', '.join(resolved.dtypes)}, "
            f"not {dtype.name}"
        )
    return resolved


def net_inputs(x: Any, input_dim: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """``x`` as a C-contiguous ``(samples, input_dim)`` array of ``dtype``."""
    array = as_float_array(x, name).astype(dtype, copy=False)
    if array.ndim != 2 or array.shape[1] != input_dim:
        raise ValueError(
            f"{name} has shape {shape_text(array.shape)}, but the net has input_dim "
            f"{input_dim}; {name} needs shape (samples, {input_dim})"
        )
    return np.ascontiguousarray(array)


def net_targets(y: Any, rows: int, output_dim: int, dtype: np.dtype, name: str = "Y") -> np.ndarray:
    """``y`` as a C-contiguous ``(rows, output_dim)`` array of ``dtype``, ``rows`` at least 1.

    A vector of ``rows`` targets is accepted for a single output.
    """
    array = as_float_array(y, name).astype(dtype, copy=False)
    if array.ndim == 1 and output_dim == 1 and array.shape[0] == rows:
        array = array.reshape(rows, 1)
    if array.shape != (rows, output_dim):
        raise ValueError(
            f"{name} has shape {shape_text(array.shape)}, but X has {rows} rows and the net has "
            f"output_dim {output_dim}; {name} needs shape ({rows}, {output_dim})"
        )
    if rows == 0:
        # Every backend would answer differently (nan, 0/0, an empty sum).
        raise ValueError("X has no rows; the loss and its gradients need at least one sample")
    return np.ascontiguousarray(array)
