"""Slow-path argument conversion for the compiled kernels.

The Rust bindings accept aligned, C-contiguous float32/float64 ndarrays
directly. Everything else (lists, integer and bool arrays, strided views,
non-native byte order) comes here once, following numpy's conversion rules,
and either leaves as such an array or raises an error naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_ACCEPTED = "a real array of float32, float64, integer or bool values"


def as_float_array(obj: Any, name: str) -> np.ndarray:
    """Return ``obj`` as an aligned C-contiguous float32 or float64 ndarray.

    Integers and bools become float64 (numpy's rule for ``ints * float``);
    float32 stays float32.

    Raises
    ------
    TypeError
        If ``obj`` holds strings, objects, complex numbers, float16 or
        extended-precision floats.
    ValueError
        If ``obj`` is a ragged sequence that numpy cannot make an array of.
    """
    try:
        array = np.asarray(obj)
    except ValueError as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    dtype = array.dtype
    if dtype.kind in "biu":
        target = np.dtype(np.float64)
    elif dtype.kind == "f" and dtype.itemsize in (4, 8):
        target = dtype.newbyteorder("=")
    else:
        # An object array is named by its dtype; None, dicts and other
        # non-numbers (which numpy wraps in one) are named by their type.
        wrapped = dtype.kind == "O" and not isinstance(obj, np.ndarray)
        what = f"type {type(obj).__name__}" if wrapped else f"dtype {dtype}"
        raise TypeError(f"{name} has {what}; expected {_ACCEPTED}")
    return np.require(array, dtype=target, requirements=["C", "A"])
