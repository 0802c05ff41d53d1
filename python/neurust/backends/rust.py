"""Rust: the kernels of ``neurust._core``, called directly (no Python wrapper per call)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from neurust import _core
from neurust.backends import CopyInto
from neurust.backends._base import BaseBackend
from neurust.backends._mlp import Params, Progress, non_finite_error
from neurust.backends._partial import attach


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
    step = staticmethod(_core.heaviside)
    linear = staticmethod(_core.linear)

    def relu_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        return _core.relu(x, out=out)

    def _from_array(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, order="C")  # ascontiguousarray would make 0-d arrays 1-d

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    # --- the two-layer network (see neurust.backends._mlp) -----------------------------------
    #
    # Each call runs on a `_core.TwoLayer`, the net's native state (its shape and the workspace
    # it keeps between calls). A net holds its own (see `net_parameters`) and its parameters
    # carry it here as a `NetParams`; plain dicts get one per call, and the gradients and
    # parameters that mlp_gradients, mlp_step and mlp_train_step return carry it on to a
    # loop's next step.
    #
    # Where each check lives: the net's methods (neurust.model) check the user's arguments once,
    # in Python (`steps`, `lr`, `batch_size`, names, data shapes); this module passes them on
    # unchecked; the compiled calls check them again natively, with the same messages, for
    # callers of this backend and of `_core` who bypass the net.

    def net_parameters(self, params: Params, state: Any, activation: str) -> NetParams:
        """A net's own arrays carrying its native state: ``state``, or a new one the first time.

        The net's arrays are already what the kernels read (C-contiguous, of its dtype), so
        they pass as they are. A net's shape, activation and dtype never change, so the state
        made for its first parameters serves every later set (each call still checks the
        arrays against it).
        """
        if state is None:
            state = _core.TwoLayer.of_parameters(
                params["w1"], params.get("b1"), params["w2"], params.get("b2"), activation
            )
        return _carrying(params, state)

    def mlp_forward(self, x: np.ndarray, params: Params, activation: str) -> np.ndarray:
        p = _with_state(params, activation)
        return p.state.forward(x, p["w1"], p.get("b1"), p["w2"], p.get("b2"))

    def mlp_loss(
        self, x: np.ndarray, y: np.ndarray, params: Params, activation: str, reduction: str = "sum"
    ) -> Any:
        p = _with_state(params, activation)
        return p.state.loss(x, y, p["w1"], p.get("b1"), p["w2"], p.get("b2"), reduction)

    def mlp_gradients(
        self, x: np.ndarray, y: np.ndarray, params: Params, activation: str, reduction: str = "sum"
    ) -> tuple[Any, Params]:
        p = _with_state(params, activation)
        loss, dw1, db1, dw2, db2 = p.state.gradients(
            x, y, p["w1"], p.get("b1"), p["w2"], p.get("b2"), reduction
        )
        # The gradients carry the state too, so that mlp_step hands it on to a loop's next step.
        return loss, _carried(p.state, dw1, db1, dw2, db2)

    def mlp_train_step(
        self, x: np.ndarray, y: np.ndarray, params: Params, activation: str, reduction: str,
        lr: float,
    ) -> tuple[Any, Params]:  # fmt: skip
        """The gradients and the step in one call, with the bits of both calls in turn."""
        p = _with_state(params, activation)
        loss, w1, b1, w2, b2 = p.state.train_step(
            x, y, p["w1"], p.get("b1"), p["w2"], p.get("b2"), reduction, lr
        )
        return loss, _carried(p.state, w1, b1, w2, b2)

    def mlp_step(self, params: Params, grads: Params, lr: float) -> Params:
        """New parameters ``w - lr * dw``, numpy's bits in one pass (the inputs are left alone)."""
        step = _core.mlp_step
        stepped = NetParams({name: step(value, grads[name], lr) for name, value in params.items()})
        stepped.state = getattr(params, "state", None) or getattr(grads, "state", None)
        return stepped

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

        A fit stopped mid-loop raises what the user sees (the non-finite loss's
        ``FloatingPointError``, the ``KeyboardInterrupt``, the callback's
        exception) with the partial result attached (see
        :mod:`neurust.backends._partial`), read from the binding's
        ``_core.FitStopped``.
        """
        p = _with_state(params, activation)
        try:
            history = p.state.fit(
                x, y, p["w1"], p.get("b1"), p["w2"], p.get("b2"),
                steps=steps, lr=lr, reduction=reduction, batch_size=batch_size,
                callback=callback, callback_every=callback_every,
            )  # fmt: skip
        except _core.FitStopped as stopped:
            error = _stopped(stopped)
        else:
            return params, history
        # Raised outside the handler, so the error keeps its own cause and context; the
        # local goes at once, else its traceback (through this frame) would keep x and y
        # alive until a garbage collection.
        try:
            raise error
        finally:
            del error


class NetParams(dict[str, Any]):
    """Arrays by name shaped like a net's parameters, carrying its state (``_core.TwoLayer``).

    Made by :func:`_carrying`: dict's own constructor, without a Python ``__init__``, as a
    net makes one per step.
    """

    __slots__ = ("state",)
    state: Any
    """A ``_core.TwoLayer``, or None for arrays not yet tied to a net."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Copied and pickled as the plain dict it is to the user; the state stays behind.
        return (dict, (dict(self),))


def _carrying(params: Mapping[str, Any], state: Any) -> NetParams:
    """``params`` as a :class:`NetParams` carrying ``state``."""
    carrying = NetParams(params)
    carrying.state = state
    return carrying


def _with_state(params: Params, activation: str) -> NetParams:
    """``params`` with a native state: their own when they carry one for ``activation``."""
    if type(params) is NetParams and params.state is not None:
        if params.state.activation == activation:
            return params
    state = _core.TwoLayer.of_parameters(
        params["w1"], params.get("b1"), params["w2"], params.get("b2"), activation
    )
    return _carrying(params, state)


def _stopped(stopped: Any) -> BaseException:
    """The error a user sees for the binding's ``FitStopped``, with its partial fit attached."""
    if stopped.reason == "non-finite":
        error: BaseException = non_finite_error(stopped.loss, stopped.steps_done, stopped.lr)
    else:
        error = stopped.cause
    return attach(error, stopped.params, stopped.history)


def _carried(state: Any, w1: np.ndarray, b1: Any, w2: np.ndarray, b2: Any) -> NetParams:
    """The four arrays as parameters (or gradients) carrying ``state``, without absent biases."""
    # Item by item: a dict subclass's keyword constructor takes half as long again.
    params = NetParams()
    params["w1"], params["w2"] = w1, w2
    if b1 is not None:
        params["b1"], params["b2"] = b1, b2
    params.state = state
    return params
