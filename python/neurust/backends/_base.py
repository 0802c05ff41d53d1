"""Defaults shared by the backends, so each backend module holds only its kernels."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from neurust._convert import as_array


class BaseBackend:
    """An eager backend on the CPU that computes float32 and float64 natively."""

    name: str
    color: str
    device: str = "cpu"
    dtypes: tuple[str, ...] = ("float32", "float64")
    asynchronous: bool = False
    interpreted: bool = False
    threads_fixed_at_start: bool = False
    unsupported: Mapping[type, str] = MappingProxyType({})

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this backend cannot run here, or None when it can."""
        return None

    def from_numpy(self, a: np.ndarray) -> Any:
        """Convert a numpy array to this backend's native array, on its device.

        Raises TypeError for a masked array (no backend honours the mask) and
        for anything numpy cannot make an array of.
        """
        return self._from_array(as_array(a, "a"))

    def _from_array(self, a: np.ndarray) -> Any:
        """The backend's own conversion of a plain ndarray."""
        raise NotImplementedError

    def synchronize(self, *results: Any) -> None:
        """Nothing to wait for: an eager CPU backend finishes each call before returning."""

    def __repr__(self) -> str:
        return f"<neurust backend {self.name!r} on {self.device}>"
