"""Odd uses of Perceptron get a clear answer: masked arrays, empty data, overflowing weights,
sharing between threads, pickling and copying."""

from __future__ import annotations

import copy
import pickle
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurust as nr

GATE_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
AND = [0, 0, 0, 1]
TIMEDELTA = np.timedelta64(3)


def masked(array: Any) -> np.ma.MaskedArray:
    array = np.asarray(array)
    return np.ma.array(array, mask=np.zeros(array.shape, dtype=bool))


def test_perceptron_refuses_masked_arrays() -> None:
    with pytest.raises(TypeError, match=r"X.*masked array"):
        nr.Perceptron(2).fit(masked(GATE_X), AND)
    with pytest.raises(TypeError, match=r"y.*masked array"):
        nr.Perceptron(2).fit(GATE_X, masked(AND))
    with pytest.raises(TypeError, match=r"X.*masked array"):
        nr.Perceptron(2).predict(masked(GATE_X))


def test_perceptron_lr_refuses_timedelta64() -> None:
    with pytest.raises(TypeError, match="lr"):
        nr.Perceptron(2, lr=TIMEDELTA)


def test_perceptron_refuses_empty_data_like_twolayernet() -> None:
    with pytest.raises(ValueError, match="X has no rows"):
        nr.Perceptron(2).fit(np.empty((0, 2)), [])
    with pytest.raises(ValueError, match="X has no rows"):
        nr.TwoLayerNet(3, 4, 1, seed=0, backend="numpy").fit(
            np.empty((0, 3)), np.empty((0, 1)), steps=1, lr=1e-3
        )


def test_perceptron_weights_overflowing_raise_naming_lr_and_never_converge() -> None:
    perceptron = nr.Perceptron(2, lr=1e308)
    with pytest.raises(FloatingPointError, match=r"lr=1e\+308"):
        perceptron.fit(np.array(GATE_X) * 1e10, AND)
    assert perceptron.converged_ is False
    assert np.all(np.isfinite(perceptron.weights_))
    assert np.isfinite(perceptron.bias_)


def test_a_perceptron_too_large_to_allocate_names_n_inputs() -> None:
    for n_inputs in (10**12, 2**62):
        with pytest.raises(MemoryError, match=f"n_inputs={n_inputs}"):
            nr.Perceptron(n_inputs)
    with pytest.raises(MemoryError, match="n_inputs"):
        nr.Perceptron(10**12, seed=0)


def test_a_perceptron_predicts_only_between_updates_when_shared_by_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fit holds the perceptron's lock: a predict from another thread waits for it."""
    perceptron = nr.Perceptron(2)
    fitting, release = threading.Event(), threading.Event()
    update = nr.Perceptron._update

    def slow_update(self: nr.Perceptron, *args: Any) -> None:
        fitting.set()
        assert release.wait(timeout=30)
        update(self, *args)

    monkeypatch.setattr(nr.Perceptron, "_update", slow_update)
    fit = threading.Thread(target=perceptron.fit, args=(GATE_X, AND))
    fit.start()
    assert fitting.wait(timeout=30)
    predictions: list[Any] = []
    predict = threading.Thread(target=lambda: predictions.append(perceptron.predict(GATE_X)))
    predict.start()
    predict.join(timeout=0.5)
    blocked = predict.is_alive()
    release.set()
    fit.join(timeout=30)
    predict.join(timeout=30)
    assert blocked, "predict ran in the middle of fit"
    assert perceptron.converged_
    np.testing.assert_array_equal(predictions[0], AND)


def test_a_perceptron_shared_by_threads_gives_the_sequential_answer() -> None:
    perceptron = nr.Perceptron(2)
    expected = nr.Perceptron(2).fit(GATE_X, AND)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                perceptron.fit(GATE_X, AND)
                assert perceptron.predict(GATE_X).tolist() == AND
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    np.testing.assert_array_equal(perceptron.weights_, expected.weights_)
    assert perceptron.bias_ == expected.bias_


def test_a_perceptron_pickles_and_copies() -> None:
    perceptron = nr.Perceptron(2).fit(GATE_X, AND)
    for restored in (pickle.loads(pickle.dumps(perceptron)), copy.deepcopy(perceptron)):
        np.testing.assert_array_equal(restored.predict(GATE_X), AND)


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_perceptron_copy_trains_without_changing_the_original(
    copier: Callable[[Any], Any],
) -> None:
    perceptron = nr.Perceptron(2)
    clone = copier(perceptron)
    clone.fit(GATE_X, AND)
    np.testing.assert_array_equal(perceptron.weights_, [0.0, 0.0])
    assert perceptron.bias_ == 0.0
