"""Perceptron: the step rule learns AND and OR exactly and gives up on XOR."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import neurust as nr
import neurust.perceptron

INPUTS = [[0, 0], [0, 1], [1, 0], [1, 1]]
GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}


@pytest.mark.parametrize("gate", ["AND", "OR"])
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_perceptron_learns_linearly_separable_gate_exactly(gate: str, seed: int | None) -> None:
    perceptron = nr.Perceptron(2, seed=seed).fit(INPUTS, GATES[gate])
    assert perceptron.converged_
    assert 1 <= perceptron.epochs_ < 100
    assert perceptron.predict(INPUTS).tolist() == GATES[gate]


def test_perceptron_on_xor_stops_after_max_epochs_unconverged() -> None:
    perceptron = nr.Perceptron(2).fit(INPUTS, GATES["XOR"], max_epochs=25)
    assert not perceptron.converged_
    assert perceptron.epochs_ == 25
    assert perceptron.predict(INPUTS).tolist() != GATES["XOR"]


def test_perceptron_rule_moves_weights_by_lr_times_error_times_input() -> None:
    # From zero weights the first sample (1, 1) with target 1 is a miss (step(0) = 0):
    # weights += lr * (1 - 0) * (1, 1), bias += lr.
    perceptron = nr.Perceptron(2, lr=0.5).fit([[1, 1]], [1], max_epochs=1)
    np.testing.assert_array_equal(perceptron.weights_, [0.5, 0.5])
    assert perceptron.bias_ == 0.5
    assert not perceptron.converged_  # the one epoch had a mistake


def test_perceptron_fires_through_the_rust_step_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def spy(x: Any, /) -> Any:
        calls.append(x)
        return nr.heaviside(x)

    monkeypatch.setattr(neurust.perceptron._core, "heaviside", spy)
    nr.Perceptron(2).fit(INPUTS, GATES["AND"])
    assert calls


def test_seeded_initial_weights_are_reproducible() -> None:
    a, b = nr.Perceptron(3, seed=5), nr.Perceptron(3, seed=5)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.bias_ == b.bias_
    assert np.all(np.abs(a.weights_) <= 0.5)
    assert not nr.Perceptron(3).weights_.any()


def test_predict_returns_integer_labels() -> None:
    predictions = nr.Perceptron(2).fit(INPUTS, GATES["OR"]).predict(np.array(INPUTS, float))
    assert predictions.dtype == np.int64
    assert predictions.shape == (4,)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "message"),
    [
        ([[0, 0, 0]], [0], {}, ValueError, r"X has shape \(1, 3\).*2 inputs"),
        ([0, 1], [0], {}, ValueError, r"X has shape \(2,\)"),
        (INPUTS, [0, 1, 1], {}, ValueError, r"y has shape \(3,\).*4 rows"),
        (INPUTS, [0, 2, 1, 0], {}, ValueError, "only 0 and 1"),
        ([[np.nan, 0]], [1], {}, ValueError, "X must be finite"),
        (INPUTS, GATES["AND"], {"max_epochs": 0}, ValueError, "max_epochs must be a positive"),
        (INPUTS, GATES["AND"], {"max_epochs": 1.5}, TypeError, "max_epochs must be an int"),
        ([["a", "b"]], [0], {}, TypeError, "X has dtype"),
    ],
)
def test_fit_rejects_bad_input(x, y, kwargs, error, message: str) -> None:
    with pytest.raises(error, match=message):
        nr.Perceptron(2).fit(x, y, **kwargs)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((0,), ValueError, "n_inputs must be a positive integer"),
        ((2.0,), TypeError, "n_inputs must be an int"),
        ((2, 0.0), ValueError, "lr must be a positive, finite number"),
        ((2, float("inf")), ValueError, "lr must be a positive, finite number"),
    ],
)
def test_constructor_rejects_bad_arguments(args, error, message: str) -> None:
    with pytest.raises(error, match=message):
        nr.Perceptron(*args)
