"""A fit stopped by a non-finite loss leaves a net that trains again, on every backend.

The loss before step ``k`` is not finite: the parameters that gave it are
dropped, the net keeps those of step ``k - 1`` (whose loss ends ``history_``),
and a second ``fit`` with a smaller ``lr`` trains. The message is one text on
every backend and quotes ``lr`` as Python's ``repr`` does.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import _core
from neurust.backends._partial import partial_fit_of

X = np.arange(12.0).reshape(4, 3) / 10
Y = np.ones((4, 1))
DIVERGING = re.compile(
    r"^the loss became (inf|nan|-inf) at step (\d+) \(lr=10000000000\.0\); the parameters are "
    r"kept as they were before this fit \(loss [^)]+\), not as at step (\d+), the last whose "
    r"loss was finite \(loss [^)]+\); try a smaller learning rate$"
)


def net_on(backend: nr.Backend, dtype: str = "float64", **options: Any) -> nr.TwoLayerNet:
    if dtype not in backend.dtypes:
        pytest.skip(f"{backend.name} computes only {backend.dtypes}")
    return nr.TwoLayerNet(3, 4, 1, seed=0, backend=backend, dtype=dtype, **options)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_a_diverging_fit_keeps_the_last_finite_parameters_and_trains_again(
    backend: nr.Backend, activation: str
) -> None:
    net = net_on(backend, bias=True, activation=activation)
    start = net.parameters()
    with pytest.raises(FloatingPointError) as info:
        net.fit(X, Y, steps=50, lr=1e10)
    match = DIVERGING.match(str(info.value))
    assert match, str(info.value)
    step, kept = int(match[2]), int(match[3])
    assert step > 0 and kept == step - 1
    history = net.history_
    assert len(history) == step and np.all(np.isfinite(history))
    # The last finite parameters (after step - 1 steps) are attached to the error; the net
    # holds those from before the fit, whose loss is lower (see test_divergence.py).
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, start[name])
    partial = partial_fit_of(info.value)
    assert partial is not None
    replay = net_on(backend, bias=True, activation=activation)
    replay.load_parameters(start)
    if kept:
        replay.fit(X, Y, steps=kept, lr=1e10)
    for name, value in replay.parameters().items():
        attached = np.asarray(backend.to_numpy(partial.params[name]))
        np.testing.assert_allclose(attached, value, rtol=1e-12)
    np.testing.assert_array_equal(partial.history, history)
    again = net.fit(X, Y, steps=20, lr=1e-3)
    assert np.all(np.isfinite(again)) and again[-1] < again[0]


def test_a_loss_that_is_not_finite_at_step_0_changes_nothing(backend: nr.Backend) -> None:
    net = net_on(backend)
    start = net.parameters()
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(FloatingPointError) as info:
        net.fit(bad, Y, steps=5, lr=0.1)
    assert str(info.value) == (
        "the loss became nan at step 0 (lr=0.1), before any update; the parameters are "
        "unchanged; check the data and the parameters for NaN, infinite or huge values"
    ) or str(info.value).startswith("the loss became inf at step 0 (lr=0.1), before any update")
    assert len(net.history_) == 0
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, start[name])
    assert np.all(np.isfinite(net.fit(X, Y, steps=3, lr=1e-3)))


def test_every_backend_says_the_same(backend: nr.Backend) -> None:
    """The Rust kernel's message and the Python loops' are one text."""
    messages = {}
    for on in ("rust", backend):
        net = net_on(nr.get_backend(on) if isinstance(on, str) else on)
        bad = X.copy()
        bad[0, 0] = np.inf
        with pytest.raises(FloatingPointError) as info:
            net.fit(bad, Y, steps=5, lr=1e-5)
        messages[net.backend.name] = str(info.value).replace("inf at", "nan at")
    assert len(set(messages.values())) == 1, messages


LEARNING_RATES = [1e308, 1e10, 0.1, 1e-5, 1e-4, 1e16, 1e15, 123.456, 2.5e-7, 3.0, 0.3, 1 / 3, 0.0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lr", LEARNING_RATES, ids=repr)
def test_the_rust_fit_quotes_lr_as_python_s_repr(dtype: str, lr: float) -> None:
    net = nr.TwoLayerNet(3, 4, 1, seed=0, dtype=dtype)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(FloatingPointError, match=re.escape(f"(lr={lr!r})")):
        net.fit(bad, Y, steps=2, lr=lr)


@pytest.mark.parametrize("option", ["steps", "batch_size", "callback_every"])
@pytest.mark.parametrize("value", [np.timedelta64(3), True, 2.0])
def test_the_compiled_fit_refuses_counts_that_are_not_ints(option: str, value: Any) -> None:
    params = {name: value.copy() for name, value in nr.TwoLayerNet(3, 4, 1).parameters().items()}
    counts: dict[str, Any] = {"steps": 2, "batch_size": 2, "callback_every": 1, option: value}
    with pytest.raises(TypeError, match=f"^{option} must be an int"):
        _core.mlp_fit(
            X, Y, params["w1"], params.get("b1"), params["w2"], params.get("b2"),
            activation="relu", lr=1e-3, callback=lambda done, loss: None, **counts,
        )  # fmt: skip


@pytest.mark.parametrize("name", ["w1", "b1", "w2", "b2"])
def test_the_compiled_fit_refuses_masked_parameters(name: str) -> None:
    params: dict[str, Any] = nr.TwoLayerNet(3, 4, 1, bias=True).parameters()
    params[name] = np.ma.array(params[name])
    with pytest.raises(TypeError, match=f"^{name} is a masked array"):
        _core.mlp_fit(
            X, Y, params["w1"], params["b1"], params["w2"], params["b2"],
            activation="relu", steps=2, lr=1e-3,
        )  # fmt: skip
