"""Argument conversion for the Python API, by the compiled kernels' one rule for result dtypes.

The Rust bindings accept aligned, C-contiguous float32/float64 ndarrays
directly and convert everything else (lists, integer and bool arrays, strided
views, non-native byte order) themselves, following numpy's conversion rules,
with errors that name the argument. The functions here call that same code
(``_core._as_float_arrays``, ``_core._as_array``), so the backends'
``from_numpy`` and the models' argument checks give a masked array or a tensor
that requires grad one answer everywhere, and the rule is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neurust import _core


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
    return _core._as_array(obj, name)


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
    numpy's promotion for every pair of input dtypes. The compiled module
    applies this rule to any argument that is not already such an array;
    this is that same code, for the Python API's own checks.

    Raises
    ------
    TypeError
        If an argument is masked, holds strings, objects or complex numbers,
        or the result dtype would be float16 or extended precision (the
        kernels compute float32 and float64 only).
    ValueError
        If an argument is a ragged sequence that numpy cannot make an array of.
    """
    return _core._as_float_arrays(list(args))


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
