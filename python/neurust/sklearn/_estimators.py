"""MLPRegressor and MLPClassifier: scikit-learn's estimators with their arithmetic in Rust.

Each class subclasses scikit-learn's own, so its parameters, defaults, validation,
tags, label handling, initial weights (``_init_coef``) and scores are scikit-learn's
code. Three seams are replaced, at the points where scikit-learn's random draws are
already made:

- ``_fit_stochastic`` (sgd, adam): Python keeps scikit-learn's epoch loop (each epoch's
  shuffle, the same draw as scikit-learn's ``shuffle(sample_idx, random_state=...)``;
  ``t_``, ``n_iter_``, ``loss_curve_``; the validation split and scores; the stopping rule; the
  learning-rate schedules, with scikit-learn's own ``SGDOptimizer`` / ``AdamOptimizer``
  kept for their between-epoch rules only), and each epoch is one call of
  ``Network.epoch``, which gathers the batches, runs forward and backward and updates
  the parameters in place in Rust.
- ``_fit_lbfgs`` / ``_loss_grad_lbfgs``: scipy's L-BFGS-B is driven exactly as
  scikit-learn drives it, with the loss and gradient from ``Network.loss_gradient``.
- ``_forward_pass_fast`` (``predict``, ``predict_proba``, the validation score):
  ``Network.forward``.

The optimizer's state (velocities, Adam's moments and step count) lives in the
``Network`` the estimator holds, so ``partial_fit`` continues where the last call
stopped, also after pickling.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as _SklearnMLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.utils.validation import validate_data

from neurust import _core

__all__ = ["MLPClassifier", "MLPRegressor"]

# The pickled form of the training Network: its optimizer state, rebuilt on demand.
_OPTIMIZER_STATE = "_network_optimizer_state"


def _network_class() -> Any:
    """The class that computes: ``neurust._core.Network`` (tests substitute a reference)."""
    from neurust import _core

    network = getattr(_core, "Network", None)
    if network is None:
        raise RuntimeError("this build of neurust's compiled core has no Network; rebuild neurust")
    return network


def _dense_or_csr(X: Any, dtype: np.dtype) -> Any:
    """X as the Network reads it: a C-contiguous array, or a CSR tuple, of ``dtype``."""
    if sp.issparse(X):
        csr = X.tocsr()
        data = np.ascontiguousarray(csr.data, dtype=dtype)
        indices = np.ascontiguousarray(csr.indices)
        indptr = np.ascontiguousarray(csr.indptr)
        if indices.dtype != indptr.dtype or indices.dtype not in (np.int32, np.int64):
            indices = indices.astype(np.int64)
            indptr = indptr.astype(np.int64)
        return (data, indices, indptr, int(csr.shape[1]))
    return np.ascontiguousarray(X, dtype=dtype)


def _contiguous(arrays: list[np.ndarray], dtype: np.dtype) -> list[np.ndarray]:
    """The arrays themselves where already C-contiguous, writeable and of ``dtype``."""
    return [
        a
        if a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        else np.array(a, dtype=dtype, order="C")
        for a in arrays
    ]


def _shuffle(sample_idx: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
    """``sklearn.utils.shuffle(sample_idx, random_state=random_state)``, without its checks.

    The same draws: scikit-learn shuffles ``np.arange(n)`` with ``random_state`` and
    indexes by it. For a plain ``RandomState`` the compiled core makes the same swaps on
    ``sample_idx`` in place (with numpy's own bit generator, under its lock) and returns
    it; other random states take numpy's path and return a new array. scikit-learn's own
    checks cost as much as a small epoch (``python benches/network_per_batch.py``).
    """
    if type(random_state) is np.random.RandomState:
        bit_generator = random_state._bit_generator
        if hasattr(bit_generator, "capsule"):
            with bit_generator.lock:
                _core._legacy_shuffle(bit_generator, sample_idx)
            return sample_idx
    permutation = np.arange(sample_idx.shape[0])
    random_state.shuffle(permutation)
    return sample_idx[permutation]


class _LbfgsData:
    """X, y and the sample weights converted once per fit, for each dtype asked, and the
    Network that evaluates them (its workspace then lasts the whole fit, not one call)."""

    def __init__(self, X: Any, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        self._raw = (X, y, sample_weight)
        self._converted: dict[np.dtype, tuple[Any, np.ndarray, np.ndarray | None]] = {}
        self._networks: dict[np.dtype, Any] = {}

    def network(self, dtype: np.dtype, make: Callable[[], Any]) -> Any:
        if dtype not in self._networks:
            self._networks[dtype] = make()
        return self._networks[dtype]

    def as_dtype(self, dtype: np.dtype) -> tuple[Any, np.ndarray, np.ndarray | None]:
        if dtype not in self._converted:
            X, y, sample_weight = self._raw
            self._converted[dtype] = (
                _dense_or_csr(X, dtype),
                np.ascontiguousarray(y, dtype=dtype),
                None if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=dtype),
            )
        return self._converted[dtype]


class _NetworkMLP:
    """The numeric seams of scikit-learn's BaseMultilayerPerceptron, on ``Network``."""

    # Set by scikit-learn's own code; declared for the type checker.
    activation: str
    alpha: float
    batch_size: Any
    beta_1: float
    beta_2: float
    coefs_: list[np.ndarray]
    early_stopping: bool
    epsilon: float
    intercepts_: list[np.ndarray]
    learning_rate: str
    learning_rate_init: float
    loss: str
    loss_: Any
    loss_curve_: list[Any]
    max_iter: int
    momentum: float
    n_iter_: int
    n_iter_no_change: Any
    n_layers_: int
    n_outputs_: int
    nesterovs_momentum: bool
    out_activation_: str
    power_t: float
    shuffle: bool
    solver: str
    t_: int
    tol: float
    validation_fraction: float
    verbose: Any
    _best_coefs: list[np.ndarray]
    _best_intercepts: list[np.ndarray]
    _no_improvement_count: int
    _optimizer: Any
    _random_state: np.random.RandomState

    # --- the Network -------------------------------------------------------------------

    def _network_loss(self) -> str:
        if self.loss != "log_loss":
            return self.loss
        return "binary_log_loss" if self.out_activation_ == "logistic" else "log_loss"

    def _loss_type(self, dtype: np.dtype, integer_batch_size: bool = False) -> type:
        """The float type of scikit-learn's loss_ and loss_curve_ for data of ``dtype``.

        The data's own, except float64 where numpy's promotion makes scikit-learn's sum a
        float64 for float32 data: its log losses take ``xlogy`` of boolean targets (which
        scipy computes in float64), and a batch_size given as an integer reaches the sum as
        np.clip's int64.
        """
        if integer_batch_size or self.loss == "log_loss":
            return np.float64
        return dtype.type

    def _new_network(self, layer_units: list[int], dtype: np.dtype) -> Any:
        return _network_class()(
            [int(units) for units in layer_units],
            self.activation,
            self.out_activation_,
            self._network_loss(),
            np.dtype(dtype).name,
        )

    def _training_network(self, layer_units: list[int], dtype: np.dtype) -> tuple[Any, bool]:
        """The Network that holds the optimizer state, and whether it holds one.

        It is rebuilt when the model changed shape or dtype, and after unpickling, from
        the optimizer state the pickle kept.
        """
        network = self.__dict__.get("_network")
        wanted = ([int(u) for u in layer_units], np.dtype(dtype).name)
        if network is not None and (list(network.layer_sizes), network.dtype) == wanted:
            return network, True
        network = self._new_network(layer_units, dtype)
        self._network = network
        state = self.__dict__.pop(_OPTIMIZER_STATE, None)
        if state is None or state.get("kind") is None:
            return network, False
        network.set_optimizer_state(state)
        return network, True

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # type: ignore[misc]
        network = state.pop("_network", None)
        if network is not None:
            state[_OPTIMIZER_STATE] = network.optimizer_state()
        return state

    # --- predict -------------------------------------------------------------------------

    def _forward_pass_fast(self, X: Any, check_input: bool = True) -> np.ndarray:
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        # numpy's promotion rule, as in scikit-learn's X @ coefs_[0]: float64 or int64 X
        # with float32 coefficients computes in float64.
        dtype = np.result_type(X.dtype, *self.coefs_, *self.intercepts_)
        if dtype not in (np.float32, np.float64):
            dtype = np.dtype(np.float64)
        layer_units = [self.coefs_[0].shape[0], *(c.shape[1] for c in self.coefs_)]
        # A Network per call: predictions from several threads at once never share a
        # workspace, and predict leaves the estimator's __dict__ as it was.
        network = self._new_network(layer_units, dtype)
        return network.forward(
            _dense_or_csr(X, dtype),
            _contiguous(self.coefs_, dtype),
            _contiguous(self.intercepts_, dtype),
        )

    # --- lbfgs ---------------------------------------------------------------------------

    def _fit_lbfgs(
        self,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        activations: Any,
        deltas: Any,
        coef_grads: Any,
        intercept_grads: Any,
        layer_units: list[int],
    ) -> None:
        # scikit-learn's own method calls scipy.optimize.minimize with these arguments
        # passed on to _loss_grad_lbfgs; the `activations` slot carries the data converted
        # once for the Network instead of scikit-learn's per-layer buffers.
        super()._fit_lbfgs(  # type: ignore[misc]
            X,
            y,
            sample_weight,
            _LbfgsData(X, y, sample_weight),
            deltas,
            coef_grads,
            intercept_grads,
            layer_units,
        )

    def _loss_grad_lbfgs(
        self,
        packed_coef_inter: np.ndarray,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        activations: Any,
        deltas: Any,
        coef_grads: Any,
        intercept_grads: Any,
    ) -> tuple[Any, np.ndarray]:
        """The loss and its gradient, packed as scipy wants them, from the Network."""
        self._unpack(packed_coef_inter)  # type: ignore[attr-defined]
        dtype = packed_coef_inter.dtype
        X_net, y_net, weight_net = activations.as_dtype(dtype)
        grad = np.empty_like(packed_coef_inter)
        grad_coefs = [
            grad[start:end].reshape(shape)
            for start, end, shape in self._coef_indptr  # type: ignore[attr-defined]
        ]
        grad_intercepts = [
            grad[start:end]
            for start, end in self._intercept_indptr  # type: ignore[attr-defined]
        ]
        layer_units = [grad_coefs[0].shape[0], *(g.shape[1] for g in grad_coefs)]
        network = activations.network(dtype, lambda: self._new_network(layer_units, dtype))
        loss = network.loss_gradient(
            X_net,
            y_net,
            weight_net,
            _contiguous(self.coefs_, dtype),
            _contiguous(self.intercepts_, dtype),
            float(self.alpha),
            grad_coefs,
            grad_intercepts,
        )
        return self._loss_type(dtype)(loss), grad

    # --- sgd, adam -----------------------------------------------------------------------

    def _fit_stochastic(
        self,
        X: Any,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        activations: Any,
        deltas: Any,
        coef_grads: Any,
        intercept_grads: Any,
        layer_units: list[int],
        incremental: bool,
    ) -> None:
        """scikit-learn's ``_fit_stochastic``, with each epoch one ``Network.epoch`` call."""
        dtype = self.coefs_[0].dtype
        # The Network updates the estimator's own arrays in place.
        self.coefs_ = _contiguous(self.coefs_, dtype)
        self.intercepts_ = _contiguous(self.intercepts_, dtype)
        network, has_state = self._training_network(layer_units, dtype)
        if not incremental or not hasattr(self, "_optimizer") or not has_state:
            # scikit-learn's optimizers keep the between-epoch rules (the invscaling and
            # adaptive schedules, the stopping decision); the Network does the updates.
            if self.solver == "sgd":
                self._optimizer = SGDOptimizer(
                    [],
                    self.learning_rate_init,
                    self.learning_rate,
                    self.momentum,
                    self.nesterovs_momentum,
                    self.power_t,
                )
                network.set_sgd(
                    float(self.learning_rate_init),
                    float(self.momentum),
                    bool(self.nesterovs_momentum),
                )
            elif self.solver == "adam":
                self._optimizer = AdamOptimizer(
                    [], self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon
                )
                network.set_adam(
                    float(self.learning_rate_init),
                    float(self.beta_1),
                    float(self.beta_2),
                    float(self.epsilon),
                )

        # early_stopping in partial_fit doesn't make sense
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            # don't stratify in multilabel classification
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            if sample_weight is None:
                X_train, X_val, y_train, y_val = train_test_split(
                    X,
                    y,
                    random_state=self._random_state,
                    test_size=self.validation_fraction,
                    stratify=stratify,
                )
                sample_weight_train = sample_weight_val = None
            else:
                (X_train, X_val, y_train, y_val, sample_weight_train, sample_weight_val) = (
                    train_test_split(
                        X,
                        y,
                        sample_weight,
                        random_state=self._random_state,
                        test_size=self.validation_fraction,
                        stratify=stratify,
                    )
                )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)  # type: ignore[attr-defined]
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)

        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped",
                    stacklevel=3,
                )
            batch_size = np.clip(self.batch_size, 1, n_samples)

        X_net = _dense_or_csr(X_train, dtype)
        y_net = np.ascontiguousarray(y_train, dtype=dtype)
        weight_net = (
            None
            if sample_weight_train is None
            else np.ascontiguousarray(sample_weight_train, dtype=dtype)
        )
        alpha = float(self.alpha)
        to_loss = self._loss_type(dtype, integer_batch_size=isinstance(batch_size, np.integer))

        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = _shuffle(sample_idx, self._random_state)

                if self.solver == "sgd":
                    network.learning_rate = float(self._optimizer.learning_rate)
                accumulated_loss = network.epoch(
                    X_net,
                    y_net,
                    weight_net,
                    self.coefs_,
                    self.intercepts_,
                    sample_idx,
                    batch_size,
                    alpha,
                )

                self.n_iter_ += 1
                self.loss_ = to_loss(accumulated_loss) / n_samples

                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")

                # update no_improvement_count based on training loss or
                # validation score according to early_stopping
                self._update_no_improvement_count(  # type: ignore[attr-defined]
                    early_stopping, X_val, y_val, sample_weight_val
                )

                # for learning rate that needs to be updated at iteration end
                self._optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    # not better than last `n_iter_no_change` iterations by tol
                    # stop or decrease learning rate
                    # scikit-learn's messages, word for word.
                    what = (
                        "Validation score did not improve more than"
                        if early_stopping
                        else "Training loss did not improve more than"
                    )
                    msg = (
                        f"{what} tol={self.tol:f} for {int(self.n_iter_no_change)}"
                        " consecutive epochs."
                    )

                    is_stopping = self._optimizer.trigger_stopping(msg, self.verbose)
                    if is_stopping:
                        break
                    self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                        "reached and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                        stacklevel=3,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)

        if early_stopping:
            # restore best weights
            self.coefs_ = self._best_coefs
            self.intercepts_ = self._best_intercepts


class MLPRegressor(_NetworkMLP, _SklearnMLPRegressor):
    """scikit-learn's ``MLPRegressor`` with its training and prediction in Rust.

    The same parameters, defaults, attributes and methods as
    ``sklearn.neural_network.MLPRegressor`` (scikit-learn 1.9), and the same numbers:
    for the same ``random_state`` the initial weights, the shuffles and the validation
    split are drawn exactly as scikit-learn draws them, and the loss curve, the
    coefficients and the predictions agree with scikit-learn's to floating-point noise.

    Examples
    --------
    >>> import numpy as np
    >>> from neurust.sklearn import MLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0)
    >>> model.fit(X, X.sum(axis=1)).predict(X[:2]).shape
    (2,)
    """


class MLPClassifier(_NetworkMLP, _SklearnMLPClassifier):
    """scikit-learn's ``MLPClassifier`` with its training and prediction in Rust.

    The same parameters, defaults, attributes and methods as
    ``sklearn.neural_network.MLPClassifier`` (scikit-learn 1.9): binary, multiclass
    (softmax) and multilabel targets, ``partial_fit(..., classes=...)``,
    ``predict_proba``; and the same numbers for the same ``random_state`` (see
    ``MLPRegressor``).

    Examples
    --------
    >>> import numpy as np
    >>> from neurust.sklearn import MLPClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0)
    >>> model.fit(X, X[:, 0] > 0).predict_proba(X[:2]).shape
    (2, 2)
    """
