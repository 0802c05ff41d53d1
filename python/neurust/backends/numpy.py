"""numpy: the kernels as a numpy user would write them."""

from __future__ import annotations

import numpy as np

from neurust.backends._base import BaseBackend
from neurust.backends._mlp import ArrayMlp


class NumpyBackend(ArrayMlp, BaseBackend):
    """numpy arrays; matrix products go through numpy's BLAS."""

    name = "numpy"
    color = "#1f77b4"

    def _from_array(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, order="C")  # ascontiguousarray would make 0-d arrays 1-d

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def weighted_sum(self, inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return inputs @ weights

    def relu(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    def relu_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0, out=out)

    def copy_into(self, source: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.copyto(out, source)
        return out

    def relu_grad(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return np.where(x > 0, grad, 0)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        # exp(-x) overflows to inf for very negative x, and 1 / inf is the right 0.
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-x))

    def sigmoid_grad(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        s = self.sigmoid(x)
        return grad * s * (1.0 - s)

    def step(self, x: np.ndarray) -> np.ndarray:
        return np.heaviside(x, 0.0)  # 0 at x == 0, NaN stays NaN

    def linear(
        self, x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None
    ) -> np.ndarray:
        outputs = x @ weights
        return outputs if bias is None else outputs + bias
