"""Perceptron: Rosenblatt's threshold neuron and its learning rule, on the Rust kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurust import _core
from neurust._convert import as_float_array
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
        if seed is None:
            self.weights_ = np.zeros(self.n_inputs)
            self.bias_ = 0.0
        else:
            rng = generator(seed)
            self.weights_ = rng.uniform(-0.5, 0.5, self.n_inputs)
            self.bias_ = float(rng.uniform(-0.5, 0.5))
        self.converged_ = False
        self.epochs_ = 0

    def _inputs(self, X: Any) -> np.ndarray:
        x = as_float_array(X, "X").astype(np.float64, copy=False)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(
                f"X has shape {shape_text(x.shape)}, but the perceptron has "
                f"{self.n_inputs} inputs; X needs shape (samples, {self.n_inputs})"
            )
        return x

    def _fires(self, x: np.ndarray) -> np.ndarray:
        activity = _core.weighted_sum(x, self.weights_) + self.bias_
        return _core.step(np.asarray(activity, dtype=np.float64))

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
            If the shapes do not match, a target is not 0 or 1, or
            ``max_epochs < 1``.

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
        if not np.all((targets == 0) | (targets == 1)):
            raise ValueError("y must hold only 0 and 1")
        self.converged_ = False
        for epoch in range(1, max_epochs + 1):
            mistakes = 0
            for sample, target in zip(x, targets, strict=True):
                error = float(target - self._fires(sample))
                if error != 0.0:
                    mistakes += 1
                    self.weights_ += self.lr * error * sample
                    self.bias_ += self.lr * error
            self.epochs_ = epoch
            if mistakes == 0:
                self.converged_ = True
                break
        return self

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
