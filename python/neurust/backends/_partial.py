"""What a stopped fit leaves behind, carried the same way by every backend.

A fit stopped mid-loop (a non-finite loss, Ctrl-C, an exception from the
progress callback) raises with a :class:`PartialFit` attached as
``error.partial_fit``. ``history`` holds the loss before each of the
``steps_done`` steps run. After Ctrl-C or a callback's exception the
parameters are those after all of them; after a non-finite loss (before step
``steps_done``) they are those whose loss ends ``history``, after
``steps_done - 1`` steps (unchanged, with an empty history, at step 0), so the
net can train again. ``error.params``,
``error.history`` and ``error.steps_done`` mirror its fields for code written
against neurust 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PartialFit:
    """The state of a fit that stopped after ``steps_done`` completed steps."""

    params: dict[str, Any]
    """Parameter name -> the backend's native array (see the module's docstring)."""
    history: np.ndarray
    """The loss before each step run; the last is finite."""

    @property
    def steps_done(self) -> int:
        return len(self.history)


def attach(error: BaseException, params: dict[str, Any], history: Any) -> BaseException:
    """Attach a :class:`PartialFit` of ``params`` and ``history`` to ``error``; return ``error``."""
    partial = PartialFit(dict(params), np.asarray(history))
    error.partial_fit = partial  # type: ignore[attr-defined]
    error.params = partial.params  # type: ignore[attr-defined]
    error.history = partial.history  # type: ignore[attr-defined]
    error.steps_done = partial.steps_done  # type: ignore[attr-defined]
    return error


def partial_fit_of(error: BaseException) -> PartialFit | None:
    """The :class:`PartialFit` a stopped fit attached to ``error``, or None for any other error.

    Every backend attaches it through :func:`attach`; the Rust backend reads the stopped
    fit's state from the binding's ``_core.FitStopped``.
    """
    partial = getattr(error, "partial_fit", None)
    return partial if isinstance(partial, PartialFit) else None
