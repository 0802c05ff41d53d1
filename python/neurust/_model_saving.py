"""Saving, loading, pickling and copying a ``TwoLayerNet`` (the file format: ``_persistence``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import numpy as np

from neurust import _persistence
from neurust._locking import locked
from neurust._model_parameters import NetParameters
from neurust._validation import backend_for, resolved_backend

if TYPE_CHECKING:
    from neurust.backends import Backend

__all__ = ["Saving"]

_Net = TypeVar("_Net", bound="Saving")


class Saving(NetParameters):
    """``save``, ``load``, pickling and copying, for :class:`~neurust.model.TwoLayerNet`."""

    @locked
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
        cls: type[_Net],
        path: str | os.PathLike[str] | BinaryIO,
        backend: str | Backend = "rust",
    ) -> _Net:
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

    @locked
    def __copy__(self: _Net) -> _Net:
        # The default copy would share the parameter arrays, which the Rust
        # fit and step() update in place: the copy gets its own (see Notes).
        clone = type(self).__new__(type(self))
        clone.__setstate__(self.__getstate__())
        clone._params = {name: value.copy() for name, value in self._params.items()}
        clone.history_ = None if self.history_ is None else self.history_.copy()
        return clone

    @locked
    def __deepcopy__(self: _Net, memo: dict[int, Any]) -> _Net:
        # The parameters and history are arrays of numbers, so the copy above is
        # already deep; the backend is shared rather than rebuilt (see Notes).
        return self.__copy__()
