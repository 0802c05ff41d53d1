"""The check against numpy: the tolerance per dtype, and how far a result is from numpy's."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DTYPES = ("float64", "float32")

# Largest difference from numpy allowed, relative to the largest magnitude of
# numpy's result (or to each element, for workloads that check elementwise).
# Backends sum in different orders (blocked GEMM, pairwise, SIMD lanes), so the
# bound is many ulps, not one; a real bug is off by orders of magnitude more.
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


def max_error(got: Any, expected: np.ndarray, mode: str = "norm", *, floor: float = 0.0) -> float:
    """How far ``got`` is from ``expected``: the largest difference, relatively.

    Parameters
    ----------
    got, expected : array_like
        The backend's result and numpy's. NaN matches NaN.
    mode : str
        ``"norm"``: relative to the largest finite magnitude of ``expected``
        (right for sums, whose rounding scales with their terms);
        ``"elementwise"``: relative to each element of ``expected`` (right
        for a loss curve that falls by orders of magnitude).
    floor : float
        In ``"elementwise"`` mode, no element counts as smaller than ``floor``
        times the largest magnitude: pass the dtype's epsilon, below which
        values are rounding noise.

    Returns
    -------
    float
        0 for an exact match, ``inf`` for a different shape or a NaN or
        infinity on one side only.

    Examples
    --------
    >>> max_error([1.0, 3.0], np.array([1.0, 4.0]))
    0.25
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return math.inf
    if got.size == 0:
        return 0.0
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    if same.all():
        return 0.0
    if not (np.isfinite(got[~same]).all() and np.isfinite(expected[~same]).all()):
        return math.inf
    difference = np.abs(got - expected)
    difference[same] = 0.0
    tiny = np.finfo(np.float64).tiny
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(float(finite.max()) if finite.size else 0.0, tiny)
    if mode == "elementwise":
        return float(np.max(difference / np.maximum(np.abs(expected), max(floor * scale, tiny))))
    return float(difference.max() / scale)
