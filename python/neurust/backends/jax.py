"""JAX: the kernels as jit-compiled functions on jax arrays (optional: needs jax).

Creating the backend turns on ``jax_enable_x64``: without it JAX silently
computes float64 input in float32, and every backend must run both natively.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neurust.backends._base import BaseBackend
from neurust.backends._mlp import ArrayMlp, Params


@jax.jit
def _weighted_sum(inputs: jax.Array, weights: jax.Array) -> jax.Array:
    return inputs @ weights


@jax.jit
def _relu(x: jax.Array) -> jax.Array:
    return jnp.maximum(x, 0)


@jax.jit
def _relu_grad(x: jax.Array, grad: jax.Array) -> jax.Array:
    return jnp.where(x > 0, grad, 0)


@jax.jit
def _sigmoid(x: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(x)


@jax.jit
def _sigmoid_grad(x: jax.Array, grad: jax.Array) -> jax.Array:
    s = jax.nn.sigmoid(x)
    return grad * s * (1 - s)


@jax.jit
def _step(x: jax.Array) -> jax.Array:
    return jnp.heaviside(x, 0)  # 0 at x == 0, NaN stays NaN


@jax.jit
def _linear(x: jax.Array, weights: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    outputs = x @ weights
    return outputs if bias is None else outputs + bias


class JaxBackend(ArrayMlp, BaseBackend):
    """jax arrays on JAX's default device; each kernel is one jit-compiled call.

    The kernels are the jit-compiled functions themselves (no wrapper per call).
    JAX dispatches asynchronously: pass the results to :meth:`synchronize`
    before reading a clock. Each new shape and dtype compiles once on first use.
    """

    name = "jax"

    weighted_sum = staticmethod(_weighted_sum)
    relu = staticmethod(_relu)
    relu_grad = staticmethod(_relu_grad)
    sigmoid = staticmethod(_sigmoid)
    sigmoid_grad = staticmethod(_sigmoid_grad)
    step = staticmethod(_step)
    linear = staticmethod(_linear)

    def __init__(self) -> None:
        jax.config.update("jax_enable_x64", True)
        self.device = jax.default_backend()
        self._train_steps: dict[tuple[str, str], Any] = {}

    def from_numpy(self, a: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(a))

    def to_numpy(self, x: jax.Array) -> np.ndarray:
        return np.asarray(x)

    def synchronize(self, *results: jax.Array) -> None:
        """Wait until the given results are computed."""
        jax.block_until_ready(results)

    def mlp_train_step(
        self, x: jax.Array, y: jax.Array, params: Params, activation: str, reduction: str, lr: float
    ) -> tuple[jax.Array, Params]:
        """One step of gradient descent, compiled once per activation and reduction."""
        key = (activation, reduction)
        compiled = self._train_steps.get(key)
        if compiled is None:

            def train_step(x: jax.Array, y: jax.Array, params: Params, lr: float) -> Any:
                return ArrayMlp.mlp_train_step(self, x, y, params, activation, reduction, lr)

            compiled = self._train_steps[key] = jax.jit(train_step)
        return compiled(x, y, params, lr)
