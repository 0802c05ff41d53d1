"""Rust: the kernels of ``neurust._core``, called directly (no Python wrapper per call)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from neurust import _core
from neurust.backends import CopyInto
from neurust.backends._base import BaseBackend
from neurust.backends._mlp import Params, Progress, check_counts


class RustBackend(BaseBackend):
    """numpy arrays in and out; the work happens in the compiled extension."""

    name = "rust"
    color = "#b7410e"
    unsupported = MappingProxyType(
        {CopyInto: "neurust has no copy kernel: numpy's copy is the ceiling for its relu_out"}
    )

    # Builtin functions do not bind to instances, so backend.relu(x) calls
    # _core.relu(x) with nothing in between; staticmethod makes that explicit.
    weighted_sum = staticmethod(_core.weighted_sum)
    relu = staticmethod(_core.relu)
    relu_grad = staticmethod(_core.relu_grad)
    sigmoid = staticmethod(_core.sigmoid)
    sigmoid_grad = staticmethod(_core.sigmoid_grad)
    step = staticmethod(_core.step)
    linear = staticmethod(_core.linear)

    def relu_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        return _core.relu(x, out=out)

    def _from_array(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, order="C")  # ascontiguousarray would make 0-d arrays 1-d

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    # --- the two-layer network (see neurust.backends._mlp) -----------------------------------

    def mlp_forward(self, x: np.ndarray, params: Params, activation: str) -> np.ndarray:
        return _core.mlp_forward(
            x, params["w1"], params.get("b1"), params["w2"], params.get("b2"), activation
        )

    def mlp_loss(
        self, x: np.ndarray, y: np.ndarray, params: Params, activation: str, reduction: str = "sum"
    ) -> Any:
        return _core.mlp_loss(
            x, y, params["w1"], params.get("b1"), params["w2"], params.get("b2"),
            activation, reduction,
        )  # fmt: skip

    def mlp_gradients(
        self, x: np.ndarray, y: np.ndarray, params: Params, activation: str, reduction: str = "sum"
    ) -> tuple[Any, Params]:
        loss, dw1, db1, dw2, db2 = _core.mlp_gradients(
            x, y, params["w1"], params.get("b1"), params["w2"], params.get("b2"),
            activation, reduction,
        )  # fmt: skip
        return loss, _params(dw1, db1, dw2, db2)

    def mlp_train_step(
        self, x: np.ndarray, y: np.ndarray, params: Params, activation: str, reduction: str,
        lr: float,
    ) -> tuple[Any, Params]:  # fmt: skip
        """The gradients and the step in one call, with the bits of both calls in turn."""
        loss, w1, b1, w2, b2 = _core.mlp_train_step(
            x, y, params["w1"], params.get("b1"), params["w2"], params.get("b2"),
            activation, reduction, lr,
        )  # fmt: skip
        return loss, _params(w1, b1, w2, b2)

    def mlp_step(self, params: Params, grads: Params, lr: float) -> Params:
        """New parameters ``w - lr * dw``, numpy's bits in one pass (the inputs are left alone).

        The result arrays may reuse the memory of earlier results that no
        longer have any reference (a loop's last-but-one step), sparing fresh
        pages each step.
        """
        return {name: _core.mlp_step(value, grads[name], lr) for name, value in params.items()}

    def mlp_fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        params: Params,
        *,
        activation: str,
        steps: int,
        lr: float,
        reduction: str = "sum",
        batch_size: int | None = None,
        callback: Progress | None = None,
        callback_every: int | None = None,
    ) -> tuple[Params, np.ndarray]:
        """The whole loop in one Rust call, updating ``params``' arrays in place.

        A fit stopped mid-loop raises with the partial result attached by the
        binding (see :mod:`neurust.backends._partial`).
        """
        check_counts(steps, batch_size, callback_every)
        history = _core.mlp_fit(
            x, y, params["w1"], params.get("b1"), params["w2"], params.get("b2"),
            activation=activation, steps=steps, lr=lr, reduction=reduction,
            batch_size=batch_size, callback=callback, callback_every=callback_every,
        )  # fmt: skip
        return params, history


def _params(w1: np.ndarray, b1: Any, w2: np.ndarray, b2: Any) -> Params:
    """The four arrays as a parameter (or gradient) dict, without absent biases."""
    params: Params = {"w1": w1, "w2": w2}
    if b1 is not None:
        params["b1"], params["b2"] = b1, b2
    return params
