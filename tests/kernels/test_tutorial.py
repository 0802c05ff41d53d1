"""The worked numbers of the tutorial, through ``nr.*`` and through every backend."""

from __future__ import annotations

import numpy as np
import pytest

import neurust as nr
from neurust import _tutorial
from support.reference import assert_close

# The tutorial's inputs come from neurust._tutorial; the numbers they must give are stated here.
ONE_NEURON_TOES = _tutorial.ONE_NEURON_TOES
ONE_NEURON_WEIGHT = _tutorial.ONE_NEURON_WEIGHT
ONE_NEURON_PREDICTIONS = [0.85, 0.90, 0.95, 1.00]

THREE_INPUT_WEIGHTS = _tutorial.GAME_WEIGHTS
THREE_INPUT_PREDICTIONS = [0.98, 1.11, 1.15, 1.08]

RELU_INPUTS, RELU_WEIGHTS = _tutorial.RELU_INPUTS, _tutorial.RELU_WEIGHTS
# The last weight negated makes the weighted sum -21, which relu must clip to 0.
RELU_WEIGHTS_NEGATIVE = (*RELU_WEIGHTS[:-1], -RELU_WEIGHTS[-1])


def games(dtype: np.dtype) -> np.ndarray:
    """One row per game, one column per input (toes, record, fans)."""
    return _tutorial.games(dtype)


def test_tutorial_module_states_the_same_expected_numbers() -> None:
    assert list(_tutorial.ONE_NEURON_PREDICTIONS) == ONE_NEURON_PREDICTIONS
    assert list(_tutorial.GAME_PREDICTIONS) == THREE_INPUT_PREDICTIONS
    assert _tutorial.RELU_OUTPUT == 19.0


def test_one_neuron_prediction_is_input_times_weight(dtype: np.dtype) -> None:
    for toes, expected in zip(ONE_NEURON_TOES, ONE_NEURON_PREDICTIONS, strict=True):
        prediction = nr.weighted_sum(np.array([toes], dtype), np.array([ONE_NEURON_WEIGHT], dtype))
        assert_close(prediction, np.array(expected, dtype))


def test_one_neuron_predicts_every_game_at_once(dtype: np.dtype) -> None:
    toes = np.array(ONE_NEURON_TOES, dtype).reshape(-1, 1)
    predictions = nr.weighted_sum(toes, np.array([ONE_NEURON_WEIGHT], dtype))
    assert_close(predictions, np.array(ONE_NEURON_PREDICTIONS, dtype))


def test_three_input_neuron_predicts_the_tutorial_numbers(dtype: np.dtype) -> None:
    predictions = nr.weighted_sum(games(dtype), np.array(THREE_INPUT_WEIGHTS, dtype))
    assert_close(predictions, np.array(THREE_INPUT_PREDICTIONS, dtype))


def test_three_input_neuron_first_game_is_within_1e5_of_098(dtype: np.dtype) -> None:
    prediction = nr.weighted_sum(games(dtype)[0], np.array(THREE_INPUT_WEIGHTS, dtype))
    assert abs(float(prediction) - 0.98) < 1e-5


def test_weighted_sum_of_integer_lists_is_the_float_19() -> None:
    weighted = nr.weighted_sum([int(v) for v in RELU_INPUTS], [int(w) for w in RELU_WEIGHTS])
    assert weighted == 19.0
    assert weighted.dtype == np.float64


def test_relu_of_the_positive_weighted_sum_passes_19_through() -> None:
    assert nr.relu(nr.weighted_sum(RELU_INPUTS, RELU_WEIGHTS)) == 19.0


def test_relu_of_a_negative_weighted_sum_is_zero() -> None:
    assert nr.relu(nr.weighted_sum(RELU_INPUTS, RELU_WEIGHTS_NEGATIVE)) == 0.0


# The same numbers through every backend, on its native arrays.


def test_one_neuron_on_every_backend(backend: nr.Backend, dtype: np.dtype) -> None:
    toes = backend.from_numpy(np.array(ONE_NEURON_TOES, dtype).reshape(-1, 1))
    weight = backend.from_numpy(np.array([ONE_NEURON_WEIGHT], dtype))
    predictions = backend.to_numpy(backend.weighted_sum(toes, weight))
    assert_close(predictions, np.array(ONE_NEURON_PREDICTIONS, dtype))


def test_three_input_neuron_on_every_backend(backend: nr.Backend, dtype: np.dtype) -> None:
    inputs = backend.from_numpy(games(dtype))
    weights = backend.from_numpy(np.array(THREE_INPUT_WEIGHTS, dtype))
    predictions = backend.to_numpy(backend.weighted_sum(inputs, weights))
    assert_close(predictions, np.array(THREE_INPUT_PREDICTIONS, dtype))
    assert abs(float(predictions[0]) - 0.98) < 1e-5


@pytest.mark.parametrize(
    ("weights", "expected"), [(RELU_WEIGHTS, 19.0), (RELU_WEIGHTS_NEGATIVE, 0.0)]
)
def test_weighted_sum_then_relu_on_every_backend(
    backend: nr.Backend, dtype: np.dtype, weights: list[float], expected: float
) -> None:
    x = backend.from_numpy(np.array(RELU_INPUTS, dtype))
    w = backend.from_numpy(np.array(weights, dtype))
    y = backend.to_numpy(backend.relu(backend.weighted_sum(x, w)))
    assert_close(y, np.array(expected, dtype))
