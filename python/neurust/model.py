"""TwoLayerNet: the seed's two-layer network, its parameters kept as numpy arrays.

The model owns its parameters as C-contiguous numpy arrays of its dtype and
hands them to a backend (:mod:`neurust.backends`) for the work; every backend
computes the same network, so the same seed gives the same initial weights
and, within floating-point tolerance, the same training run on each of them.
On the Rust backend ``fit`` is one compiled call that updates the arrays in
place; the others run a Python loop over their own kernels.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any, BinaryIO, TypeVar

import numpy as np

import neurust.distributed
from neurust import _core, _persistence
from neurust._convert import as_float_array
from neurust._progress import progress_bar
from neurust._validation import (
    backend_for,
    boolean,
    choice,
    float_dtype,
    generator,
    learning_rate,
    net_inputs,
    net_targets,
    parameter_arrays,
    positive_int,
    resolved_backend,
    shape_text,
)
from neurust.backends import Backend
from neurust.backends._mlp import ACTIVATIONS, REDUCTIONS
from neurust.backends._partial import partial_fit_of

__all__ = ["TwoLayerNet"]

_INITS = ("normal", "he")

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """Run the method holding the net's lock (re-entrant: a progress callback may read the net)."""

    @functools.wraps(method)
    def locked(self: TwoLayerNet, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class TwoLayerNet:
    """The seed's two-layer network: ``P = act(X @ w1 + b1) @ w2 + b2``.

    Trained by plain gradient descent on the sum (or mean) of squared errors,
    ``L = Σ (P - Y)²``.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
        Layer sizes (the seed uses 1000, 100, 1).
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
        ``"normal"`` draws standard-normal weights, as the seed does; ``"he"``
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

    def _configure(
        self,
        input_dim: Any,
        hidden_dim: Any,
        output_dim: Any,
        activation: Any,
        bias: Any,
        dtype: Any,
        init: Any,
    ) -> None:
        """Check and set everything but the backend and the parameters (shared with ``load``)."""
        self.input_dim = positive_int(input_dim, "input_dim")
        self.hidden_dim = positive_int(hidden_dim, "hidden_dim")
        self.output_dim = positive_int(output_dim, "output_dim")
        self.activation = choice(activation, "activation", ACTIVATIONS)
        self.bias = boolean(bias, "bias")
        self.dtype = float_dtype(dtype)
        self.init = choice(init, "init", _INITS)
        self.history_: np.ndarray | None = None
        """The loss before each step of the last ``fit`` (kept when it is interrupted)."""
        self._native: dict[str, Any] | None = None
        self._native_state: Any = None
        # One call at a time per net: fit runs without the GIL, and another
        # thread's step or load_parameters must wait for it, not tear it.
        self._lock = threading.RLock()

    # --- parameters ------------------------------------------------------------------------

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {
            "w1": (self.input_dim, self.hidden_dim),
            "w2": (self.hidden_dim, self.output_dim),
        }
        if self.bias:
            shapes["b1"] = (self.hidden_dim,)
            shapes["b2"] = (self.output_dim,)
        return shapes

    def _initial_parameters(self, seed: int | None) -> dict[str, np.ndarray]:
        rng = generator(seed)
        # Drawn in float64 in a fixed order (w1, then w2), then cast: the same
        # seed gives the same weights for every backend and both dtypes.
        params = {}
        for name, (fan_in, fan_out) in (
            ("w1", (self.input_dim, self.hidden_dim)),
            ("w2", (self.hidden_dim, self.output_dim)),
        ):
            weights = rng.standard_normal((fan_in, fan_out))
            if self.init == "he":
                weights *= math.sqrt(2.0 / fan_in)
            params[name] = np.ascontiguousarray(weights, dtype=self.dtype)
        if self.bias:
            params["b1"] = np.zeros(self.hidden_dim, dtype=self.dtype)
            params["b2"] = np.zeros(self.output_dim, dtype=self.dtype)
        return params

    @_locked
    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the parameters.

        Returns
        -------
        dict of str to ndarray
            ``"w1"`` of shape ``(input_dim, hidden_dim)`` and ``"w2"`` of shape
            ``(hidden_dim, output_dim)``; with ``bias=True`` also ``"b1"``
            ``(hidden_dim,)`` and ``"b2"`` ``(output_dim,)``. In the net's dtype.

        Examples
        --------
        >>> sorted(nr.TwoLayerNet(3, 4, 1, bias=True, seed=0).parameters())
        ['b1', 'b2', 'w1', 'w2']
        """
        return {name: value.copy() for name, value in self._params.items()}

    def _checked(self, params: Mapping[str, Any], what: str) -> dict[str, np.ndarray]:
        """``params`` with the net's names, shapes and dtype, or an error naming the misfit."""
        return parameter_arrays(params, self._shapes(), self.dtype, what)

    @_locked
    def load_parameters(self, params: Mapping[str, Any]) -> None:
        """Replace the parameters with copies of ``params``.

        Parameters
        ----------
        params : dict of str to ndarray
            The names, shapes and dtype :meth:`parameters` returns.

        Raises
        ------
        ValueError
            If a name is missing or unexpected, or a shape differs.
        TypeError
            If a dtype differs from the net's (nothing is cast silently).

        Examples
        --------
        >>> net = nr.TwoLayerNet(3, 4, 1, seed=0)
        >>> net.load_parameters(nr.TwoLayerNet(3, 4, 1, seed=1).parameters())
        """
        checked = self._checked(params, "params")
        self._set_parameters({name: np.array(value, order="C") for name, value in checked.items()})

    def _set_parameters(self, params: dict[str, np.ndarray]) -> None:
        self._params = params
        self._native = None

    def _native_parameters(self) -> dict[str, Any]:
        # Converted once and reused until the parameters change: for numpy and
        # Rust these are the model's own arrays, for torch and JAX copies.
        if self._native is None:
            # A backend with per-net native state (Rust: shape and workspace) binds it to
            # the net's own arrays instead.
            bind = getattr(self.backend, "net_parameters", None)
            if bind is None:
                from_numpy = self.backend.from_numpy
                self._native = {name: from_numpy(v) for name, v in self._params.items()}
            else:
                state = getattr(self, "_native_state", None)  # absent in a net pickled before
                self._native = bind(self._params, state, self.activation)
                self._native_state = getattr(self._native, "state", None)
        return self._native

    def _adopt_native(self, native: Mapping[str, Any]) -> None:
        """Take parameters back from the backend as writeable C-contiguous arrays of the dtype."""
        params = {}
        for name in self._shapes():  # the model's key order (JAX hands dicts back sorted)
            array = np.asarray(self.backend.to_numpy(native[name]), dtype=self.dtype, order="C")
            # numpy and Rust hand back the model's own arrays; JAX's are read-only views.
            params[name] = array if array.flags.writeable else array.copy()
        self._set_parameters(params)

    # --- data --------------------------------------------------------------------------------

    def _inputs(self, x: Any) -> np.ndarray:
        return net_inputs(x, self.input_dim, self.dtype)

    def _targets(self, y: Any, rows: int) -> np.ndarray:
        return net_targets(y, rows, self.output_dim, self.dtype)

    # --- computing ---------------------------------------------------------------------------

    @_locked
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

    @_locked
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

    @_locked
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

    @_locked
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

    @_locked
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
            The learning rate; finite and not negative (the seed uses 1e-6).
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
            return neurust.distributed._fit(self, X, Y, *args)
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

        The last parameters whose loss was finite can already be huge (a loss
        of 1e235), and no learning rate trains from there; the parameters the
        call started from can. The loss is taken over all of ``x`` for both
        (a NaN counts as infinite; a tie keeps those from before the call),
        and the message says which were kept.
        """

        def loss_of(native: dict[str, Any]) -> float:
            value = self.backend.mlp_loss(
                self.backend.from_numpy(x),
                self.backend.from_numpy(y),
                native,
                self.activation,
                reduction,
            )
            loss = float(self.backend.to_numpy(value))
            return loss if np.isfinite(loss) else np.inf

        step = 0 if self.history_ is None else len(self.history_)
        with np.errstate(all="ignore"):
            last = loss_of(self._native_parameters())
            start = loss_of({k: self.backend.from_numpy(v) for k, v in before.items()})
        head = str(error).split(";", 1)[0]
        if start <= last:
            self._set_parameters(before)
        if step == 1:  # the last finite parameters are those the call started from
            kept = (
                "the parameters are kept as they were before this fit, the last whose loss "
                "was finite"
            )
        elif start <= last:
            kept = (
                f"the parameters are kept as they were before this fit (loss {start:.6g}), not "
                f"as at step {step - 1}, the last whose loss was finite (loss {last:.6g})"
            )
        else:
            kept = (
                f"the parameters are kept as they were at step {step - 1}, the last whose loss "
                f"was finite (loss {last:.6g}; before this fit it was {start:.6g})"
            )
        error.args = (f"{head}; {kept}; try a smaller learning rate",)

    # --- saving ------------------------------------------------------------------------------

    @_locked
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration and parameters to an ``.npz`` file.

        Parameters
        ----------
        path : str or path-like
            numpy adds ``.npz`` when the name lacks it (:meth:`load` does too).

        Examples
        --------
        >>> net.save("net.npz")  # doctest: +SKIP
        >>> nr.TwoLayerNet.load("net.npz")  # doctest: +SKIP
        """
        config = {key: getattr(self, key) for key in _persistence.CONSTRUCTOR_KEYS}
        config["dtype"] = self.dtype.name
        _persistence.write(path, config, self._params)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | BinaryIO, backend: str | Backend = "rust"
    ) -> TwoLayerNet:
        """Read a net written by :meth:`save`.

        The stored arrays' shapes and dtype are checked against the stored
        configuration before anything is allocated, so a file that is not a
        saved net fails at once, whatever sizes it claims.

        Parameters
        ----------
        path : str, path-like or binary file
            As given to :meth:`save`: ``"net"`` finds ``net.npz``.
        backend : str or Backend
            Where the loaded net computes.

        Returns
        -------
        TwoLayerNet
            With the saved configuration and parameters.

        Raises
        ------
        ValueError
            ``"... is not a saved TwoLayerNet: <what is wrong>"`` for any file
            :meth:`save` did not write (empty, a single ``.npy`` array, not a
            zip, a config that is missing, malformed or incomplete, arrays
            missing or of the wrong shape or dtype); also if ``backend``
            cannot compute the saved dtype.
        FileNotFoundError
            If there is no such file.

        Examples
        --------
        >>> net = nr.TwoLayerNet.load("net.npz")  # doctest: +SKIP
        """
        resolved = resolved_backend(backend)
        net = cls.__new__(cls)

        def expected(config: Mapping[str, Any]) -> tuple[dict[str, tuple[int, ...]], np.dtype]:
            net._configure(*(config[key] for key in _persistence.CONSTRUCTOR_KEYS))
            return net._shapes(), net.dtype

        _, params = _persistence.read(path, expected)
        net.backend = backend_for(resolved, net.dtype)
        net.load_parameters(params)
        return net

    def __getstate__(self) -> dict[str, Any]:
        # The lock and the backend's copies of the parameters are not pickled.
        state = self.__dict__.copy()
        del state["_lock"]
        state["_native"] = None
        state["_native_state"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    @_locked
    def __copy__(self) -> TwoLayerNet:
        # The default copy would share the parameter arrays, which the Rust
        # fit and step() update in place: the copy gets its own (see Notes).
        clone = type(self).__new__(type(self))
        clone.__setstate__(self.__getstate__())
        clone._params = {name: value.copy() for name, value in self._params.items()}
        clone.history_ = None if self.history_ is None else self.history_.copy()
        return clone

    @_locked
    def __deepcopy__(self, memo: dict[int, Any]) -> TwoLayerNet:
        # The parameters and history are arrays of numbers, so the copy above is
        # already deep; the backend is shared rather than rebuilt (see Notes).
        return self.__copy__()

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
