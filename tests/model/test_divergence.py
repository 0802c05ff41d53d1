"""After a diverged fit the net trains again, on every backend and dtype, at the tutorial's size.

The last parameters whose loss was finite can already be astronomically
large (a loss of 1e235 at ``lr=3e9``, 1e296 at ``lr=1e-3`` on the tutorial's
net), and nothing trains from there. So after ``FloatingPointError`` the net
holds whichever has the lower loss over the data: the parameters from
before the call or the last finite ones, and the message says which.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import neurust as nr
from neurust.backends._mlp import non_finite_error
from neurust.backends._partial import attach

TUTORIAL_SIZE = (128, 1000, 100, 1)
SMALL_SIZE = (32, 100, 20, 1)  # the python backend: the tutorial net's size takes minutes there
KEPT_BEFORE = re.compile(
    r"^the loss became (inf|nan) at step (\d+) \(lr=[^)]+\); the parameters are kept as they "
    r"were before this fit( \(loss [^)]+\), not as at step \d+, the last whose loss was finite "
    r"\(loss [^)]+\)|, the last whose loss was finite); try a smaller learning rate$"
)


def data(rows: int, inputs: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.random.default_rng(0).standard_normal((rows, inputs)),
        np.random.default_rng(1).standard_normal((rows, outputs)),
    )


@pytest.mark.parametrize("lr", [3e9, 1e-3])
def test_a_diverged_fit_keeps_the_starting_parameters_and_trains_again(
    backend: nr.Backend, dtype: np.dtype, lr: float
) -> None:
    if dtype.name not in backend.dtypes:
        pytest.skip(f"{backend.name} computes only {backend.dtypes}")
    rows, inputs, hidden, outputs = SMALL_SIZE if backend.interpreted else TUTORIAL_SIZE
    X, Y = data(rows, inputs, outputs)
    net = nr.TwoLayerNet(inputs, hidden, outputs, seed=0, backend=backend, dtype=dtype.name)
    start, start_loss = net.parameters(), net.loss(X, Y)
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, Y, steps=50, lr=lr)
    assert KEPT_BEFORE.match(str(info.value)), str(info.value)
    assert net.loss(X, Y) == start_loss
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, start[name])
    again = net.fit(X, Y, steps=10, lr=1e-6)
    assert np.all(np.isfinite(again)) and again[-1] < 0.9 * again[0]


def test_the_last_finite_parameters_are_kept_when_their_loss_is_lower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fit that trained for a while before it diverged keeps what it learned.

    Real ReLU nets blow up within a few steps of the first sign of trouble, so
    the backend's loop is replaced by one that stops as a diverging loop does:
    the last finite parameters (here, a trained net's) attached to the error.
    """
    X, Y = data(SMALL_SIZE[0], SMALL_SIZE[1], SMALL_SIZE[3])
    trained = nr.TwoLayerNet(SMALL_SIZE[1], SMALL_SIZE[2], 1, seed=0, backend="numpy")
    history = trained.fit(X, Y, steps=30, lr=1e-4)
    net = nr.TwoLayerNet(SMALL_SIZE[1], SMALL_SIZE[2], 1, seed=0, backend="numpy")
    start_loss = net.loss(X, Y)

    def diverging(*args: object, lr: float, **options: object) -> None:
        error = non_finite_error(np.inf, len(history), lr)
        raise attach(error, trained.parameters(), history)

    monkeypatch.setattr(net.backend, "mlp_fit", diverging)
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, Y, steps=50, lr=1e-4)
    assert str(info.value) == (
        f"the loss became inf at step 30 (lr=0.0001); the parameters are kept as they were at "
        f"step 29, the last whose loss was finite (loss {trained.loss(X, Y):.6g}; before this "
        f"fit it was {start_loss:.6g}); try a smaller learning rate"
    )
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, trained.parameters()[name])


def test_a_fit_copies_the_parameters_once_not_per_step() -> None:
    X, Y = data(*SMALL_SIZE[:2], SMALL_SIZE[3])
    net = nr.TwoLayerNet(SMALL_SIZE[1], SMALL_SIZE[2], 1, seed=0)
    size = sum(value.nbytes for value in net.parameters().values())
    net.fit(X, Y, steps=2, lr=1e-6)  # warm: the kept workspace
    tracemalloc.start()
    try:
        net.fit(X, Y, steps=500, lr=1e-6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * size + 64_000, f"{peak} bytes traced for {size} bytes of parameters"
