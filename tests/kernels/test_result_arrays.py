"""Results are ordinary arrays: nothing in neurust keeps one after the user drops it.

Each result is a fresh array the caller owns, so a finalizer or a weak reference on it
fires when the caller drops the last reference, and the owner may ``resize`` it.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import neurust as nr
from neurust import _core


def _gradient_array() -> np.ndarray:
    net = nr.TwoLayerNet(4, 3, 1, seed=0, backend="rust")
    X = np.ones((5, 4))
    Y = np.ones((5, 1))
    return net.gradients(X, Y)["w1"]


def test_a_finalizer_on_a_dropped_gradient_fires() -> None:
    fired: list[int] = []
    result = _gradient_array()
    weakref.finalize(result, fired.append, 1)
    del result
    gc.collect()
    assert fired == [1]


def test_a_weakref_to_a_dropped_gradient_dies() -> None:
    result = _gradient_array()
    ref = weakref.ref(result)
    del result
    gc.collect()
    assert ref() is None


def test_the_owner_may_resize_a_gradient() -> None:
    result = _gradient_array()
    result.resize(20)
    assert result.shape == (20,)


def test_the_owner_may_resize_a_kernel_result() -> None:
    result = nr.relu(np.ones(10))
    result.resize(20)
    assert result.shape == (20,)


@pytest.mark.parametrize("kind", ["gradient", "step", "train_step"])
def test_no_result_outlives_its_last_reference(kind: str) -> None:
    x, y = np.ones((5, 4)), np.ones((5, 1))
    w1, w2 = np.ones((4, 3)), np.ones((3, 1))
    if kind == "gradient":
        result = _core.mlp_gradients(x, y, w1, None, w2, None, "relu", "sum")[1]
    elif kind == "step":
        result = _core.mlp_step(w1, w1, 0.1)
    else:
        result = _core.mlp_train_step(x, y, w1, None, w2, None, "relu", "sum", 0.1)[1]
    ref = weakref.ref(result)
    del result
    assert ref() is None  # freed at once, without a garbage collection
