"""``TwoLayerNet.fit``: checking its arguments, the backend's loop, and what a stopped fit leaves.

A stopped fit leaves the net with the parameters of its last completed step;
after a non-finite loss, with the lower-loss of those and the parameters the
call started from (:func:`~neurust.backends._mlp.keep_lower_loss`).
``distributed=`` hands the fit to :mod:`neurust.distributed`.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from neurust._locking import locked
from neurust._model_parameters import NetParameters
from neurust._progress import progress_bar
from neurust._validation import boolean, choice, learning_rate, positive_int
from neurust.backends._mlp import REDUCTIONS, keep_lower_loss
from neurust.backends._partial import partial_fit_of
from neurust.distributed.fit import fit_distributed

__all__ = ["Training"]


class Training(NetParameters):
    """``fit`` and what it needs, for :class:`~neurust.model.TwoLayerNet`."""

    @locked
    def fit(
        self,
        X: Any,
        Y: Any,
        steps: int,
        lr: float,
        batch_size: int | None = None,
        progress: bool = False,
        reduction: str = "sum",
        distributed: Any = False,
    ) -> np.ndarray:
        """Train by gradient descent: ``steps`` times, ``w -= lr * dL/dw`` for every parameter.

        On the Rust backend the whole loop is one compiled call: the workspace
        is allocated once, nothing per step, and the GIL is released.

        Parameters
        ----------
        X : array_like, shape (n, input_dim)
        Y : array_like, shape (n, output_dim)
            ``(n,)`` is accepted when ``output_dim`` is 1.
        steps : int
            At least 1.
        lr : float
            The learning rate; finite and not negative (the tutorial uses 1e-6).
        batch_size : int, optional
            Rows per step: the data is cut into consecutive blocks of
            ``batch_size`` rows (the last one shorter if it does not divide
            ``n``), visited in order, cyclically, without shuffling. Default:
            every row, every step.
        progress : bool
            Show a progress bar with the current loss (rich, else tqdm) on
            standard error, updated in chunks of steps.
        reduction : {"sum", "mean"}
        distributed : bool or torch.distributed.ProcessGroup
            True (or a group) trains data-parallel with the other ranks on
            this rank's rows: see :mod:`neurust.distributed`.

        Returns
        -------
        ndarray, shape (steps,)
            The loss before each step, in the net's dtype; also kept as
            ``history_``.

        Raises
        ------
        FloatingPointError
            If the loss becomes NaN or infinite; the message names the step.
            The net keeps whichever has the lower loss over ``X``: its
            parameters from before this call, or the last ones whose loss
            was finite (those before the step that diverged); the message
            says which. ``history_`` holds the finite losses of the steps
            run, and a ``fit`` with a smaller ``lr`` trains from there.
        KeyboardInterrupt
            On Ctrl-C (within about 100 ms on the Rust backend); the
            parameters are those of the last completed step, and ``history_``
            holds the losses so far.
        ValueError
            If the shapes do not match the net, ``steps < 1``, ``lr`` is not
            finite or negative, ``batch_size < 1``, or ``reduction`` is unknown.
        TypeError
            If the data is not real numbers, ``steps`` or ``batch_size`` is
            not an int, or ``progress`` is not a bool.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> X, Y = rng.standard_normal((128, 1000)), rng.standard_normal((128, 1))
        >>> history = nr.TwoLayerNet(1000, 100, 1, seed=0).fit(X, Y, steps=500, lr=1e-6)
        >>> bool(history[-1] < history[0] / 10_000)
        True
        """
        if distributed is not False:
            args = (steps, lr, batch_size, progress, reduction, distributed)
            return fit_distributed(self, X, Y, *args)
        steps = positive_int(steps, "steps")
        lr = learning_rate(lr)
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
        reduction = choice(reduction, "reduction", REDUCTIONS)
        progress = boolean(progress, "progress")
        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        bar = (
            progress_bar(steps, "training", show_loss=True, stderr=True)
            if progress
            else nullcontext()
        )
        with bar as shown:
            params, history = self._train(x, y, steps, lr, batch_size, reduction, shown)
        self._adopt_native(params)
        self.history_ = np.asarray(history, dtype=self.dtype)
        return self.history_

    def _train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        steps: int,
        lr: float,
        batch_size: int | None,
        reduction: str,
        bar: Any,
    ) -> tuple[dict[str, Any], Any]:
        """The backend's ``mlp_fit``; a stopped fit leaves the last completed step in the net."""
        backend = self.backend
        update = None if bar is None else bar.update
        # The one copy per call: numpy and Rust train the net's own arrays in
        # place, and a diverged fit may fall back to these.
        before = {name: value.copy() for name, value in self._params.items()}
        try:
            return backend.mlp_fit(
                backend.from_numpy(x),
                backend.from_numpy(y),
                self._native_parameters(),
                activation=self.activation,
                steps=steps,
                lr=lr,
                reduction=reduction,
                batch_size=batch_size,
                callback=update,
                callback_every=max(1, steps // 100) if update else None,
            )
        except BaseException as error:
            partial = partial_fit_of(error)
            if partial is not None:
                self._adopt_native(partial.params)
                self.history_ = np.asarray(partial.history, dtype=self.dtype)
                if isinstance(error, FloatingPointError) and partial.steps_done > 0:
                    self._keep_lower_loss(error, before, x, y, reduction)
            raise

    def _keep_lower_loss(
        self,
        error: FloatingPointError,
        before: dict[str, np.ndarray],
        x: np.ndarray,
        y: np.ndarray,
        reduction: str,
    ) -> None:
        """After divergence, hold the lower-loss of the parameters before the call and now.

        The loss is taken over all of ``x`` for both; the rule and the message
        are :func:`~neurust.backends._mlp.keep_lower_loss`'s.
        """
        backend = self.backend

        def loss_of(native: dict[str, Any]) -> float:
            value = backend.mlp_loss(
                backend.from_numpy(x), backend.from_numpy(y), native, self.activation, reduction
            )
            return float(backend.to_numpy(value))

        steps_done = 0 if self.history_ is None else len(self.history_)
        with np.errstate(all="ignore"):
            last = loss_of(self._native_parameters())
            start = loss_of({k: backend.from_numpy(v) for k, v in before.items()})
        if keep_lower_loss(error, steps_done, start, last):
            self._set_parameters(before)
