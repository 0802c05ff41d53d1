"""Results are ordinary arrays: nothing in neurust keeps one after the user drops it.

Each result is a fresh array the caller owns, so a finalizer or a weak reference on it
fires when the caller drops the last reference, and the owner may ``resize`` it.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np

import neurust as nr


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
