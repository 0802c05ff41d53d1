"""TwoLayerNet: the tutorial's two-layer network, its parameters kept as numpy arrays.

The model owns its parameters as C-contiguous numpy arrays of its dtype and
hands them to a backend (:mod:`neurust.backends`) for the work; every backend
computes the same network, so the same seed gives the same initial weights
and, within floating-point tolerance, the same training run on each of them.
On the Rust backend ``fit`` is one compiled call that updates the arrays in
place; the others run a Python loop over their own kernels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neurust import _core
from neurust._convert import as_float_array
from neurust._locking import locked
from neurust._model_fit import Training
from neurust._model_saving import Saving
from neurust._validation import (
    backend_for,
    choice,
    learning_rate,
    shape_text,
)
from neurust.backends import Backend
from neurust.backends._mlp import REDUCTIONS

__all__ = ["TwoLayerNet"]


class TwoLayerNet(Training, Saving):
    """The tutorial's two-layer network: ``P = act(X @ w1 + b1) @ w2 + b2``.

    Trained by plain gradient descent on the sum (or mean) of squared errors,
    ``L = Σ (P - Y)²``.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
        Layer sizes (the tutorial uses 1000, 100, 1).
    activation : {"relu", "sigmoid"}
        Applied to the hidden layer.
    bias : bool
        Whether the layers add biases ``b1`` and ``b2`` (initialised to 0).
    dtype : {"float64", "float32"}
        The dtype of the parameters and of all arithmetic: a float32 net
        trains in float32 end to end.
    seed : int, optional
        Seeds ``numpy.random.default_rng`` for the initial weights, which are
        drawn in numpy, so the same seed gives the same weights on every
        backend. None draws fresh ones.
    init : {"normal", "he"}
        ``"normal"`` draws standard-normal weights, as the tutorial does; ``"he"``
        scales them by ``sqrt(2 / fan_in)``.
    backend : str or Backend
        Where the work runs: ``"rust"`` (default), ``"numpy"``, ``"torch"``,
        ``"torch-cuda"``, ``"jax"`` or ``"python"`` (float64 only).

    Raises
    ------
    ValueError
        For non-positive sizes, unknown names, or a dtype the backend cannot
        compute.
    TypeError
        For sizes that are not ints, or ``bias`` that is not a bool.

    Notes
    -----
    ``copy.copy(net)`` and ``copy.deepcopy(net)`` give the same thing on every
    backend: an independent net with its own copies of the parameters and of
    ``history_``, so training or stepping one never changes the other. Both
    use the same backend object (its kernels keep no per-net state). A net
    pickles on every backend, after ``fit`` too; what a backend caches
    (JAX's compiled steps) is rebuilt after unpickling, not stored.

    Every method holds the net's lock, so one net may be shared between
    threads: calls on it run one at a time.

    Examples
    --------
    >>> net = nr.TwoLayerNet(3, 4, 1, seed=0)
    >>> net(np.ones((2, 3))).shape
    (2, 1)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        activation: str = "relu",
        bias: bool = False,
        dtype: str | np.dtype = "float64",
        seed: int | None = None,
        init: str = "normal",
        backend: str | Backend = "rust",
    ) -> None:
        self._configure(input_dim, hidden_dim, output_dim, activation, bias, dtype, init)
        self.backend: Backend = backend_for(backend, self.dtype)
        self._params = self._initial_parameters(seed)

    # --- computing ---------------------------------------------------------------------------

    @locked
    def __call__(self, X: Any) -> np.ndarray:
        """The predictions ``act(X @ w1 + b1) @ w2 + b2``.

        Parameters
        ----------
        X : array_like, shape (n, input_dim) or (input_dim,)
            One sample per row, or one sample.

        Returns
        -------
        ndarray, shape (n, output_dim) or (output_dim,)
            In the net's dtype.

        Raises
        ------
        ValueError
            If ``X`` does not have ``input_dim`` columns.
        TypeError
            If ``X`` is not real numbers.

        Examples
        --------
        >>> nr.TwoLayerNet(3, 4, 2, seed=0)([1.0, 2.0, 3.0]).shape
        (2,)
        """
        x = as_float_array(X, "X")
        single = x.ndim == 1
        if single and x.shape != (self.input_dim,):
            raise ValueError(
                f"X has shape {shape_text(x.shape)}, but the net has input_dim {self.input_dim}; "
                f"a single sample needs shape ({self.input_dim},)"
            )
        x = self._inputs(x.reshape(1, -1) if single else x)
        backend = self.backend
        out = backend.mlp_forward(backend.from_numpy(x), self._native_parameters(), self.activation)
        predictions = np.asarray(backend.to_numpy(out), dtype=self.dtype)
        return predictions[0] if single else predictions

    @locked
    def loss(self, X: Any, Y: Any, reduction: str = "sum") -> float:
        """The squared error ``Σ (P - Y)²`` (``"sum"``), or that over ``Y.size`` (``"mean"``).

        Parameters
        ----------
        X : array_like, shape (n, input_dim)
        Y : array_like, shape (n, output_dim)
            ``(n,)`` is accepted when ``output_dim`` is 1.
        reduction : {"sum", "mean"}

        Returns
        -------
        float
            Computed in the net's dtype.

        Raises
        ------
        ValueError
            If the shapes do not match the net or ``reduction`` is unknown.

        Examples
        --------
        >>> net = nr.TwoLayerNet(3, 4, 1, seed=0)
        >>> net.loss(np.ones((2, 3)), net(np.ones((2, 3))))
        0.0
        """
        reduction = choice(reduction, "reduction", REDUCTIONS)
        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        backend = self.backend
        value = backend.mlp_loss(
            backend.from_numpy(x),
            backend.from_numpy(y),
            self._native_parameters(),
            self.activation,
            reduction,
        )
        return float(backend.to_numpy(value))

    @locked
    def gradients(self, X: Any, Y: Any, reduction: str = "sum") -> dict[str, np.ndarray]:
        """The gradient of :meth:`loss` with respect to every parameter (backpropagation).

        With ``dP = 2 (P - Y)`` (over ``Y.size`` for the mean):
        ``dw2 = Aᵀ dP``, ``db2 = Σ_rows dP``, ``dH = act'(H) · (dP w2ᵀ)``,
        ``dw1 = Xᵀ dH``, ``db1 = Σ_rows dH``, where ``H = X w1 + b1``, ``A = act(H)``.

        Parameters
        ----------
        X, Y, reduction
            As for :meth:`loss`.

        Returns
        -------
        dict of str to ndarray
            Keyed and shaped like :meth:`parameters`, in the net's dtype.

        Raises
        ------
        ValueError
            If the shapes do not match the net or ``reduction`` is unknown.

        Examples
        --------
        >>> grads = nr.TwoLayerNet(3, 4, 1, seed=0).gradients(np.ones((2, 3)), np.zeros((2, 1)))
        >>> grads["w1"].shape
        (3, 4)
        """
        reduction = choice(reduction, "reduction", REDUCTIONS)
        x = self._inputs(X)
        y = self._targets(Y, x.shape[0])
        backend = self.backend
        _, grads = backend.mlp_gradients(
            backend.from_numpy(x),
            backend.from_numpy(y),
            self._native_parameters(),
            self.activation,
            reduction,
        )
        return {
            name: np.ascontiguousarray(backend.to_numpy(grads[name]), dtype=self.dtype)
            for name in self._params
        }

    @locked
    def step(self, grads: Mapping[str, Any], lr: float) -> None:
        """One step of gradient descent: ``w -= lr * grads[w]`` for every parameter, in place.

        Parameters
        ----------
        grads : dict of str to ndarray
            As :meth:`gradients` returns.
        lr : float
            The learning rate; finite and not negative.

        Raises
        ------
        ValueError
            If ``grads`` does not match the parameters or ``lr`` is not finite.
        TypeError
            If a gradient's dtype differs from the net's.

        Examples
        --------
        >>> net = nr.TwoLayerNet(3, 4, 1, seed=0)
        >>> net.step(net.gradients(np.ones((2, 3)), np.zeros((2, 1))), lr=1e-3)
        """
        lr = learning_rate(lr)
        checked = self._checked(grads, "grads")
        for name, value in self._params.items():
            # numpy's bits of `value -= lr * grad` (lr rounded to the net's
            # dtype), in one pass and without numpy's parameter-sized
            # temporary: inside a training loop the update streams the
            # parameters back from memory, and numpy's three passes took
            # about twice as long.
            _core.mlp_step(value, checked[name], lr, out=value)
        self._native = None

    def to_dot(self, max_nodes: int = 6) -> str:
        """Graphviz DOT text of the layers, their sizes, the activation and biases.

        Layers wider than ``max_nodes`` collapse to a few units and an ellipsis
        (``"… 1000 inputs …"``); see ``neurust._diagram.network_dot``. Render it
        with ``dot -Tpng``.

        Examples
        --------
        >>> "… 1000 inputs …" in nr.TwoLayerNet(1000, 100, 1, seed=0).to_dot()
        True
        """
        from neurust._diagram import network_dot

        sizes = (self.input_dim, self.hidden_dim, self.output_dim)
        return network_dot(*sizes, self.activation, self.bias, max_nodes)

    def __repr__(self) -> str:
        return (
            f"TwoLayerNet({self.input_dim}, {self.hidden_dim}, {self.output_dim}, "
            f"activation={self.activation!r}, bias={self.bias}, dtype={self.dtype.name!r}, "
            f"backend={self.backend.name!r})"
        )
