"""The argument rules of the Python API, written once for TwoLayerNet and Perceptron.

Each check raises the exception a caller would expect (TypeError for the wrong
kind of value, ValueError for the right kind out of range) with a message that
names the argument, says what was given and what was expected.
"""

from __future__ import annotations

import decimal
import math
import numbers
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from neurust._convert import as_array, as_float_array
from neurust.backends import Backend, get_backend

FLOAT_DTYPES = ("float32", "float64")


def positive_int(value: Any, name: str, *, at_most: int | None = sys.maxsize) -> int:
    """``value`` as an int of at least 1 (and at most ``at_most``, when given).

    The default bound is what the compiled kernels can index; pass None for a
    count that never reaches them. The compiled module applies the same rule,
    with these messages, to the counts passed to it directly.
    """
    if _not_a_number(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    if at_most is not None and number > at_most:
        raise ValueError(f"{name} must be at most {at_most}, got {value}")
    return number


def _not_a_number(value: Any) -> bool:
    """Whether ``value`` passes for a number by type but is not one: a bool or a timedelta64.

    numpy registers ``timedelta64`` as an integer type, and ``bool`` is an int.
    """
    return isinstance(value, bool | np.bool_ | np.timedelta64)


def boolean(value: Any, name: str) -> bool:
    """``value`` when it is a bool or a numpy bool: a string such as ``"no"`` is refused."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of the strings ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in choices:
        valid = ", ".join(repr(option) for option in choices)
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")
    return str(value)


def _real(value: Any, name: str, expected: str) -> float:
    """``value`` as a finite float; an int beyond float's range is a ValueError naming ``name``."""
    if _not_a_number(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        # float(value) overflowed: show it as Python shows a float, 1e+400.
        whole = int(value)  # type: ignore[call-overload]
        shown = format(decimal.Context(prec=6).create_decimal(whole).normalize(), "g")
        raise ValueError(f"{name} must be {expected}, got {shown}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {expected}, got {number}")
    return number


def learning_rate(lr: Any) -> float:
    """A gradient-descent learning rate: finite and not negative (0 leaves the weights)."""
    expected = "a finite, non-negative number"
    value = _real(lr, "lr", expected)
    if value < 0:
        raise ValueError(f"lr must be {expected}, got {value}")
    return value


def positive_learning_rate(lr: Any) -> float:
    """A perceptron-rule learning rate: finite and above 0 (0 would never learn)."""
    expected = "a positive, finite number"
    value = _real(lr, "lr", expected)
    if not value > 0:
        raise ValueError(f"lr must be {expected}, got {value}")
    return value


def generator(seed: Any) -> np.random.Generator:
    """``numpy.random.default_rng(seed)``, with errors that name ``seed``."""
    if isinstance(seed, np.timedelta64):  # an integer type to numpy, but a duration
        raise TypeError(f"seed must be None or a non-negative int, got {type(seed).__name__}")
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
    never silently rounded into a float32 net. Byte order is not a cast: a
    big-endian array of the dtype is converted, as the kernels convert one.
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
        array = as_array(params[name], f"{what}[{name!r}]")
        if array.dtype.newbyteorder("=") == dtype:
            array = array.astype(dtype, copy=False)
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


def resolved_backend(backend: Any) -> Backend:
    """The backend named (or given) by ``backend``."""
    if isinstance(backend, str):
        return get_backend(backend)
    if isinstance(backend, Backend):
        return backend
    raise TypeError(f"backend must be a backend name or a Backend, got {type(backend).__name__}")


def backend_for(backend: Any, dtype: np.dtype) -> Backend:
    """The backend named (or given) by ``backend``, when it computes ``dtype`` natively."""
    resolved = resolved_backend(backend)
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
