"""Messages that say what is true, no leaked warnings, and the exception types the README names."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import _core

X = np.arange(12.0).reshape(4, 3) / 10
Y = np.ones((4, 1))


def test_an_object_array_of_small_ints_is_named_as_an_object_array() -> None:
    with pytest.raises(TypeError, match=r"^x has dtype object; expected a real array"):
        nr.relu(np.array([1, -2], dtype=object))


def test_a_list_of_ints_beyond_64_bits_still_says_so() -> None:
    with pytest.raises(TypeError, match="too large for int64 or uint64"):
        nr.relu([2**70, 1])


def test_a_perceptron_that_overflows_raises_without_numpy_s_warning() -> None:
    inputs = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the test
        for seed in (None, 0):
            with pytest.raises(FloatingPointError, match="overflowed"):
                nr.Perceptron(2, lr=1e308, seed=seed).fit(inputs, [0, 1, 1, 0])


def parameters() -> dict[str, Any]:
    return {name: v.copy() for name, v in nr.TwoLayerNet(3, 4, 1, seed=0).parameters().items()}


def test_a_callback_that_is_not_callable_is_refused_before_any_step() -> None:
    params = parameters()
    w1 = params["w1"].copy()
    with pytest.raises(TypeError, match=r"^callback must be callable or None, got int$"):
        _core.mlp_fit(
            X, Y, params["w1"], None, params["w2"], None,
            activation="relu", steps=3, lr=0.1, callback=3,
        )  # fmt: skip
    np.testing.assert_array_equal(params["w1"], w1)


def test_two_compiled_fits_on_the_same_arrays_clash_with_runtime_error() -> None:
    """The README: a net used by two threads at once takes turns or raises RuntimeError."""
    params = parameters()
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold(done: int, loss: float) -> None:  # runs while the first fit holds the arrays
        inside.set()
        release.wait(timeout=60)

    def first_fit() -> None:
        try:
            _core.mlp_fit(
                X, Y, params["w1"], None, params["w2"], None,
                activation="relu", steps=2, lr=1e-3, callback=hold, callback_every=1,
            )  # fmt: skip
        except BaseException as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=first_fit)
    thread.start()
    try:
        assert inside.wait(timeout=60), "the first fit never reached its callback"
        with pytest.raises(RuntimeError, match=r"^w1 is being updated by another fit"):
            _core.mlp_fit(
                X, Y, params["w1"], None, params["w2"], None,
                activation="relu", steps=2, lr=1e-3,
            )  # fmt: skip
    finally:
        release.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and errors == []


def test_a_read_only_parameter_is_still_a_value_error() -> None:
    params = parameters()
    params["w1"].flags.writeable = False
    with pytest.raises(ValueError, match="w1"):
        _core.mlp_fit(
            X, Y, params["w1"], None, params["w2"], None, activation="relu", steps=2, lr=1e-3
        )
