"""Slow-path argument conversion for the compiled kernels, and the one rule for result dtypes.

The Rust bindings accept aligned, C-contiguous float32/float64 ndarrays
directly. Everything else (lists, integer and bool arrays, strided views,
non-native byte order) comes here once, following numpy's conversion rules,
and either leaves as such an array or raises an error naming the argument.
The backends' ``from_numpy`` and the models' argument checks use the same
functions, so a masked array or a tensor that requires grad gets one answer
everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_ACCEPTED = "a real array of float32, float64, integer or bool values"
_COMPUTED = ("float32", "float64")


def reject_masked(obj: Any, name: str) -> None:
    """Raise TypeError if ``obj`` is a masked array: the kernels would silently drop its mask."""
    if isinstance(obj, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array; neurust ignores masks, so pass "
            f"{name}.filled(value) or {name}.compressed() (numpy.ma's functions honour the mask)"
        )


def as_array(obj: Any, name: str) -> np.ndarray:
    """``numpy.asarray(obj)``, with errors that name the argument.

    Raises
    ------
    TypeError
        If ``obj`` is a masked array, or numpy cannot make an array of it (a
        torch tensor that requires grad raises torch's RuntimeError there).
    ValueError
        If ``obj`` is a ragged sequence.
    """
    reject_masked(obj, name)
    try:
        return np.asarray(obj)
    except ValueError as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    except (TypeError, RuntimeError) as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None


def _too_large_int(obj: Any, array: np.ndarray) -> bool:
    """Whether numpy made an object array because ``obj`` holds ints beyond 64 bits."""
    if array.dtype.kind != "O" or array.size == 0:
        return False
    items = array.ravel().tolist()
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        return False
    # An object array of small ints (made by the caller) holds none too large.
    return any(not -(1 << 63) <= item < 1 << 64 for item in items)


def _checked_kind(obj: Any, array: np.ndarray, name: str) -> None:
    """Raise TypeError unless ``array`` holds bools, integers or floats."""
    dtype = array.dtype
    if dtype.kind in "biuf":
        return
    if _too_large_int(obj, array):
        raise TypeError(
            f"{name} holds integers too large for int64 or uint64; "
            f"expected {_ACCEPTED} (convert them to float first)"
        )
    # An object array is named by its dtype; None, dicts and other
    # non-numbers (which numpy wraps in one) are named by their type.
    wrapped = dtype.kind == "O" and not isinstance(obj, np.ndarray)
    what = f"type {type(obj).__name__}" if wrapped else f"dtype {dtype}"
    raise TypeError(f"{name} has {what}; expected {_ACCEPTED}")


def result_dtype(*dtypes: np.dtype) -> np.dtype:
    """The dtype a kernel computes and returns for arguments of ``dtypes``.

    numpy's own rule, ``numpy.result_type``, with integers and bools computed
    in float64 (as numpy does for ``ints * 1.0``): float32 with int8 is
    float32, float32 with int32 is float64, float16 with int16 is float32.
    The result has native byte order. It may be float16 or longdouble, which
    the kernels do not compute: :func:`as_float_arrays` refuses those.
    """
    return np.result_type(*dtypes, 1.0).newbyteorder("=")


def as_float_arrays(args: Sequence[tuple[Any, str]]) -> list[np.ndarray]:
    """Each ``(obj, name)`` of ``args`` as an aligned C-contiguous array of their result dtype.

    The dtype is :func:`result_dtype` of all of them, so the kernels follow
    numpy's promotion for every pair of input dtypes.

    Raises
    ------
    TypeError
        If an argument is masked, holds strings, objects or complex numbers,
        or the result dtype would be float16 or extended precision (the
        kernels compute float32 and float64 only).
    ValueError
        If an argument is a ragged sequence that numpy cannot make an array of.
    """
    arrays = []
    for obj, name in args:
        array = as_array(obj, name)
        _checked_kind(obj, array, name)
        arrays.append(array)
    target = result_dtype(*(array.dtype for array in arrays))
    if target.name not in _COMPUTED:
        culprits = [
            f"{name} has dtype {array.dtype}"
            for (_, name), array in zip(args, arrays, strict=True)
            if array.dtype.kind == "f" and array.dtype.name not in _COMPUTED
        ]
        raise TypeError(
            f"{'; '.join(culprits)}: the result would be {target.name}, but neurust computes "
            f"float32 and float64 only; expected {_ACCEPTED}"
        )
    return [np.require(array, dtype=target, requirements=["C", "A"]) for array in arrays]


def as_float_array(obj: Any, name: str) -> np.ndarray:
    """Return ``obj`` as an aligned C-contiguous float32 or float64 ndarray.

    Integers and bools become float64 (numpy's rule for ``ints * 1.0``);
    float32 stays float32 (see :func:`result_dtype`).

    Raises
    ------
    TypeError
        If ``obj`` is a masked array or holds strings, objects, complex
        numbers, float16 or extended-precision floats.
    ValueError
        If ``obj`` is a ragged sequence that numpy cannot make an array of.
    """
    return as_float_arrays([(obj, name)])[0]
