"""TwoLayerNet leaves its inputs alone, keeps memory flat, is safe under threads and Ctrl-C.

Eight nets fitted at once give the bits of the same fits one after another; one net shared by
two threads is never corrupted; Ctrl-C stops a long ``fit`` keeping the last step's parameters.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support.kernel_calls import (
    rng,
)
from support.reference import with_layout
from support.stress import (
    INTERRUPT_LIMIT_S,
    THREADS,
    assert_flat,
    assert_same_bits,
    interrupt_child,
    memory_run,
    run_concurrently,
)

# --- the network ---------------------------------------------------------------------------


def problem(
    seed: int = 0, rows: int = 64, sizes: tuple[int, int, int] = (40, 16, 2), dtype: Any = "float64"
) -> tuple[np.ndarray, np.ndarray]:
    X = rng(seed).normal(size=(rows, sizes[0])).astype(dtype)
    Y = rng(seed + 1).normal(size=(rows, sizes[2])).astype(dtype)
    return X, Y


def network(seed: int = 0, **keywords: Any) -> nr.TwoLayerNet:
    keywords = {"bias": True, "init": "he", **keywords}
    return nr.TwoLayerNet(40, 16, 2, seed=seed, **keywords)


def assert_same_parameters(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert_same_bits(actual[name], expected[name])


@pytest.mark.parametrize("layout", ["C", "F", "strided", "reversed", "unaligned"])
@pytest.mark.parametrize("method", ["__call__", "loss", "gradients", "fit"])
def test_network_methods_leave_x_and_y_unchanged(method: str, layout: str) -> None:
    net = network()
    X, Y = (with_layout(a, layout) for a in problem())
    before = [(a.tobytes(), a.strides) for a in (X, Y)]
    if method == "__call__":
        net(X)
    elif method == "fit":
        net.fit(X, Y, steps=3, lr=1e-3)
    else:
        getattr(net, method)(X, Y)
    assert [(a.tobytes(), a.strides) for a in (X, Y)] == before


@pytest.mark.parametrize("method", ["__call__", "loss", "gradients"])
def test_network_methods_that_only_read_leave_the_parameters_unchanged(method: str) -> None:
    net = network()
    X, Y = problem()
    before = net.parameters()
    getattr(net, method)(X, Y) if method != "__call__" else net(X)
    assert_same_parameters(net.parameters(), before)


def test_network_step_leaves_the_gradients_unchanged() -> None:
    net = network()
    grads = net.gradients(*problem())
    copies = {name: value.copy() for name, value in grads.items()}
    net.step(grads, lr=1e-3)
    assert_same_parameters(grads, copies)


def test_network_parameters_are_copies_the_caller_may_change() -> None:
    net = network()
    params = net.parameters()
    for value in params.values():
        value[...] = np.nan
    assert all(np.isfinite(value).all() for value in net.parameters().values())


def test_network_keeps_its_own_copy_of_loaded_parameters() -> None:
    net, donor = network(), network(seed=5)
    params = donor.parameters()
    net.load_parameters(params)
    for value in params.values():
        value[...] = np.nan
    assert_same_parameters(net.parameters(), donor.parameters())


def test_network_fit_changes_only_the_networks_own_parameters() -> None:
    net = network()
    X, Y = problem()
    earlier = net.parameters()
    earlier_copies = {name: value.copy() for name, value in earlier.items()}
    net.fit(X, Y, steps=5, lr=1e-3)
    assert_same_parameters(earlier, earlier_copies)
    assert any(not np.array_equal(net.parameters()[name], earlier[name]) for name in earlier), (
        "fit changed no parameter"
    )


@pytest.mark.parametrize("method", ["__call__", "loss", "gradients", "fit"])
def test_network_methods_leave_reference_counts_of_x_and_y_unchanged(method: str) -> None:
    net = network()
    X, Y = problem()
    call = {
        "__call__": lambda: net(X),
        "loss": lambda: net.loss(X, Y),
        "gradients": lambda: net.gradients(X, Y),
        "fit": lambda: net.fit(X, Y, steps=2, lr=1e-4),
    }[method]
    call()
    before = (sys.getrefcount(X), sys.getrefcount(Y))
    for _ in range(50):
        call()
    assert (sys.getrefcount(X), sys.getrefcount(Y)) == before


FITS_BODY = """
def run(n):
    X = np.random.default_rng(0).normal(size=(32, 20))
    Y = np.random.default_rng(1).normal(size=(32, 1))
    for i in range(n):
        net = nr.TwoLayerNet(20, 10, 1, bias=i % 2 == 0, dtype=("float64", "float32")[i % 2],
                             seed=i % 7, init="he")
        net.fit(X, Y, steps=20, lr=1e-3)
        net(X), net.loss(X, Y), net.gradients(X, Y)
        try:
            net.fit(X, Y[:3], steps=20, lr=1e-3)
        except ValueError:
            pass
    return n
"""

FITS = 200
SOAK_FITS = 1_000


@pytest.mark.soak
def test_resident_memory_stays_flat_over_many_short_fits(soak: bool) -> None:
    fits = SOAK_FITS if soak else FITS
    counts = memory_run(FITS_BODY, fits)
    assert counts["calls"] == fits
    assert_flat(counts, 2 * 2**20)


def fit_problem(seed: int) -> tuple[nr.TwoLayerNet, np.ndarray, np.ndarray]:
    """A fit big enough to run without the GIL for a while (tens of milliseconds)."""
    net = nr.TwoLayerNet(200, 64, 4, bias=True, seed=seed, init="he")
    X, Y = problem(seed, rows=256, sizes=(200, 64, 4))
    return net, X, Y


def test_eight_networks_fitted_concurrently_match_the_same_fits_one_after_another() -> None:
    sequential = []
    for seed in range(THREADS):
        net, X, Y = fit_problem(seed)
        history = net.fit(X, Y, steps=40, lr=1e-4)
        sequential.append((history, net.parameters()))

    def task(i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        net, X, Y = fit_problem(i)
        return net.fit(X, Y, steps=40, lr=1e-4), net.parameters()

    for (history, params), (expected_history, expected_params) in zip(
        run_concurrently(task), sequential, strict=True
    ):
        assert_same_bits(history, expected_history)
        assert_same_parameters(params, expected_params)


# What a second thread does to a network that the first is fitting.
SHARED_USES: dict[str, Callable[[nr.TwoLayerNet, np.ndarray, np.ndarray], Any]] = {
    "fit": lambda net, X, Y: net.fit(X, Y, steps=150, lr=1e-4),
    "step": lambda net, X, Y: net.step(
        {name: np.ones_like(value) for name, value in net.parameters().items()}, lr=1e-3
    ),
    "load_parameters": lambda net, X, Y: net.load_parameters(fit_problem(99)[0].parameters()),
}


@pytest.mark.parametrize("second", list(SHARED_USES))
def test_one_network_used_by_two_threads_takes_turns_or_raises_runtime_error(
    second: str,
) -> None:
    """The outcome must be one of the serial orders (or one call refused with RuntimeError)."""
    first = SHARED_USES["fit"]
    use = SHARED_USES[second]

    def serial(order: str) -> dict[str, np.ndarray]:
        net, X, Y = fit_problem(0)
        for who in order:
            (first if who == "1" else use)(net, X, Y)
        return net.parameters()

    candidates = {order: serial(order) for order in ("12", "21", "1", "2")}
    # the second thread starts at the same time as the fit, or a little later, so that its
    # call lands before, at the start of, and in the middle of the fit
    for attempt, delay in enumerate([0.0, 0.002, 0.01, 0.03, 0.06]):
        net, X, Y = fit_problem(0)
        outcomes: list[str] = ["", ""]

        def task(i: int) -> None:
            if i == 1:
                time.sleep(delay)  # noqa: B023
            try:
                (first if i == 0 else use)(net, X, Y)  # noqa: B023
                outcomes[i] = "done"  # noqa: B023
            except RuntimeError:
                outcomes[i] = "refused"  # noqa: B023

        run_concurrently(task, 2)
        params = net.parameters()
        assert all(np.isfinite(value).all() for value in params.values())
        matches = [
            order
            for order, expected in candidates.items()
            if all(np.array_equal(params[k], expected[k]) for k in expected)
        ]
        done = "".join(str(i + 1) for i in range(2) if outcomes[i] == "done")
        assert matches, f"attempt {attempt}: parameters match no serial order ({outcomes})"
        assert any(sorted(order) == sorted(done) for order in matches), (outcomes, matches)


FIT_INTERRUPT_SETUP = """
X = np.random.default_rng(0).normal(size=(128, 1000))
Y = np.random.default_rng(1).normal(size=(128, 1))
net = nr.TwoLayerNet(1000, 100, 1, seed=0)

def steps_done():
    return -1 if net.history_ is None else len(net.history_)

def finite():
    return all(bool(np.isfinite(value).all()) for value in net.parameters().values())

def replayed():
    # a fresh net fitted for the completed steps must reach exactly the same parameters
    if steps_done() < 1:
        return None
    twin = nr.TwoLayerNet(1000, 100, 1, seed=0)
    twin.fit(X, Y, steps=steps_done(), lr=1e-7)
    return all(np.array_equal(twin.parameters()[k], v) for k, v in net.parameters().items())
"""


def test_ctrl_c_stops_a_long_fit_promptly_keeping_the_parameters_of_the_last_step() -> None:
    report, latency = interrupt_child(
        setup=FIT_INTERRUPT_SETUP,
        call="net.fit(X, Y, steps=10**7, lr=1e-7)",
        report='"steps_done": steps_done(), "finite": finite(), "replayed": replayed()',
    )
    assert report["outcome"] == "interrupted"
    assert latency < INTERRUPT_LIMIT_S
    assert report["steps_done"] > 0 and report["finite"]
    # the parameters are exactly those of a fit of the completed steps
    assert report["replayed"] is True


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loss_of_huge_values_is_inf_not_a_crash(dtype: str) -> None:
    net = network(dtype=dtype)
    X, Y = problem(dtype=dtype)
    largest = np.finfo(dtype).max
    # targets near the largest float: each squared error overflows
    assert net.loss(X, np.full_like(Y, largest / 2)) == np.inf
    # inputs near its square root: finite predictions whose squares overflow
    assert net.loss(X * np.sqrt(largest) / 10, Y) == np.inf
    gradients = net.gradients(X, np.full_like(Y, largest / 2))
    assert all(value.dtype == np.dtype(dtype) for value in gradients.values())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_on_huge_values_raises_floating_point_error_keeping_the_parameters(dtype: str) -> None:
    net = network(dtype=dtype)
    X, Y = problem(dtype=dtype)
    before = net.parameters()
    with pytest.raises(FloatingPointError, match=r"\bstep\b"):
        with np.errstate(over="ignore"):
            huge = X * np.finfo(dtype).max
        net.fit(huge, Y, steps=5, lr=1e-3)
    assert_same_parameters(net.parameters(), before)


def test_network_float32_and_float64_agree_within_float32_tolerance() -> None:
    X, Y = problem()
    wide, narrow = network(), network(dtype="float32")
    np.testing.assert_allclose(narrow(X.astype(np.float32)), wide(X), rtol=1e-4, atol=1e-4)
    history32 = narrow.fit(X.astype(np.float32), Y.astype(np.float32), steps=20, lr=1e-3)
    history64 = wide.fit(X, Y, steps=20, lr=1e-3)
    assert history32.dtype == np.float32
    np.testing.assert_allclose(history32, history64, rtol=1e-4)
