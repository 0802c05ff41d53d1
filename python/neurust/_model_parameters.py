"""A ``TwoLayerNet``'s configuration, its parameters and their checks, and its data's checks.

The base of :class:`~neurust.model.TwoLayerNet`: the parameters are
C-contiguous numpy arrays of the net's dtype, converted once to the backend's
arrays and reused until they change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from neurust._locking import locked
from neurust._validation import (
    boolean,
    choice,
    float_dtype,
    generator,
    net_inputs,
    net_targets,
    parameter_arrays,
    positive_int,
)
from neurust.backends import Backend
from neurust.backends._mlp import ACTIVATIONS

__all__ = ["INITS", "NetParameters"]

INITS = ("normal", "he")


class NetParameters:
    """The configuration and parameters of a :class:`~neurust.model.TwoLayerNet`."""

    backend: Backend
    """Where the work runs (set by the constructor and by ``load``)."""

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
        self.init = choice(init, "init", INITS)
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

    @locked
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

    @locked
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
