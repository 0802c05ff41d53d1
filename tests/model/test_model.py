"""TwoLayerNet: gradients, training runs that agree across backends, the tutorial's run, guards."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import _core
from support.children import Child

try:
    import torch
except ImportError:  # only the tests marked needs_torch use it
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(
    torch is None, reason="torch is not installed: its autograd is the reference"
)

# The tutorial's network: 128 samples, 1000 inputs, 100 hidden units, 1 output, lr 1e-6.
TUTORIAL_SHAPE = (128, 1000, 100, 1)
TUTORIAL_LR = 1e-6
# A draw whose 500-step run falls as the tutorial's does (about 8e6 -> 55); the margin
# over the required 10,000-fold fall is about 15x.
DATA_SEED, NET_SEED = 4, 1004

GRADIENT_RTOL = 1e-10  # float64 gradients against torch autograd
CURVE_RTOL = 1e-8  # float64 loss curves across backends, first 50 steps at the tutorial's size


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread() -> Iterator[None]:
    """One thread for numpy's BLAS and torch while these tests run.

    They check numbers, not speed, and on a shared 2-core machine the worker
    threads of OpenBLAS and torch's OpenMP, spinning at each barrier, made a
    500-step torch run 15x slower (25 s instead of under 2 s).
    """
    torch_threads = None if torch is None else torch.get_num_threads()
    if torch is not None:
        torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
    else:
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)


def tutorial_data(rows: int = 128, inputs: int = 1000, outputs: int = 1, seed: int = DATA_SEED):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, inputs)), rng.standard_normal((rows, outputs))


def backend_or_skip(name: str) -> nr.Backend:
    try:
        return nr.get_backend(name)
    except nr.BackendUnavailableError as error:
        pytest.skip(str(error))


def small_problem(bias: bool, activation: str, seed: int = 3):
    """A 12-sample 5 -> 7 -> 3 net whose ReLU pre-activations stay clear of the kink at 0."""
    net = nr.TwoLayerNet(5, 7, 3, activation=activation, bias=bias, seed=seed, backend="numpy")
    rng = np.random.default_rng(seed + 100)
    params = net.parameters()
    if bias:  # non-zero biases, so their gradients are exercised
        params["b1"] = rng.standard_normal(7)
        params["b2"] = rng.standard_normal(3)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 3))
    return params, x, y


def torch_autograd(params, x, y, activation: str, reduction: str):
    """The loss and gradients as torch's autograd computes them."""
    t = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    hidden = torch.tensor(x) @ t["w1"] + (t["b1"] if "b1" in t else 0)
    act = torch.relu(hidden) if activation == "relu" else torch.sigmoid(hidden)
    predictions = act @ t["w2"] + (t["b2"] if "b2" in t else 0)
    squared = (predictions - torch.tensor(y)) ** 2
    loss = squared.sum() if reduction == "sum" else squared.mean()
    loss.backward()
    return float(loss.detach()), {name: tensor.grad.numpy() for name, tensor in t.items()}


def net_on(backend: nr.Backend | str, params: dict[str, np.ndarray], activation: str = "relu"):
    w1, w2 = params["w1"], params["w2"]
    net = nr.TwoLayerNet(
        w1.shape[0],
        w1.shape[1],
        w2.shape[1],
        activation=activation,
        bias="b1" in params,
        dtype=w1.dtype,
        backend=backend,
    )
    net.load_parameters(params)
    return net


# --- initial weights ---------------------------------------------------------------------------


def test_same_seed_gives_same_initial_weights_on_every_backend(backend: nr.Backend) -> None:
    # The weights are drawn in numpy before any backend sees them, so parameters()
    # alone would agree whatever a backend did to them. Read them back through the
    # backend instead: its forward pass, and one fit step at lr 0, which hands back
    # the backend's own arrays unchanged.
    rng = np.random.default_rng(7)
    w1, w2 = rng.standard_normal((6, 4)), rng.standard_normal((4, 2))
    data = np.random.default_rng(8)
    x, y = data.standard_normal((5, 6)), data.standard_normal((5, 2))
    predictions = np.maximum(x @ w1, 0) @ w2
    net = nr.TwoLayerNet(6, 4, 2, seed=7, backend=backend)
    np.testing.assert_allclose(net(x), predictions, rtol=1e-12)
    history = net.fit(x, y, steps=1, lr=0.0)
    np.testing.assert_allclose(history[0], np.sum((predictions - y) ** 2), rtol=1e-12)
    params = net.parameters()
    np.testing.assert_array_equal(params["w1"], w1)
    np.testing.assert_array_equal(params["w2"], w2)


def test_normal_init_draws_the_standard_normal_stream_w1_then_w2() -> None:
    rng = np.random.default_rng(11)
    w1, w2 = rng.standard_normal((6, 4)), rng.standard_normal((4, 2))
    params = nr.TwoLayerNet(6, 4, 2, seed=11).parameters()
    np.testing.assert_array_equal(params["w1"], w1)
    np.testing.assert_array_equal(params["w2"], w2)


def test_he_init_scales_by_sqrt_two_over_fan_in() -> None:
    normal = nr.TwoLayerNet(50, 8, 3, seed=2).parameters()
    he = nr.TwoLayerNet(50, 8, 3, seed=2, init="he").parameters()
    np.testing.assert_allclose(he["w1"], normal["w1"] * np.sqrt(2 / 50), rtol=1e-15)
    np.testing.assert_allclose(he["w2"], normal["w2"] * np.sqrt(2 / 8), rtol=1e-15)


def test_different_seeds_give_different_weights_and_biases_start_at_zero() -> None:
    a = nr.TwoLayerNet(4, 3, 1, bias=True, seed=0).parameters()
    b = nr.TwoLayerNet(4, 3, 1, bias=True, seed=1).parameters()
    assert not np.array_equal(a["w1"], b["w1"])
    assert set(a) == {"w1", "b1", "w2", "b2"}
    assert not a["b1"].any() and not a["b2"].any()


# --- forward, loss, gradients ------------------------------------------------------------------


def test_forward_is_activation_of_hidden_layer_times_w2(backend: nr.Backend) -> None:
    params, x, _ = small_problem(bias=True, activation="sigmoid")
    net = net_on(backend, params, "sigmoid")
    expected = 1 / (1 + np.exp(-(x @ params["w1"] + params["b1"]))) @ params["w2"] + params["b2"]
    np.testing.assert_allclose(net(x), expected, rtol=1e-12)
    np.testing.assert_allclose(net(x[0]), expected[0], rtol=1e-12)


@pytest.mark.parametrize(
    ("activation", "bias", "reduction"),
    [("relu", False, "sum"), ("relu", True, "mean"), ("sigmoid", True, "sum")],
)
@needs_torch
def test_gradients_match_torch_autograd(
    backend: nr.Backend, activation: str, bias: bool, reduction: str
) -> None:
    params, x, y = small_problem(bias, activation)
    want_loss, want = torch_autograd(params, x, y, activation, reduction)
    net = net_on(backend, params, activation)
    grads = net.gradients(x, y, reduction=reduction)
    assert set(grads) == set(params)
    for name, expected in want.items():
        np.testing.assert_allclose(
            grads[name],
            expected,
            rtol=GRADIENT_RTOL,
            atol=GRADIENT_RTOL * np.abs(expected).max(),
            err_msg=name,
        )
    assert net.loss(x, y, reduction=reduction) == pytest.approx(want_loss, rel=GRADIENT_RTOL)


@needs_torch
def test_tutorial_size_gradients_match_torch_autograd_on_rust() -> None:
    x, y = tutorial_data()
    net = nr.TwoLayerNet(1000, 100, 1, seed=NET_SEED)
    params = net.parameters()
    _, want = torch_autograd(params, x, y, "relu", "sum")
    grads = net.gradients(x, y)
    for name in ("w1", "w2"):
        scale = np.abs(want[name]).max()
        np.testing.assert_allclose(grads[name], want[name], rtol=0, atol=GRADIENT_RTOL * scale)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_rust_gradients_match_central_finite_differences(activation: str) -> None:
    params, x, y = small_problem(bias=True, activation=activation)
    grads = net_on("rust", params, activation).gradients(x, y)
    h = 1e-6
    for name, value in params.items():
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][index] += h
            minus[name][index] -= h
            numeric = (
                net_on("rust", plus, activation).loss(x, y)
                - net_on("rust", minus, activation).loss(x, y)
            ) / (2 * h)
            assert grads[name][index] == pytest.approx(numeric, rel=1e-6, abs=1e-6), (name, index)


def test_gradients_then_step_equal_one_step_of_fit() -> None:
    x, y = tutorial_data(32, 50, 2)
    stepped = nr.TwoLayerNet(50, 20, 2, bias=True, seed=5)
    fitted = nr.TwoLayerNet(50, 20, 2, bias=True, seed=5)
    stepped.step(stepped.gradients(x, y), lr=1e-4)
    fitted.fit(x, y, steps=1, lr=1e-4)
    for name, value in fitted.parameters().items():
        np.testing.assert_array_equal(stepped.parameters()[name], value)


# --- training agrees across backends -----------------------------------------------------------


def test_tutorial_loss_curve_agrees_with_numpy_for_50_steps(backend: nr.Backend) -> None:
    if backend.name == "python":
        pytest.skip("pure Python takes minutes at the tutorial's size; see the small-size test")
    x, y = tutorial_data()
    reference = nr.TwoLayerNet(1000, 100, 1, seed=NET_SEED, backend="numpy")
    want = reference.fit(x, y, steps=50, lr=TUTORIAL_LR)
    net = nr.TwoLayerNet(1000, 100, 1, seed=NET_SEED, backend=backend)
    got = net.fit(x, y, steps=50, lr=TUTORIAL_LR)
    np.testing.assert_allclose(got, want, rtol=CURVE_RTOL)
    for name, value in reference.parameters().items():
        np.testing.assert_allclose(net.parameters()[name], value, rtol=CURVE_RTOL, atol=1e-10)


def test_pure_python_loss_curve_agrees_with_numpy_at_a_small_size() -> None:
    params, x, y = small_problem(bias=True, activation="sigmoid")
    want = net_on("numpy", params, "sigmoid").fit(x, y, steps=30, lr=1e-2)
    got = net_on("python", params, "sigmoid").fit(x, y, steps=30, lr=1e-2)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("name", ["rust", "numpy", "torch", "jax"])
def test_tutorial_run_falls_ten_thousand_fold_in_500_steps(name: str) -> None:
    backend = backend_or_skip(name)
    x, y = tutorial_data()
    net = nr.TwoLayerNet(1000, 100, 1, seed=NET_SEED, backend=backend)
    history = net.fit(x, y, steps=500, lr=TUTORIAL_LR)
    assert history.shape == (500,)
    assert history[0] > 1e6
    assert net.loss(x, y) <= history[0] / 10_000
    assert np.all(np.diff(history[100:]) <= 0), "the loss keeps falling once past the start"


def test_mini_batches_cycle_through_row_blocks_alike_on_rust_and_numpy() -> None:
    x, y = tutorial_data(50, 30, 2)
    histories = {}
    for name in ("rust", "numpy"):
        net = nr.TwoLayerNet(30, 10, 2, bias=True, seed=8, backend=name)
        histories[name] = net.fit(x, y, steps=25, lr=1e-3, batch_size=16)
    np.testing.assert_allclose(histories["rust"], histories["numpy"], rtol=1e-12)
    # Blocks of 16, 16, 16 and 2 rows: every fourth loss is over 2 rows only.
    assert histories["rust"][3] < histories["rust"][2] / 2


def test_mean_reduction_trains_with_the_gradient_of_the_mean() -> None:
    x, y = tutorial_data(20, 8, 1)
    sum_net = nr.TwoLayerNet(8, 4, 1, seed=1)
    mean_net = nr.TwoLayerNet(8, 4, 1, seed=1)
    sum_history = sum_net.fit(x, y, steps=5, lr=1e-3)
    mean_history = mean_net.fit(x, y, steps=5, lr=1e-3 * 20, reduction="mean")
    np.testing.assert_allclose(mean_history * 20, sum_history, rtol=1e-12)


def test_rust_training_does_not_depend_on_thread_count(restore_threads: None) -> None:
    x, y = tutorial_data()
    histories = []
    for threads in (1, 2):
        nr.set_num_threads(threads)
        net = nr.TwoLayerNet(1000, 100, 1, seed=NET_SEED)
        histories.append(net.fit(x, y, steps=20, lr=TUTORIAL_LR))
    np.testing.assert_array_equal(histories[0], histories[1])


def test_progress_bar_does_not_change_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = tutorial_data(64, 40, 1)
    quiet = nr.TwoLayerNet(40, 10, 1, seed=3).fit(x, y, steps=300, lr=1e-4)
    shown = nr.TwoLayerNet(40, 10, 1, seed=3).fit(x, y, steps=300, lr=1e-4, progress=True)
    np.testing.assert_array_equal(quiet, shown)
    assert "300/300" in capsys.readouterr().err  # the bar is drawn on stderr


# --- float32 -----------------------------------------------------------------------------------


def test_float32_net_trains_in_float32_end_to_end() -> None:
    x, y = tutorial_data()
    net = nr.TwoLayerNet(1000, 100, 1, dtype="float32", seed=NET_SEED)
    history = net.fit(x, y, steps=500, lr=TUTORIAL_LR)  # float64 data is cast to the net's dtype
    assert history.dtype == np.float32
    assert all(value.dtype == np.float32 for value in net.parameters().values())
    assert net(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradients(x, y).values())
    assert net.loss(x, y) <= history[0] / 10_000


def test_float32_loss_curve_follows_float64_loosely() -> None:
    x, y = tutorial_data()
    curves = [
        nr.TwoLayerNet(1000, 100, 1, dtype=dtype, seed=NET_SEED).fit(x, y, steps=20, lr=TUTORIAL_LR)
        for dtype in ("float32", "float64")
    ]
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-3)


def test_float32_kernels_run_natively_in_the_binding() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w1 = rng.standard_normal((3, 5)).astype(np.float32)
    w2 = rng.standard_normal((5, 1)).astype(np.float32)
    predictions = _core.mlp_forward(x, w1, None, w2, None, "relu")
    assert predictions.dtype == np.float32
    np.testing.assert_allclose(predictions, np.maximum(x @ w1, 0) @ w2, rtol=1e-5)


# --- saving and loading ------------------------------------------------------------------------


def test_save_then_load_round_trips_configuration_and_parameters(tmp_path: Path) -> None:
    x, y = tutorial_data(16, 6, 2)
    net = nr.TwoLayerNet(6, 5, 2, activation="sigmoid", bias=True, dtype="float32", seed=4)
    net.fit(x, y, steps=10, lr=1e-2)
    net.save(tmp_path / "net.npz")
    loaded = nr.TwoLayerNet.load(tmp_path / "net.npz", backend="numpy")
    assert repr(loaded) == repr(net).replace("'rust'", "'numpy'")
    for name, value in net.parameters().items():
        assert loaded.parameters()[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded.parameters()[name], value)
    np.testing.assert_array_equal(nr.TwoLayerNet.load(tmp_path / "net.npz")(x), net(x))
    np.testing.assert_allclose(loaded(x), net(x), rtol=1e-5, atol=1e-5)


def test_loading_a_file_that_is_not_a_saved_net_raises_value_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", w1=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not a saved TwoLayerNet"):
        nr.TwoLayerNet.load(tmp_path / "other.npz")


def test_load_parameters_checks_names_shapes_and_dtypes() -> None:
    net = nr.TwoLayerNet(3, 4, 1, bias=True, seed=0)
    good = net.parameters()
    with pytest.raises(ValueError, match=r"missing \['b2'\]"):
        net.load_parameters({k: v for k, v in good.items() if k != "b2"})
    with pytest.raises(ValueError, match=r"unexpected \['w3'\]"):
        net.load_parameters({**good, "w3": good["w1"]})
    with pytest.raises(ValueError, match=r"'w1'.*shape \(4, 3\).*\(3, 4\)"):
        net.load_parameters({**good, "w1": good["w1"].T})
    with pytest.raises(TypeError, match=r"'w2'.*float32.*float64"):
        net.load_parameters({**good, "w2": good["w2"].astype(np.float32)})
    np.testing.assert_array_equal(net.parameters()["w1"], good["w1"])  # untouched


def test_parameters_returns_copies() -> None:
    net = nr.TwoLayerNet(3, 4, 1, seed=0)
    net.parameters()["w1"][:] = 0
    assert net.parameters()["w1"].any()


# --- the NaN guard -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rust", "numpy", "torch"])
def test_non_finite_loss_raises_naming_the_step_and_keeps_previous_parameters(name: str) -> None:
    backend = backend_or_skip(name)
    x, y = tutorial_data(32, 100, 1)
    net = nr.TwoLayerNet(100, 20, 1, seed=6, backend=backend)
    with pytest.raises(FloatingPointError, match=r"at step (\d+).*smaller learning rate") as info:
        net.fit(x, y, steps=1000, lr=1.0)
    bad_step = int(info.value.args[0].split("at step ")[1].split()[0])
    assert bad_step > 0
    assert len(net.history_) == bad_step
    assert np.all(np.isfinite(net.history_))
    # The net keeps the lower-loss of its starting and last finite parameters (after
    # bad_step - 1 steps): here the starting ones (see test_divergence.py).
    replay = nr.TwoLayerNet(100, 20, 1, seed=6, backend=backend)
    for key, value in replay.parameters().items():
        np.testing.assert_array_equal(net.parameters()[key], value)


# --- Ctrl-C ------------------------------------------------------------------------------------

_INTERRUPTED_FIT = textwrap.dedent(
    """
    import json, sys, numpy as np, neurust as nr
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((128, 1000)), rng.standard_normal((128, 1))
    net = nr.TwoLayerNet(1000, 100, 1, seed=1004)
    print("fitting", flush=True)
    try:
        net.fit(x, y, steps=10**8, lr=1e-6)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        done = len(net.history_)
        replay = nr.TwoLayerNet(1000, 100, 1, seed=1004)
        replay.fit(x, y, steps=done, lr=1e-6)
        same = all(
            np.array_equal(value, replay.parameters()[name])
            for name, value in net.parameters().items()
        )
        print(json.dumps({"steps_done": done, "same_as_replay": same}), flush=True)
        sys.exit(0)
    sys.exit(1)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_ctrl_c_stops_a_long_rust_fit_promptly_with_valid_parameters() -> None:
    with Child(_INTERRUPTED_FIT, interruptible=True, env={"NEURUST_NUM_THREADS": "2"}) as child:
        assert child.read_line(timeout=120, waiting_for='"fitting"') == "fitting"
        time.sleep(0.5)  # well inside the 10**8-step fit
        assert child.running(), f"the fit ended before the signal:\n{child.stderr}"
        sent = time.perf_counter()
        child.interrupt()
        line = child.read_line(timeout=60, waiting_for='"interrupted" after SIGINT')
        latency = time.perf_counter() - sent
        assert line == "interrupted", child.stderr
        result: dict[str, Any] = json.loads(child.read_line(timeout=120, waiting_for="the report"))
        assert child.wait(timeout=60) == 0, child.stderr
    # About 100 ms is the aim; the bound leaves room for a loaded 2-core machine.
    assert latency < 1.0, f"KeyboardInterrupt took {latency:.3f} s"
    assert result["steps_done"] > 0
    assert result["same_as_replay"]


def test_exception_from_progress_callback_stops_fit_with_history_attached() -> None:
    x, y = tutorial_data(16, 10, 1)
    w1, w2 = np.ones((10, 4)), np.full((4, 1), 0.1)

    def stop_at_ten(steps_done: int, loss: float) -> None:
        if steps_done >= 10:
            raise RuntimeError("stop")

    with pytest.raises(_core.FitStopped) as info:
        _core.mlp_fit(
            x, y, w1, None, w2, None, activation="relu", steps=1000, lr=1e-4,
            callback=stop_at_ten, callback_every=5,
        )  # fmt: skip
    assert info.value.reason == "callback"
    assert isinstance(info.value.cause, RuntimeError) and str(info.value.cause) == "stop"
    assert info.value.__cause__ is info.value.cause
    assert info.value.steps_done == 10
    assert info.value.history.shape == (10,)


# --- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def net() -> nr.TwoLayerNet:
    return nr.TwoLayerNet(4, 3, 2, seed=0)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.ones((5, 3)), np.ones((5, 2)), r"X has shape \(5, 3\).*input_dim 4"),
        (np.ones(4), np.ones((1, 2)), r"X has shape \(4,\).*\(samples, 4\)"),
        (np.ones((5, 4)), np.ones((6, 2)), r"Y has shape \(6, 2\).*5 rows.*\(5, 2\)"),
        (np.ones((5, 4)), np.ones((5, 1)), r"Y has shape \(5, 1\).*output_dim 2"),
    ],
)
def test_fit_rejects_data_of_the_wrong_shape(net: nr.TwoLayerNet, x, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        net.fit(x, y, steps=1, lr=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 0}, ValueError, "steps must be a positive integer, got 0"),
        ({"steps": -3}, ValueError, "got -3"),
        ({"steps": 2.5}, TypeError, "steps must be an int"),
        ({"lr": float("nan")}, ValueError, "lr must be a finite.*nan"),
        ({"lr": float("inf")}, ValueError, "lr must be a finite.*inf"),
        ({"lr": -1.0}, ValueError, "non-negative"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
        ({"reduction": "max"}, ValueError, "reduction must be one of"),
    ],
)
def test_fit_rejects_bad_arguments(net: nr.TwoLayerNet, kwargs, error, message: str) -> None:
    arguments = {"steps": 1, "lr": 1e-3, **kwargs}
    with pytest.raises(error, match=message):
        net.fit(np.ones((5, 4)), np.ones((5, 2)), **arguments)


def test_fit_rejects_non_numeric_data(net: nr.TwoLayerNet) -> None:
    with pytest.raises(TypeError, match="X has dtype <U1"):
        net.fit(np.array([["a"] * 4]), np.ones((1, 2)), steps=1, lr=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"input_dim": 0}, ValueError, "input_dim must be a positive integer"),
        ({"hidden_dim": 2.0}, TypeError, "hidden_dim must be an int"),
        ({"activation": "tanh"}, ValueError, "activation must be one of 'relu', 'sigmoid'"),
        ({"dtype": "int32"}, ValueError, "dtype must be one of"),
        ({"init": "xavier"}, ValueError, "init must be one of"),
        ({"backend": "fortran"}, ValueError, "unknown backend 'fortran'"),
        ({"backend": "python", "dtype": "float32"}, ValueError, "computes only float64"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, error, message: str) -> None:
    arguments = {"input_dim": 4, "hidden_dim": 3, "output_dim": 1, **kwargs}
    with pytest.raises(error, match=message):
        nr.TwoLayerNet(**arguments)


def test_one_dimensional_targets_are_accepted_for_a_single_output() -> None:
    x, y = tutorial_data(10, 4, 1)
    net = nr.TwoLayerNet(4, 3, 1, seed=0)
    assert net.loss(x, y.ravel()) == net.loss(x, y)


class TestBindingValidation:
    """``_core.mlp_*`` checks its own arguments: it is callable without the Python model."""

    x = np.ones((5, 4))
    y = np.ones((5, 2))

    @staticmethod
    def params(dtype: Any = np.float64) -> dict[str, np.ndarray]:
        return {"w1": np.ones((4, 3), dtype), "w2": np.ones((3, 2), dtype)}

    def fit(self, **overrides: Any) -> Any:
        p = self.params()
        args = {"x": self.x, "y": self.y, "w1": p["w1"], "b1": None, "w2": p["w2"], "b2": None}
        kwargs = {"activation": "relu", "steps": 1, "lr": 1e-3}
        for key, value in overrides.items():
            (args if key in args else kwargs)[key] = value
        return _core.mlp_fit(*args.values(), **kwargs)

    def test_mismatched_hidden_sizes_name_both_weights(self) -> None:
        with pytest.raises(ValueError, match=r"w2 has shape \(4, 2\), but w1 has shape \(4, 3\)"):
            self.fit(w2=np.ones((4, 2)))

    def test_wrong_x_columns_name_input_dim(self) -> None:
        with pytest.raises(ValueError, match=r"x has shape \(5, 3\).*input_dim 4"):
            self.fit(x=np.ones((5, 3)))

    def test_wrong_y_shape_names_the_needed_shape(self) -> None:
        with pytest.raises(ValueError, match=r"y needs shape \(5, 2\)"):
            self.fit(y=np.ones((5, 1)))

    def test_one_bias_without_the_other_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="both be given"):
            self.fit(b1=np.zeros(3))

    def test_parameters_of_mixed_dtypes_raise_type_error(self) -> None:
        with pytest.raises(TypeError, match="w2 has dtype float32, but w1 has dtype float64"):
            self.fit(w2=np.ones((3, 2), np.float32))

    def test_a_list_cannot_be_trained_in_place(self) -> None:
        with pytest.raises(TypeError, match=r"w1 must be a float32 or float64 numpy\.ndarray"):
            self.fit(w1=[[1.0] * 3] * 4)

    def test_read_only_parameters_are_rejected(self) -> None:
        w1 = np.ones((4, 3))
        w1.flags.writeable = False
        with pytest.raises(ValueError, match="w1 cannot be updated in place"):
            self.fit(w1=w1)

    def test_fortran_order_parameters_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="w1 must be C-contiguous"):
            self.fit(w1=np.asfortranarray(np.ones((4, 3))))

    def test_parameters_sharing_memory_with_x_are_rejected(self) -> None:
        shared = np.ones((4, 4))
        with pytest.raises(ValueError, match="w1 shares memory with x"):
            _core.mlp_fit(
                shared, np.ones((4, 4)), shared, None, np.ones((4, 4)), None,
                activation="relu", steps=1, lr=1e-3,
            )  # fmt: skip

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"steps": 0}, "steps must be a positive integer, got 0"),
            ({"lr": float("nan")}, "lr must be a finite, non-negative number, got NaN"),
            ({"batch_size": 0}, "batch_size must be a positive integer"),
            ({"activation": "step"}, "activation must be 'relu' or 'sigmoid'"),
            ({"reduction": "max"}, "reduction must be 'sum' or 'mean'"),
        ],
    )
    def test_bad_scalar_arguments_raise_value_error(self, overrides, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            self.fit(**overrides)

    def test_non_numeric_x_raises_type_error(self) -> None:
        with pytest.raises(TypeError, match="x has dtype <U1"):
            p = self.params()
            _core.mlp_forward(np.array([["a"] * 4]), p["w1"], None, p["w2"], None, "relu")
