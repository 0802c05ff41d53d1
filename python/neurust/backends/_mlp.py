"""The two-layer network on a backend's native arrays, and the training loop in Python.

Every backend provides ``mlp_forward``, ``mlp_loss``, ``mlp_gradients`` and
``mlp_fit`` (see :class:`neurust.backends.Backend`). Parameters are a dict of
native arrays keyed ``"w1"``, ``"w2"`` (and ``"b1"``, ``"b2"`` for a net with
biases); ``w1`` is ``(input_dim, hidden_dim)``, ``w2`` is
``(hidden_dim, output_dim)``. The Rust backend runs ``mlp_fit`` in one
compiled call; the others share :class:`LoopFit`: its ``mlp_fit`` takes the
keyword arguments once, as a :class:`FitOptions`, and hands them to
``run_fit``, a Python loop of one ``mlp_train_step`` per step (which a backend
may compile, as JAX does, or replace, as JAX does for full batches).

:class:`ArrayMlp` writes the maths once for array libraries with numpy's
operators (numpy, torch, JAX). The loss is ``Σ (P - Y)²`` (``"sum"``, as the
tutorial trains) or that over ``Y.size`` (``"mean"``), and the gradients are

    dP = 2 (P - Y) [/ Y.size]     dw2 = Aᵀ dP     db2 = Σ_rows dP
    dH = act'(H) · (dP w2ᵀ)       dw1 = Xᵀ dH     db1 = Σ_rows dH

with ``H = X w1 + b1`` and ``A = act(H)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurust._validation import positive_int
from neurust.backends._partial import attach

Params = dict[str, Any]
"""Parameter name -> native array."""

Progress = Callable[[int, float], object]
"""Called as ``callback(steps_done, last_loss)`` between chunks of steps."""

ACTIVATIONS = ("relu", "sigmoid")
REDUCTIONS = ("sum", "mean")


def non_finite_error(loss: float, step: int, lr: float) -> FloatingPointError:
    """The error every backend raises when the loss before step ``step`` is not finite.

    The rule every backend follows: the parameters whose loss is not finite
    are dropped, so the net keeps those of step ``step - 1`` (whose loss,
    finite, ends the history) and can be trained again with a smaller ``lr``;
    at step 0 the parameters are unchanged and the history is empty. The Rust
    backend raises it too, from the binding's ``_core.FitStopped``, so a
    caller sees one message whatever the backend.
    """
    return FloatingPointError(non_finite_message(loss, step, lr))


def non_finite_message(loss: float, step: int, lr: float) -> str:
    """The text of :func:`non_finite_error`."""
    head = f"the loss became {float(loss)!r} at step {step} (lr={float(lr)!r})"
    if step == 0:
        return (
            f"{head}, before any update; the parameters are unchanged; check the data and "
            "the parameters for NaN, infinite or huge values"
        )
    return (
        f"{head}; the parameters are kept as they were at step {step - 1}, the last whose "
        "loss was finite; try a smaller learning rate"
    )


def keep_lower_loss(
    error: FloatingPointError, steps_done: int, loss_before: float, loss_last: float
) -> bool:
    """After a diverged fit, choose the lower-loss parameters and say which in ``error``.

    The last parameters whose loss was finite (those a fit stopped by
    :func:`non_finite_error` holds, after ``steps_done`` steps) can already be
    huge (a loss of 1e235), and no learning rate trains from there; the
    parameters the call started from can. Given the loss over all the rows of
    both (a NaN counts as infinite), this rewrites ``error``'s message to say
    which are kept and returns True when they are those from before the call
    (also on a tie). Every fit that diverges after a step calls it: the net's
    fit with its local losses, the distributed fit with the all-reduced ones.
    """
    before = loss_before if math.isfinite(loss_before) else math.inf
    last = loss_last if math.isfinite(loss_last) else math.inf
    keep_before = before <= last
    head = str(error).split(";", 1)[0]
    if steps_done == 1:  # the last finite parameters are those the call started from
        kept = (
            "the parameters are kept as they were before this fit, the last whose loss was finite"
        )
    elif keep_before:
        kept = (
            f"the parameters are kept as they were before this fit (loss {before:.6g}), not "
            f"as at step {steps_done - 1}, the last whose loss was finite (loss {last:.6g})"
        )
    else:
        kept = (
            f"the parameters are kept as they were at step {steps_done - 1}, the last whose loss "
            f"was finite (loss {last:.6g}; before this fit it was {before:.6g})"
        )
    error.args = (f"{head}; {kept}; try a smaller learning rate",)
    return keep_before


def batch_bounds(rows: int, batch_size: int | None, step: int) -> tuple[int, int]:
    """The rows step ``step`` trains on: consecutive blocks of ``batch_size``, cyclically.

    Blocks are visited in order without shuffling; the last one is shorter
    when ``batch_size`` does not divide ``rows`` (the rule the Rust loop uses).
    """
    if batch_size is None or batch_size >= rows:
        return 0, rows
    blocks = -(-rows // batch_size)
    start = (step % blocks) * batch_size
    return start, min(start + batch_size, rows)


def is_full_batch(rows: int, batch_size: int | None) -> bool:
    """Whether every step trains on all ``rows``, by :func:`batch_bounds`' rule."""
    return batch_bounds(rows, batch_size, 0) == (0, rows)


def check_counts(steps: Any, batch_size: Any, callback_every: Any) -> None:
    """Raise TypeError or ValueError, naming the argument, unless each count is an int >= 1.

    :class:`FitOptions` calls it, so the ``mlp_fit`` of every :class:`LoopFit`
    backend refuses a float or a ``timedelta64`` before its loop starts. The
    Rust backend passes the counts to ``_core``, which applies the same rule
    with the same messages. ``TwoLayerNet.fit`` checks ``steps`` and
    ``batch_size`` itself first (the values it passes pass again here); this
    check is for callers of a backend's ``mlp_fit``.
    """
    positive_int(steps, "steps")
    for value, name in ((batch_size, "batch_size"), (callback_every, "callback_every")):
        if value is not None:
            positive_int(value, name)


@dataclass(frozen=True, kw_only=True)
class FitOptions:
    """The keyword arguments of :meth:`LoopFit.mlp_fit` (which states the defaults) as one value."""

    activation: str
    steps: int
    lr: float
    reduction: str
    batch_size: int | None
    callback: Progress | None
    callback_every: int | None

    def __post_init__(self) -> None:
        check_counts(self.steps, self.batch_size, self.callback_every)

    @property
    def every(self) -> int:
        """Steps between calls of ``callback`` (all of them when not given)."""
        return self.callback_every or self.steps


def _size(array: Any) -> int:
    """The element count (torch spells it ``numel()``; ``Tensor.size`` is the shape)."""
    numel = getattr(array, "numel", None)
    return int(numel()) if numel is not None else int(array.size)


TrainStep = Callable[[Any, int, int, int], tuple[float, Any]]
"""``train_step(params, step, start, end)``: one step of gradient descent on rows ``start:end``.

Returns the loss of ``params`` on those rows (for a distributed fit, the loss
over every rank's rows, all-reduced) and the parameters after the step. It
must leave ``params`` and the parameters of the step before intact: the loop
returns to the latter when the loss is not finite.
"""


def train(
    params: Any, rows: int, options: FitOptions, train_step: TrainStep
) -> tuple[Any, np.ndarray]:
    """The training loop every fit in Python runs: ``options.steps`` calls of ``train_step``.

    The backends' :meth:`LoopFit.run_fit` pass a ``train_step`` that computes
    the gradients and the update on their own arrays; the distributed fit
    (:mod:`neurust.distributed`) passes one that all-reduces the gradients and
    the loss across the ranks between the two. The loop owns the rest, once:
    the mini-batch rows (:func:`batch_bounds`), the history, the progress
    callback, and the rollback on a non-finite loss (:func:`non_finite_error`:
    the parameters of the step before, whose finite loss ends the history).

    Any exception (KeyboardInterrupt included) that stops the loop carries the
    parameters of the last completed step (or those kept) and the history so
    far (see :mod:`neurust.backends._partial`); ``params`` must then be a dict
    of parameter name to array. Returns the last parameters and the loss
    before each step.
    """
    steps, lr = options.steps, options.lr
    history: list[float] = []  # grown step by step: a fit of 10**9 steps may be stopped early
    done = 0
    previous = params
    try:
        # numpy would warn as a diverging run overflows; the loss check reports it instead.
        with np.errstate(over="ignore", invalid="ignore"):
            for step in range(steps):
                start, end = batch_bounds(rows, options.batch_size, step)
                loss, new_params = train_step(params, step, start, end)
                if not math.isfinite(loss):
                    if step:
                        params = previous  # history[:done] ends with its (finite) loss
                    raise non_finite_error(loss, step, lr)
                # history[:done] is what counts, so Ctrl-C cannot split these stores.
                history.append(loss)
                previous, params = params, new_params
                done = step + 1
                if options.callback is not None and (done % options.every == 0 or done == steps):
                    options.callback(done, loss)
    except BaseException as error:
        attach(error, params, history[:done])
        raise
    return params, np.asarray(history)


class LoopFit:
    """``mlp_fit`` as the Python loop :func:`train` over ``mlp_train_step``, for all but Rust."""

    def mlp_train_step(
        self, x: Any, y: Any, params: Params, activation: str, reduction: str, lr: float
    ) -> tuple[Any, Params]:
        """One step of gradient descent: ``(loss before the step, new parameters)``."""
        loss, grads = self.mlp_gradients(x, y, params, activation, reduction)  # type: ignore[attr-defined]
        return loss, self.mlp_step(params, grads, lr)  # type: ignore[attr-defined]

    def mlp_fit(
        self,
        x: Any,
        y: Any,
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
        """Train by gradient descent; return the new parameters and the loss before each step.

        Raises FloatingPointError at the first non-finite loss, keeping the
        parameters of the step before (see :func:`non_finite_error`). Any
        exception (KeyboardInterrupt included) that stops the fit carries the
        parameters of the last completed step (or those kept) and the
        history so far (see :mod:`neurust.backends._partial`); the parameters
        are replaced as a whole after each step, so they are never half updated.
        """
        options = FitOptions(
            activation=activation,
            steps=steps,
            lr=lr,
            reduction=reduction,
            batch_size=batch_size,
            callback=callback,
            callback_every=callback_every,
        )
        return self.run_fit(x, y, params, options)

    def run_fit(
        self, x: Any, y: Any, params: Params, options: FitOptions
    ) -> tuple[Params, np.ndarray]:
        """:meth:`mlp_fit` as one step at a time in Python: the loop every other one must match."""
        rows = len(x)
        activation, reduction, lr = options.activation, options.reduction, options.lr

        def train_step(params: Params, step: int, start: int, end: int) -> tuple[float, Params]:
            if (start, end) == (0, rows):
                batch_x, batch_y = x, y
            else:
                batch_x, batch_y = x[start:end], y[start:end]
            loss, new_params = self.mlp_train_step(
                batch_x, batch_y, params, activation, reduction, lr
            )
            return float(loss), new_params

        return train(params, rows, options, train_step)


class ArrayMlp(LoopFit):
    """The network written once with numpy's operators, for numpy, torch and JAX arrays.

    Uses the backend's own ``relu``/``sigmoid`` kernels and their gradients.
    """

    def _activate(self, activation: str, h: Any) -> Any:
        return self.relu(h) if activation == "relu" else self.sigmoid(h)  # type: ignore[attr-defined]

    def _activate_grad(self, activation: str, h: Any, grad: Any) -> Any:
        if activation == "relu":
            return self.relu_grad(h, grad)  # type: ignore[attr-defined]
        return self.sigmoid_grad(h, grad)  # type: ignore[attr-defined]

    def _forward(self, x: Any, params: Params, activation: str) -> tuple[Any, Any, Any]:
        hidden = x @ params["w1"]
        if "b1" in params:
            hidden = hidden + params["b1"]
        activations = self._activate(activation, hidden)
        predictions = activations @ params["w2"]
        if "b2" in params:
            predictions = predictions + params["b2"]
        return hidden, activations, predictions

    def mlp_forward(self, x: Any, params: Params, activation: str) -> Any:
        """``act(x @ w1 + b1) @ w2 + b2``."""
        return self._forward(x, params, activation)[2]

    @staticmethod
    def _squared_error(diff: Any, reduction: str) -> Any:
        total = (diff * diff).sum()
        return total / _size(diff) if reduction == "mean" else total

    def mlp_loss(
        self, x: Any, y: Any, params: Params, activation: str, reduction: str = "sum"
    ) -> Any:
        """``Σ (P - y)²``, over ``y.size`` for ``"mean"``; a native scalar."""
        return self._squared_error(self.mlp_forward(x, params, activation) - y, reduction)

    def mlp_gradients(
        self, x: Any, y: Any, params: Params, activation: str, reduction: str = "sum"
    ) -> tuple[Any, Params]:
        """The loss and its gradient for every parameter, keyed like ``params``."""
        hidden, activations, predictions = self._forward(x, params, activation)
        diff = predictions - y
        loss = self._squared_error(diff, reduction)
        scale = 2.0 / _size(diff) if reduction == "mean" else 2.0
        d_predictions = scale * diff
        grads = {"w2": activations.T @ d_predictions}
        d_hidden = self._activate_grad(activation, hidden, d_predictions @ params["w2"].T)
        grads["w1"] = x.T @ d_hidden
        if "b1" in params:
            grads["b1"] = d_hidden.sum(0)
            grads["b2"] = d_predictions.sum(0)
        return loss, grads

    def mlp_step(self, params: Params, grads: Params, lr: float) -> Params:
        """New parameters ``w - lr * dw`` (the inputs are left alone)."""
        return {name: value - lr * grads[name] for name, value in params.items()}


def _transpose(matrix: list[list[float]]) -> list[list[float]]:
    return [list(column) for column in zip(*matrix, strict=True)]


def _column_sums(matrix: list[list[float]]) -> list[float]:
    # Plain left-to-right sums, as the pure Python backend's dot product does.
    sums = [0.0] * len(matrix[0]) if matrix else []
    for row in matrix:
        for index, value in enumerate(row):
            sums[index] += value
    return sums


class ListMlp(LoopFit):
    """The network on nested lists, with the pure Python backend's ``linear`` and activations."""

    def _forward(self, x: Any, params: Params, activation: str) -> tuple[Any, Any, Any]:
        hidden = self.linear(x, params["w1"], params.get("b1"))  # type: ignore[attr-defined]
        activations = self.relu(hidden) if activation == "relu" else self.sigmoid(hidden)  # type: ignore[attr-defined]
        predictions = self.linear(activations, params["w2"], params.get("b2"))  # type: ignore[attr-defined]
        return hidden, activations, predictions

    def mlp_forward(self, x: Any, params: Params, activation: str) -> Any:
        """``act(x @ w1 + b1) @ w2 + b2``."""
        return self._forward(x, params, activation)[2]

    @staticmethod
    def _differences(predictions: Any, y: Any) -> list[list[float]]:
        return [
            [p - t for p, t in zip(p_row, y_row, strict=True)]
            for p_row, y_row in zip(predictions, y, strict=True)
        ]

    @staticmethod
    def _squared_error(diff: list[list[float]], reduction: str) -> float:
        total, count = 0.0, 0
        for row in diff:
            for value in row:
                total += value * value
                count += 1
        return total / count if reduction == "mean" else total

    def mlp_loss(
        self, x: Any, y: Any, params: Params, activation: str, reduction: str = "sum"
    ) -> float:
        """``Σ (P - y)²``, over the element count for ``"mean"``."""
        diff = self._differences(self.mlp_forward(x, params, activation), y)
        return self._squared_error(diff, reduction)

    def mlp_gradients(
        self, x: Any, y: Any, params: Params, activation: str, reduction: str = "sum"
    ) -> tuple[float, Params]:
        """The loss and its gradient for every parameter, keyed like ``params``."""
        hidden, activations, predictions = self._forward(x, params, activation)
        diff = self._differences(predictions, y)
        loss = self._squared_error(diff, reduction)
        count = sum(len(row) for row in diff)
        scale = 2.0 / count if reduction == "mean" else 2.0
        d_predictions = [[scale * value for value in row] for row in diff]
        grads = {"w2": self.linear(_transpose(activations), d_predictions)}  # type: ignore[attr-defined]
        d_activations = self.linear(d_predictions, _transpose(params["w2"]))  # type: ignore[attr-defined]
        if activation == "relu":
            d_hidden = self.relu_grad(hidden, d_activations)  # type: ignore[attr-defined]
        else:
            d_hidden = self.sigmoid_grad(hidden, d_activations)  # type: ignore[attr-defined]
        grads["w1"] = self.linear(_transpose(x), d_hidden)  # type: ignore[attr-defined]
        if "b1" in params:
            grads["b1"] = _column_sums(d_hidden)
            grads["b2"] = _column_sums(d_predictions)
        return loss, grads

    def mlp_step(self, params: Params, grads: Params, lr: float) -> Params:
        """New parameters ``w - lr * dw`` (the inputs are left alone)."""

        def descend(value: Any, grad: Any) -> Any:
            if isinstance(value, list):
                return [descend(v, g) for v, g in zip(value, grad, strict=True)]
            return value - lr * grad

        return {name: descend(value, grads[name]) for name, value in params.items()}
