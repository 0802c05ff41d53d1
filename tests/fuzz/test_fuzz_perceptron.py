"""Fuzzing Perceptron: construction, fit and predict with arbitrary arguments.

Each batch runs in a child interpreter (see tests/support/fuzzing.py); which arguments are
valid comes from the tables in tests/support/fuzz_rules.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import neurust as nr
from support.fuzz_rules import (
    PERCEPTRON_TARGETS,
    computed_as,
    first,
    result_shape,
    scalar_error,
    seed_error,
)
from support.fuzzing import (
    COUNTS,
    Batch,
    Checker,
    Expected,
    allocation,
    argument,
    arrays,
    assert_same_bits,
    check_call,
    child_main,
    fuzz_in_child,
    mostly,
    python_objects,
)


def _perceptron_answer(
    weights: np.ndarray, bias: float, x: np.ndarray, y: np.ndarray, lr: float, epochs: int
) -> tuple[np.ndarray, float, bool, int]:
    """The perceptron rule in plain numpy (exact on the small integers drawn)."""
    converged, ran = False, 0
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for sample, target in zip(x, y, strict=True):
            fires = 1.0 if float(sample @ weights) + bias > 0 else 0.0
            error = target - fires
            if error:
                mistakes += 1
                weights = weights + lr * error * sample
                bias += lr * error
        ran = epoch
        if not mistakes:
            converged = True
            break
    return weights, bias, converged, ran


def fuzz_perceptron(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    n_inputs = data.draw(mostly(st.integers(1, 4), st.integers(-1, 0) | python_objects))
    lr = data.draw(mostly(st.sampled_from([1.0, 0.5, 2.0]), python_objects | st.floats()))
    seed_value = data.draw(mostly(st.none(), st.integers(-2, 5) | python_objects))

    weights = "small" if scalar_error(n_inputs, "n_inputs") else allocation(int(n_inputs))
    if weights == "skip":
        return

    def expect_perceptron() -> Checker:
        first(
            scalar_error(n_inputs, "n_inputs"),
            scalar_error(lr, "lr", "positive learning rate"),
            seed_error(seed_value),
        )
        if weights == "impossible":
            raise Expected((MemoryError, ValueError), ["n_inputs"], named=False)
        return lambda p: None

    check_call(nr.Perceptron, (n_inputs, lr, seed_value), {}, expect_perceptron)
    if (
        weights != "small"
        or scalar_error(n_inputs, "n_inputs")
        or scalar_error(lr, "lr", "positive learning rate")
        or seed_error(seed_value)
    ):
        return
    perceptron = nr.Perceptron(n_inputs, lr, seed_value)
    rows = data.draw(st.integers(0, 6))
    integers = st.integers(-2, 2).map(float)
    X = data.draw(
        mostly(hnp.arrays(np.float64, (rows, n_inputs), elements=integers), argument(arrays())),
        label="X",
    )
    y = data.draw(
        mostly(
            hnp.arrays(np.float64, (rows,), elements=st.sampled_from(PERCEPTRON_TARGETS)),
            argument(arrays()),
        ),
        label="y",
    )
    max_epochs = data.draw(mostly(st.integers(1, 6), st.integers(-1, 0) | python_objects))
    weights, bias = perceptron.weights_.copy(), perceptron.bias_

    def expect_fit() -> Checker:
        first(scalar_error(max_epochs, "max_epochs"))
        x = computed_as(X, "X")
        (rows,) = result_shape("Perceptron.inputs", {"X": x.shape}, {"i": n_inputs})
        if not np.all(np.isfinite(x)):
            raise Expected((ValueError,), ["X"])
        targets = computed_as(y, "y")
        result_shape("Perceptron.targets", {"y": targets.shape}, {"n": rows})
        if not np.isin(targets, PERCEPTRON_TARGETS).all():
            raise Expected((ValueError,), ["y"])
        if rows == 0:
            raise Expected((ValueError,), ["X"])

        def check(result: Any) -> None:
            assert result is perceptron
            if seed_value is None and float(lr).is_integer() and np.all(x == np.round(x)):
                answer = _perceptron_answer(weights, bias, x, targets, float(lr), max_epochs)
                assert_same_bits(perceptron.weights_, answer[0])
                assert perceptron.bias_ == answer[1]
                assert (perceptron.converged_, perceptron.epochs_) == answer[2:]
            assert 1 <= perceptron.epochs_ <= max_epochs
            if perceptron.converged_:
                np.testing.assert_array_equal(perceptron.predict(x), targets)

        return check

    check_call(perceptron.fit, (X, y, max_epochs), {}, expect_fit)
    X_new = data.draw(argument(arrays()), label="X_new")

    def expect_predict() -> Checker:
        x = computed_as(X_new, "X")
        result_shape("Perceptron.inputs", {"X": x.shape}, {"i": n_inputs})

        def check(result: Any) -> None:
            assert result.dtype == np.int64 and result.shape == (x.shape[0],)
            with np.errstate(all="ignore"):
                activity = x.astype(np.longdouble) @ perceptron.weights_ + perceptron.bias_
            decided = np.abs(activity) > 1e-9 * (np.abs(x) @ np.abs(perceptron.weights_) + 1)
            decided &= np.isfinite(activity)
            np.testing.assert_array_equal(result[decided], (activity[decided] > 0).astype(int))

        return check

    check_call(perceptron.predict, (X_new,), {}, expect_predict)


BATCHES: dict[str, Batch] = {"Perceptron": fuzz_perceptron}


@pytest.mark.soak
def test_fuzzed_perceptron_learns_by_the_rule_or_names_the_bad_argument(soak: bool) -> None:
    fuzz_in_child(__file__, "Perceptron", soak)


if __name__ == "__main__":
    child_main(BATCHES)
