"""Rust: the kernels of ``neurust._core``, called directly (no Python wrapper per call)."""

from __future__ import annotations

import numpy as np

from neurust import _core
from neurust.backends._base import BaseBackend


class RustBackend(BaseBackend):
    """numpy arrays in and out; the work happens in the compiled extension."""

    name = "rust"

    # Builtin functions do not bind to instances, so backend.relu(x) calls
    # _core.relu(x) with nothing in between; staticmethod makes that explicit.
    weighted_sum = staticmethod(_core.weighted_sum)
    relu = staticmethod(_core.relu)
    relu_grad = staticmethod(_core.relu_grad)
    sigmoid = staticmethod(_core.sigmoid)
    sigmoid_grad = staticmethod(_core.sigmoid_grad)
    step = staticmethod(_core.step)
    linear = staticmethod(_core.linear)

    def from_numpy(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, order="C")  # ascontiguousarray would make 0-d arrays 1-d

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)
