"""A numpy stand-in for ``neurust._core.Network``, built from scikit-learn's own arithmetic.

``ReferenceNetwork`` has the compiled object's interface (constructor, ``forward``,
``loss_gradient``, ``set_sgd`` / ``set_adam``, ``learning_rate``, ``epoch``,
``optimizer_state`` / ``set_optimizer_state``, pickling) but computes every number with
scikit-learn's own functions: ``BaseMultilayerPerceptron._forward_pass_fast`` and
``_backprop`` (borrowed onto a small holder of the attributes they read), and the
``SGDOptimizer`` / ``AdamOptimizer`` update arithmetic. An estimator of
``neurust.sklearn`` driven by it must therefore reproduce scikit-learn *bit for bit*:
that proves the Python layer (the random draws, the schedules, the stopping rule, the
validation split, warm starts) on its own, whatever the Rust core does.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.neural_network._multilayer_perceptron import BaseMultilayerPerceptron
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils import _safe_indexing, gen_batches

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
OUT_ACTIVATIONS = ("identity", "exp", "logistic", "softmax")
LOSSES = ("squared_error", "poisson", "log_loss", "binary_log_loss")


class _SklearnArithmetic:
    """The attributes scikit-learn's forward and backward passes read, and those passes."""

    _forward_pass = BaseMultilayerPerceptron._forward_pass
    _forward_pass_fast = BaseMultilayerPerceptron._forward_pass_fast
    _compute_loss_grad = BaseMultilayerPerceptron._compute_loss_grad
    _backprop = BaseMultilayerPerceptron._backprop

    def __init__(
        self,
        n_layers: int,
        activation: str,
        out_activation: str,
        loss: str,
        coefs: list[np.ndarray],
        intercepts: list[np.ndarray],
        alpha: float = 0.0,
    ) -> None:
        self.n_layers_ = n_layers
        self.activation = activation
        self.out_activation_ = out_activation
        # scikit-learn picks binary_log_loss itself from log_loss and a logistic output.
        self.loss = "log_loss" if loss == "binary_log_loss" else loss
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        self.alpha = alpha


def _matrix(X: Any) -> Any:
    """A dense array as is; a CSR tuple (data, indices, indptr, n_features) as a CSR matrix."""
    if isinstance(X, tuple):
        data, indices, indptr, n_features = X
        return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, n_features))
    return X


class ReferenceNetwork:
    """``neurust._core.Network``'s interface on scikit-learn's arithmetic (see the module)."""

    def __init__(
        self,
        layer_sizes: list[int],
        hidden_activation: str,
        out_activation: str,
        loss: str,
        dtype: str,
    ) -> None:
        if hidden_activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"hidden_activation {hidden_activation!r} is not one of those known")
        if out_activation not in OUT_ACTIVATIONS:
            raise ValueError(f"out_activation {out_activation!r} is not one of those known")
        if loss not in LOSSES:
            raise ValueError(f"loss {loss!r} is not one of those known")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype {dtype!r} is neither 'float32' nor 'float64'")
        self._args = (list(layer_sizes), hidden_activation, out_activation, loss, dtype)
        self._optimizer: SGDOptimizer | AdamOptimizer | None = None

    @property
    def layer_sizes(self) -> list[int]:
        return list(self._args[0])

    @property
    def dtype(self) -> str:
        return self._args[4]

    def _arithmetic(
        self, coefs: list[np.ndarray], intercepts: list[np.ndarray], alpha: float = 0.0
    ) -> _SklearnArithmetic:
        sizes, hidden, out, loss, _ = self._args
        return _SklearnArithmetic(len(sizes), hidden, out, loss, coefs, intercepts, alpha)

    def forward(self, X: Any, coefs: list[np.ndarray], intercepts: list[np.ndarray]) -> Any:
        return self._arithmetic(coefs, intercepts)._forward_pass_fast(_matrix(X), check_input=False)

    def _backprop(
        self,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        coefs: list[np.ndarray],
        intercepts: list[np.ndarray],
        alpha: float,
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        n = len(self._args[0])
        activations = [X] + [None] * (n - 1)
        deltas: list[Any] = [None] * (n - 1)
        coef_grads: list[Any] = [None] * (n - 1)
        intercept_grads: list[Any] = [None] * (n - 1)
        return self._arithmetic(coefs, intercepts, alpha)._backprop(
            X, y, sample_weight, activations, deltas, coef_grads, intercept_grads
        )

    def loss_gradient(
        self,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        coefs: list[np.ndarray],
        intercepts: list[np.ndarray],
        alpha: float,
        coef_grads: list[np.ndarray],
        intercept_grads: list[np.ndarray],
    ) -> float:
        loss, new_coef_grads, new_intercept_grads = self._backprop(
            _matrix(X), self._targets(y), sample_weight, coefs, intercepts, alpha
        )
        for out, new in zip(
            coef_grads + intercept_grads, new_coef_grads + new_intercept_grads, strict=True
        ):
            out[...] = new
        return float(loss)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        # scikit-learn's classifiers hold their 0/1 targets as bools, which sets the float
        # type of its log losses (1 - y is int64); give them the same.
        return y.astype(bool) if self._args[3] in ("log_loss", "binary_log_loss") else y

    def _zeros(self) -> list[np.ndarray]:
        sizes, dtype = self._args[0], self._args[4]
        shapes = list(pairwise(sizes)) + [(b,) for b in sizes[1:]]
        return [np.zeros(shape, dtype=dtype) for shape in shapes]

    def set_sgd(self, learning_rate: float, momentum: float, nesterov: bool) -> None:
        self._optimizer = SGDOptimizer(
            self._zeros(), learning_rate, "constant", momentum, nesterov, 0.5
        )

    def set_adam(
        self, learning_rate_init: float, beta_1: float, beta_2: float, epsilon: float
    ) -> None:
        self._optimizer = AdamOptimizer(self._zeros(), learning_rate_init, beta_1, beta_2, epsilon)

    @property
    def learning_rate(self) -> float:
        if self._optimizer is None:
            raise RuntimeError("no optimizer: call set_sgd or set_adam first")
        if isinstance(self._optimizer, AdamOptimizer):
            return float(self._optimizer.learning_rate_init)
        return float(self._optimizer.learning_rate)

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self._optimizer is None:
            raise RuntimeError("no optimizer: call set_sgd or set_adam first")
        if isinstance(self._optimizer, AdamOptimizer):
            self._optimizer.learning_rate_init = value
        else:
            self._optimizer.learning_rate = value

    def epoch(
        self,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        coefs: list[np.ndarray],
        intercepts: list[np.ndarray],
        order: np.ndarray,
        batch_size: int,
        alpha: float,
    ) -> float:
        """scikit-learn's inner loop of ``_fit_stochastic``, one pass over ``order``."""
        if self._optimizer is None:
            raise RuntimeError("no optimizer: call set_sgd or set_adam first")
        X, y = _matrix(X), self._targets(y)
        params = coefs + intercepts
        accumulated_loss = 0.0
        for batch_slice in gen_batches(len(order), batch_size):
            batch_idx = order[batch_slice]
            X_batch = _safe_indexing(X, batch_idx)
            weight_batch = None if sample_weight is None else sample_weight[batch_idx]
            batch_loss, coef_grads, intercept_grads = self._backprop(
                X_batch, y[batch_idx], weight_batch, coefs, intercepts, alpha
            )
            accumulated_loss += batch_loss * (batch_slice.stop - batch_slice.start)
            self._optimizer.update_params(params, coef_grads + intercept_grads)
        # A float32 net's sum stays a float32, as scikit-learn's does; float() is exact.
        return float(accumulated_loss)

    def optimizer_state(self) -> dict[str, Any] | None:
        optimizer = self._optimizer
        if optimizer is None:
            return None
        if isinstance(optimizer, AdamOptimizer):
            return {
                "kind": "adam",
                "learning_rate": optimizer.learning_rate_init,
                "beta_1": optimizer.beta_1,
                "beta_2": optimizer.beta_2,
                "epsilon": optimizer.epsilon,
                "t": optimizer.t,
                "ms": [m.copy() for m in optimizer.ms],
                "vs": [v.copy() for v in optimizer.vs],
            }
        return {
            "kind": "sgd",
            "learning_rate": optimizer.learning_rate,
            "momentum": optimizer.momentum,
            "nesterov": optimizer.nesterov,
            "velocities": [v.copy() for v in optimizer.velocities],
        }

    def set_optimizer_state(self, state: dict[str, Any] | None) -> None:
        if state is None:
            self._optimizer = None
        elif state["kind"] == "adam":
            self.set_adam(
                state["learning_rate"], state["beta_1"], state["beta_2"], state["epsilon"]
            )
            assert isinstance(self._optimizer, AdamOptimizer)
            self._optimizer.t = state["t"]
            self._optimizer.ms = [m.copy() for m in state["ms"]]
            self._optimizer.vs = [v.copy() for v in state["vs"]]
        else:
            self.set_sgd(state["learning_rate"], state["momentum"], state["nesterov"])
            assert isinstance(self._optimizer, SGDOptimizer)
            self._optimizer.velocities = [v.copy() for v in state["velocities"]]


CORES = ("reference", "rust")


def use_core(name: str, monkeypatch: Any) -> str:
    """Make neurust.sklearn's estimators compute with ``name`` ("reference" or "rust").

    "rust" skips the test while the compiled module has no ``Network``.
    """
    import pytest

    from neurust import _core
    from neurust.sklearn import _estimators

    if name == "reference":
        monkeypatch.setattr(_estimators, "_network_class", lambda: ReferenceNetwork)
    elif not hasattr(_core, "Network"):
        pytest.skip("this build of neurust._core has no Network yet")
    return name
