"""The one training loop (``backends._mlp.train``) and the one divergence rule, on their own.

Every fit in Python runs ``train`` with a step of its own (the backends', the
distributed fit's); these tests drive it with a scripted step, so that what
the loop owns (the rows of each step, the history, the callback, the
rollback and what a stopped fit carries) is checked apart from any maths.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from neurust.backends._mlp import FitOptions, keep_lower_loss, non_finite_message, train
from neurust.backends._partial import partial_fit_of


def _options(steps: int, **overrides: Any) -> FitOptions:
    settings: dict[str, Any] = {
        "activation": "relu",
        "steps": steps,
        "lr": 0.5,
        "reduction": "sum",
        "batch_size": None,
        "callback": None,
        "callback_every": None,
    }
    settings.update(overrides)
    return FitOptions(**settings)


class Scripted:
    """A step whose parameters count the steps taken and whose losses are given."""

    def __init__(self, losses: list[float]) -> None:
        self.losses = losses
        self.rows: list[tuple[int, int]] = []

    def __call__(self, params: dict[str, int], step: int, start: int, end: int) -> Any:
        self.rows.append((start, end))
        return self.losses[step], {"w1": params["w1"] + 1}


def test_the_loop_returns_the_last_parameters_and_every_loss() -> None:
    step = Scripted([4.0, 3.0, 2.0])
    params, history = train({"w1": 0}, 5, _options(3), step)
    assert params == {"w1": 3}
    assert history.tolist() == [4.0, 3.0, 2.0]
    assert step.rows == [(0, 5)] * 3


def test_mini_batches_visit_consecutive_blocks_cyclically() -> None:
    step = Scripted([1.0] * 4)
    train({"w1": 0}, 5, _options(4, batch_size=2), step)
    assert step.rows == [(0, 2), (2, 4), (4, 5), (0, 2)]


def test_a_non_finite_loss_returns_to_the_parameters_of_the_step_before() -> None:
    with pytest.raises(FloatingPointError) as info:
        train({"w1": 0}, 5, _options(5), Scripted([4.0, 3.0, math.inf, 1.0, 1.0]))
    assert str(info.value) == non_finite_message(math.inf, 2, 0.5)
    partial = partial_fit_of(info.value)
    assert partial is not None
    assert partial.params == {"w1": 1} and partial.history.tolist() == [4.0, 3.0]


def test_a_non_finite_loss_at_step_0_changes_nothing() -> None:
    with pytest.raises(FloatingPointError, match="before any update") as info:
        train({"w1": 0}, 5, _options(3), Scripted([math.nan, 1.0, 1.0]))
    partial = partial_fit_of(info.value)
    assert partial is not None
    assert partial.params == {"w1": 0} and partial.steps_done == 0


def test_the_callback_sees_every_chunk_and_the_last_step() -> None:
    seen: list[tuple[int, float]] = []
    options = _options(5, callback=lambda done, loss: seen.append((done, loss)), callback_every=2)
    train({"w1": 0}, 5, options, Scripted([5.0, 4.0, 3.0, 2.0, 1.0]))
    assert seen == [(2, 4.0), (4, 2.0), (5, 1.0)]


def test_an_exception_from_the_callback_carries_the_steps_done() -> None:
    def stop(done: int, loss: float) -> None:
        raise KeyboardInterrupt

    options = _options(5, callback=stop, callback_every=2)
    with pytest.raises(KeyboardInterrupt) as info:
        train({"w1": 0}, 5, options, Scripted([5.0, 4.0, 3.0, 2.0, 1.0]))
    partial = partial_fit_of(info.value)
    assert partial is not None
    assert partial.params == {"w1": 2} and partial.history.tolist() == [5.0, 4.0]


@pytest.mark.parametrize(
    ("steps_done", "before", "last", "keeps_before", "says"),
    [
        (1, 3.0, 3.0, True, "kept as they were before this fit, the last whose loss was finite"),
        (4, 3.0, 1e235, True, "before this fit (loss 3), not as at step 3"),
        (4, 3.0, math.nan, True, "before this fit (loss 3), not as at step 3"),
        (4, 3.0, 2.0, False, "kept as they were at step 3, the last whose loss was finite"),
        (4, 2.0, 2.0, True, "before this fit (loss 2)"),
    ],
)
def test_a_diverged_fit_keeps_the_lower_loss_and_says_which(
    steps_done: int, before: float, last: float, keeps_before: bool, says: str
) -> None:
    error = FloatingPointError(non_finite_message(math.inf, steps_done, 0.5))
    assert keep_lower_loss(error, steps_done, before, last) is keeps_before
    message = str(error)
    assert message.startswith(f"the loss became inf at step {steps_done} (lr=0.5); ")
    assert says in message and message.endswith("; try a smaller learning rate")
