"""JAX: the kernels as jit-compiled functions on jax arrays (optional: needs jax).

Creating the backend turns on ``jax_enable_x64``: without it JAX silently
computes float64 input in float32, and every backend must run both natively.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from neurust.backends._base import BaseBackend


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


class JaxBackend(BaseBackend):
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

    def from_numpy(self, a: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(a))

    def to_numpy(self, x: jax.Array) -> np.ndarray:
        return np.asarray(x)

    def synchronize(self, *results: jax.Array) -> None:
        """Wait until the given results are computed."""
        jax.block_until_ready(results)
