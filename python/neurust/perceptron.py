"""Perceptron: Rosenblatt's threshold neuron and its learning rule, on the Rust kernels."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from neurust import _core
from neurust._convert import as_float_array
from neurust._locking import locked
from neurust._validation import generator, positive_int, positive_learning_rate, shape_text

__all__ = ["Perceptron"]


class Perceptron:
    """A single threshold neuron: fires (1) when ``x · weights + bias > 0``, else 0.

    Trained with the perceptron rule: for each sample in turn, the error
    ``target - prediction`` (-1, 0 or 1) moves the weights by
    ``lr * error * x`` and the bias by ``lr * error``. The prediction uses the
    Rust ``weighted_sum`` and ``step`` kernels. If the classes can be split by
    a line (a hyperplane), the rule finds one in finitely many epochs (AND,
    OR); otherwise (XOR) it never settles, so ``fit`` stops after
    ``max_epochs``.

    Parameters
    ----------
    n_inputs : int
        Inputs per sample.
    lr : float
        The learning rate; positive and finite.
    seed : int, optional
        None starts from zero weights and bias (the textbook rule, fully
        deterministic); an int draws small initial weights from
        ``numpy.random.default_rng(seed)`` (uniform in ``[-0.5, 0.5)``).

    Attributes
    ----------
    weights_ : ndarray, shape (n_inputs,)
    bias_ : float
    converged_ : bool
        Whether the last ``fit`` reached an epoch without a mistake.
    epochs_ : int
        Epochs the last ``fit`` ran (the error-free one included).

    Raises
    ------
    MemoryError
        If the weights for ``n_inputs`` cannot be allocated (the message names
        ``n_inputs``).

    Notes
    -----
    ``fit`` and ``predict`` hold the perceptron's lock: one perceptron may be
    shared between threads, and a ``predict`` never sees a half-applied update.

    Examples
    --------
    >>> X = [[0, 0], [0, 1], [1, 0], [1, 1]]
    >>> p = nr.Perceptron(2).fit(X, [0, 0, 0, 1])
    >>> p.predict(X).tolist(), p.converged_
    ([0, 0, 0, 1], True)
    """

    n_inputs: int
    lr: float
    weights_: np.ndarray
    bias_: float
    converged_: bool
    epochs_: int

    def __init__(self, n_inputs: int, lr: float = 1.0, seed: int | None = None) -> None:
        # Counts here never reach a compiled kernel as an index, so no upper bound.
        self.n_inputs = positive_int(n_inputs, "n_inputs", at_most=None)
        self.lr = positive_learning_rate(lr)
        rng = None if seed is None else generator(seed)
        try:
            if rng is None:
                self.weights_ = np.zeros(self.n_inputs)
                self.bias_ = 0.0
            else:
                self.weights_ = rng.uniform(-0.5, 0.5, self.n_inputs)
                self.bias_ = float(rng.uniform(-0.5, 0.5))
        except (MemoryError, ValueError):  # numpy's "array is too big" is a ValueError
            raise MemoryError(
                f"n_inputs={self.n_inputs} needs {8 * self.n_inputs:,} bytes of weights, "
                "more than can be allocated"
            ) from None
        self.converged_ = False
        self.epochs_ = 0
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def _inputs(self, X: Any) -> np.ndarray:
        x = as_float_array(X, "X").astype(np.float64, copy=False)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(
                f"X has shape {shape_text(x.shape)}, but the perceptron has "
                f"{self.n_inputs} inputs; X needs shape (samples, {self.n_inputs})"
            )
        return x

    def _update(self, sample: np.ndarray, error: float, epoch: int) -> None:
        """Move the weights and bias by the rule, or raise if they would stop being finite."""
        # ``error`` is a numpy scalar: the bias's update warns on overflow too.
        with np.errstate(over="ignore", invalid="ignore"):  # reported below instead
            weights = self.weights_ + self.lr * error * sample
            bias = float(self.bias_ + self.lr * error)
        if not (np.all(np.isfinite(weights)) and math.isfinite(bias)):
            self.epochs_ = epoch
            raise FloatingPointError(
                f"the weights overflowed at epoch {epoch} (lr={self.lr}); they are kept as "
                "they were before that update; try a smaller learning rate"
            )
        self.weights_, self.bias_ = weights, bias  # a new array: a copy.copy never shares it

    def _fires(self, x: np.ndarray) -> np.ndarray:
        # Finite weights can still sum past float range: ±inf then fires (or not) as it should.
        with np.errstate(over="ignore"):
            activity = _core.weighted_sum(x, self.weights_) + self.bias_
        return _core.heaviside(np.asarray(activity, dtype=np.float64))

    @locked
    def fit(self, X: Any, y: Any, max_epochs: int = 100) -> Perceptron:
        """Apply the perceptron rule, sample by sample, until an epoch makes no mistake.

        Parameters
        ----------
        X : array_like, shape (n, n_inputs)
        y : array_like, shape (n,)
            Targets, each 0 or 1.
        max_epochs : int
            The most passes over the data; at least 1.

        Returns
        -------
        Perceptron
            ``self``, with ``weights_``, ``bias_``, ``converged_`` and ``epochs_`` set.

        Raises
        ------
        ValueError
            If the shapes do not match, ``X`` has no rows, a target is not 0
            or 1, or ``max_epochs < 1``.
        FloatingPointError
            If an update would make a weight or the bias infinite or NaN (too
            large an ``lr`` for the data); the message names ``lr``, the
            weights are those before that update and ``converged_`` is False.

        Examples
        --------
        >>> nr.Perceptron(2).fit([[0, 0], [1, 1]], [0, 1]).converged_
        True
        """
        max_epochs = positive_int(max_epochs, "max_epochs", at_most=None)
        x = self._inputs(X)
        if not np.all(np.isfinite(x)):
            raise ValueError("X must be finite (NaN or infinity would poison the weights)")
        targets = as_float_array(y, "y")
        if targets.shape != (x.shape[0],):
            raise ValueError(
                f"y has shape {shape_text(targets.shape)}, but X has {x.shape[0]} rows; "
                f"y needs shape ({x.shape[0]},)"
            )
        if x.shape[0] == 0:
            # An empty epoch has no mistakes, so it would "converge" having learnt nothing.
            raise ValueError("X has no rows; the perceptron rule needs at least one sample")
        if not np.all((targets == 0) | (targets == 1)):
            raise ValueError("y must hold only 0 and 1")
        self.converged_ = False
        for epoch in range(1, max_epochs + 1):
            mistakes = 0
            for sample, target in zip(x, targets, strict=True):
                error = float(target - self._fires(sample))
                if error != 0.0:
                    mistakes += 1
                    self._update(sample, error, epoch)
            self.epochs_ = epoch
            if mistakes == 0:
                self.converged_ = True
                break
        return self

    @locked
    def predict(self, X: Any) -> np.ndarray:
        """The neuron's output for each sample: ``step(X @ weights_ + bias_)``.

        Parameters
        ----------
        X : array_like, shape (n, n_inputs)

        Returns
        -------
        ndarray of int, shape (n,)
            0 or 1 per sample (0 where the weighted sum is NaN).

        Raises
        ------
        ValueError
            If ``X`` does not have ``n_inputs`` columns.

        Examples
        --------
        >>> nr.Perceptron(2).predict([[1.0, 1.0]]).tolist()
        [0]
        """
        # step() keeps NaN (from non-finite inputs) as NaN; such a sample does not fire.
        return (self._fires(self._inputs(X)) == 1.0).astype(np.int64)

    def __repr__(self) -> str:
        return f"Perceptron({self.n_inputs}, lr={self.lr})"
