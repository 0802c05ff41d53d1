"""JAX: the kernels as jit-compiled functions on jax arrays (optional: needs jax).

Creating the backend turns on ``jax_enable_x64``: without it JAX silently
computes float64 input in float32, and every backend must run both natively.

Training: mini-batch fits run the loop every Python fit shares
(:func:`neurust.backends._mlp.train`), one compiled step at a time. A
full-batch fit runs its own loop, because JAX's idiomatic one is a
``lax.scan`` compiled over a whole chunk of steps: the losses of a chunk are
seen only after it has run, so the shared loop's check between steps cannot
happen inside it. It still shares the rest: the batch rule
(:func:`~neurust.backends._mlp.is_full_batch`), the rule that a non-finite
loss returns to the parameters of the step before (found by replaying the
chunk up to it), the message (:func:`~neurust.backends._mlp.non_finite_error`)
and what a stopped fit carries (:mod:`neurust.backends._partial`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neurust.backends import CopyInto, ReluInto
from neurust.backends._base import BaseBackend
from neurust.backends._mlp import ArrayMlp, FitOptions, Params, is_full_batch, non_finite_error
from neurust.backends._partial import attach

_NO_OUT = "jax arrays are immutable: no out="


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
    color = "#2ca02c"
    asynchronous = True
    threads_fixed_at_start = True  # XLA reads its pool size from XLA_FLAGS once
    unsupported = MappingProxyType({ReluInto: _NO_OUT, CopyInto: _NO_OUT})

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
        self._scan_fits: dict[tuple[str, str], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # The compiled functions are closures, which cannot be pickled: a
        # restored backend compiles them again on first use.
        return {"device": self.device}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def _from_array(self, a: np.ndarray) -> jax.Array:
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

    def _scan_fit(self, activation: str, reduction: str) -> Any:
        """``steps`` training steps as one compiled ``lax.scan`` (recompiled per step count)."""
        key = (activation, reduction)
        compiled = self._scan_fits.get(key)
        if compiled is None:

            def fit(x: jax.Array, y: jax.Array, params: Params, lr: float, steps: int) -> Any:
                def body(params: Params, _: None) -> tuple[Params, jax.Array]:
                    loss, new_params = ArrayMlp.mlp_train_step(
                        self, x, y, params, activation, reduction, lr
                    )
                    return new_params, loss

                return jax.lax.scan(body, params, None, length=steps)

            compiled = self._scan_fits[key] = jax.jit(fit, static_argnums=4)
        return compiled

    def run_fit(
        self, x: Any, y: Any, params: Params, options: FitOptions
    ) -> tuple[Params, np.ndarray]:
        """Train with the whole loop compiled: ``lax.scan`` over chunks of steps.

        JAX's idiomatic training loop, so the comparison times JAX at its
        best. Chunks end at each callback, where Ctrl-C is also honoured. A
        non-finite loss is found after its chunk; the steps up to the one
        before it are then replayed, so the parameters and the error are those
        of the step-by-step loop. Mini-batches use that loop.
        """
        if not is_full_batch(len(x), options.batch_size):
            return super().run_fit(x, y, params, options)
        run = self._scan_fit(options.activation, options.reduction)
        steps, lr = options.steps, options.lr
        history: list[float] = []
        done = 0
        # The last chunk's start and length: a loss that fails first in a chunk
        # sends the net back to the step before it, inside the chunk before.
        last_start, last_length = params, 0
        try:
            while done < steps:
                chunk = min(options.every, steps - done)
                new_params, losses = run(x, y, params, lr, chunk)
                losses = np.asarray(losses)
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    good = int(bad[0])
                    if good:
                        start, length = params, good - 1
                    else:
                        start, length = last_start, max(last_length - 1, 0)
                    if length:
                        start, _ = run(x, y, start, lr, length)
                    params = start
                    history.extend(losses[:good].tolist())
                    done += good
                    raise non_finite_error(float(losses[good]), done, lr)
                last_start, last_length = params, chunk
                params = new_params
                history.extend(losses.tolist())
                done += chunk
                if options.callback is not None:
                    options.callback(done, float(losses[-1]))
        except BaseException as error:
            attach(error, params, history[:done])
            raise
        return params, np.asarray(history)
