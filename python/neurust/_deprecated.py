"""Old public names, kept for one release: each warns, then does what its new name does."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from neurust._core import heaviside as _heaviside


def step(x: npt.ArrayLike, /, out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
    """Deprecated: the Heaviside activation is :func:`neurust.heaviside` now.

    ``step`` also names one step of gradient descent (``TwoLayerNet.step``); the
    activation took the name ``heaviside`` so that each name has one meaning. This alias
    will be removed in the next release.

    Warns
    -----
    DeprecationWarning
        Always; the result is ``heaviside(x, out=out)``.
    """
    warnings.warn(
        "neurust.step is deprecated and will be removed in the next release; "
        "use neurust.heaviside, the same function",
        DeprecationWarning,
        stacklevel=2,
    )
    result: np.ndarray = _heaviside(x, out=out)
    return result
