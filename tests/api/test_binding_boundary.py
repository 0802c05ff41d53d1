"""The compiled module's boundary: it never calls back into the Python package, a stopped fit
comes back as ``_core.FitStopped`` carrying its state, and each net holds its own native state
(``_core.TwoLayer``) instead of process-wide caches.
"""

from __future__ import annotations

import copy
import pickle
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import neurust as nr
from neurust import _core
from support.children import run_python

ROOT = Path(__file__).resolve().parents[2]
BINDINGS = ROOT / "rust" / "bindings"

# --- no calls back into the package ---------------------------------------------------------


def test_no_binding_source_imports_a_neurust_module() -> None:
    sources = sorted(BINDINGS.rglob("*.rs"))
    assert sources, f"no binding sources under {BINDINGS}"
    # Any module path of the package but the compiled module's own name.
    package_module = re.compile(r'"neurust\.(?!_core")')
    offenders = [
        str(path.relative_to(ROOT)) for path in sources if package_module.search(path.read_text())
    ]
    assert offenders == []


_BLOCKED_CHILD = """
import sys
import numpy as np
import neurust as nr
from neurust import _core

# From here on, importing any of the package's Python modules fails.
for name in [m for m in sys.modules if m.startswith("neurust.") and m != "neurust._core"]:
    sys.modules[name] = None

def expect(error, call):
    try:
        call()
    except error as caught:
        return str(caught)
    raise AssertionError(f"{call} did not raise {error.__name__}")

assert _core.relu([1, -2]).tolist() == [1.0, 0.0]
expect(TypeError, lambda: _core.relu(np.ma.array([1.0])))
expect(TypeError, lambda: _core.relu(np.array(["a"])))
rng = np.random.default_rng(0)
x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 1))
w1, w2 = rng.standard_normal((5, 4)), rng.standard_normal((4, 1))
expect(TypeError, lambda: _core.mlp_fit(x, y, w1, None, w2, None, activation="relu",
                                        steps=2.0, lr=0.1))
expect(ValueError, lambda: _core.mlp_fit(x, y, w1, None, w2, None, activation="relu",
                                         steps=0, lr=0.1))
expect(_core.FitStopped, lambda: _core.mlp_fit(
    x, y, w1.copy(), None, w2.copy(), None, activation="relu", steps=50, lr=1e30))
def stop(done, loss):
    raise KeyError("stop")
expect(_core.FitStopped, lambda: _core.mlp_fit(
    x, y, w1, None, w2, None, activation="relu", steps=5, lr=1e-6, callback=stop))
print("ok")
"""


def test_the_compiled_module_works_with_the_package_modules_unimportable() -> None:
    child = run_python(_BLOCKED_CHILD, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "ok"


# --- FitStopped -----------------------------------------------------------------------------


def _diverging() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 1))
    return x, y, rng.standard_normal((5, 4)), rng.standard_normal((4, 1))


def test_a_non_finite_loss_raises_fit_stopped_with_its_state() -> None:
    x, y, w1, w2 = _diverging()
    with pytest.raises(_core.FitStopped) as info:
        _core.mlp_fit(x, y, w1, None, w2, None, activation="relu", steps=50, lr=1e30)
    stopped = info.value
    assert stopped.reason == "non-finite"
    assert stopped.cause is None
    assert stopped.lr == 1e30
    assert stopped.loss is not None and not np.isfinite(stopped.loss)
    assert stopped.steps_done == len(stopped.history) > 0
    assert np.isfinite(stopped.history).all()
    # The arrays trained in place, as the caller passed them.
    assert stopped.params["w1"] is w1 and stopped.params["w2"] is w2
    assert isinstance(stopped, BaseException) and not isinstance(stopped, Exception)


def test_the_rust_backend_turns_fit_stopped_into_the_one_non_finite_message() -> None:
    from neurust.backends._mlp import non_finite_message

    x, y, w1, w2 = _diverging()
    with pytest.raises(_core.FitStopped) as raw:
        _core.mlp_fit(x, y, w1.copy(), None, w2.copy(), None, activation="relu", steps=50, lr=1e30)
    with pytest.raises(FloatingPointError) as info:
        nr.get_backend("rust").mlp_fit(
            x, y, {"w1": w1, "w2": w2}, activation="relu", steps=50, lr=1e30
        )
    stopped, error = raw.value, info.value
    assert str(error) == non_finite_message(stopped.loss, stopped.steps_done, 1e30)
    assert error.steps_done == stopped.steps_done  # type: ignore[attr-defined]
    np.testing.assert_array_equal(error.params["w1"], stopped.params["w1"])  # type: ignore[attr-defined]
    assert error.__context__ is None and error.__cause__ is None


def test_the_rust_backend_reraises_the_callbacks_own_exception() -> None:
    x, y, w1, w2 = _diverging()
    reason = KeyError("why")
    problem = LookupError("from the callback")

    def callback(done: int, loss: float) -> None:
        raise problem from reason

    with pytest.raises(LookupError) as info:
        nr.get_backend("rust").mlp_fit(
            x, y, {"w1": w1, "w2": w2}, activation="relu", steps=10, lr=1e-6,
            callback=callback, callback_every=2,
        )  # fmt: skip
    assert info.value is problem
    assert info.value.__cause__ is reason  # the callback's own chain, untouched
    assert info.value.steps_done == 2  # type: ignore[attr-defined]


# --- the net's native state -----------------------------------------------------------------


def test_two_layer_describes_its_net() -> None:
    core = _core.TwoLayer(3, 4, 2, "sigmoid", True)
    assert (core.input_dim, core.hidden_dim, core.output_dim) == (3, 4, 2)
    assert (core.activation, core.bias) == ("sigmoid", True)
    assert repr(core) == 'TwoLayer(3, 4, 2, "sigmoid", True)'


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((0, 4, 1, "relu", False), ValueError, "input_dim must be a positive integer, got 0"),
        ((3, 4.0, 1, "relu", False), TypeError, "hidden_dim must be an int, got float"),
        ((3, 4, 1, "step", False), ValueError, "activation must be 'relu' or 'sigmoid'"),
    ],
)
def test_two_layer_refuses_bad_shapes(args: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=f"^{message}"):
        _core.TwoLayer(*args)


def test_two_layer_refuses_parameters_of_another_net() -> None:
    core = _core.TwoLayer(3, 4, 1, "relu", False)
    with pytest.raises(ValueError, match=r"3x5x1 net without biases, but this TwoLayer is a 3x4x1"):
        core.forward(np.ones((2, 3)), np.ones((3, 5)), None, np.ones((5, 1)), None)


@pytest.mark.parametrize("missing", ["w1", "w2"])
def test_two_layer_of_parameters_refuses_what_mlp_forward_refuses(missing: str) -> None:
    params = {"w1": np.ones((3, 4)), "b1": None, "w2": np.ones((4, 1)), "b2": None}
    params[missing] = None
    with pytest.raises(TypeError) as free:
        _core.mlp_forward(np.ones((2, 3)), *params.values(), "relu")
    with pytest.raises(TypeError) as state:
        _core.TwoLayer.of_parameters(*params.values(), "relu")
    assert str(state.value) == str(free.value)
    assert missing in str(state.value)


def test_two_layer_gives_the_free_functions_bits() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    w1, b1, w2, b2 = (rng.standard_normal(s) for s in [(3, 4), (4,), (4, 2), (2,)])
    core = _core.TwoLayer(3, 4, 2, "relu", True)
    for _ in range(2):  # the second call runs on the kept workspace
        np.testing.assert_array_equal(
            core.forward(x, w1, b1, w2, b2), _core.mlp_forward(x, w1, b1, w2, b2, "relu")
        )
        ours = core.gradients(x, y, w1, b1, w2, b2, "mean")
        free = _core.mlp_gradients(x, y, w1, b1, w2, b2, "relu", "mean")
        for a, b in zip(ours, free, strict=True):
            np.testing.assert_array_equal(a, b)


def test_each_net_holds_its_own_state() -> None:
    x, y = np.ones((5, 3)), np.ones((5, 1))
    first, second = nr.TwoLayerNet(3, 4, 1, seed=0), nr.TwoLayerNet(3, 4, 1, seed=1)
    for net in (first, second):
        net.gradients(x, y)
    assert isinstance(first._native_state, _core.TwoLayer)
    assert first._native_state is not second._native_state
    state = first._native_state
    first.step(first.gradients(x, y), lr=1e-3)
    first.loss(x, y)
    assert first._native_state is state  # kept across parameter updates
    assert copy.copy(first)._native_state is None  # a copy makes its own
    again = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(again.loss(x, y), first.loss(x, y))


def test_no_process_wide_workspace_in_the_bindings() -> None:
    text = "\n".join(path.read_text() for path in BINDINGS.rglob("*.rs"))
    for name in ("KEPT_F64", "KEPT_F32", "SPARE"):
        assert name not in text


def test_two_threads_train_two_nets_as_each_would_alone() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((64, 30)), rng.standard_normal((64, 1))

    def train(net: nr.TwoLayerNet) -> None:
        for _ in range(40):
            net.step(net.gradients(x, y), lr=1e-4)

    alone = [nr.TwoLayerNet(30, 20, 1, seed=s) for s in (0, 1)]
    for net in alone:
        train(net)
    together = [nr.TwoLayerNet(30, 20, 1, seed=s) for s in (0, 1)]
    threads = [threading.Thread(target=train, args=(net,)) for net in together]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    for a, b in zip(alone, together, strict=True):
        for name, value in a.parameters().items():
            np.testing.assert_array_equal(value, b.parameters()[name])


def test_the_stepped_parameters_carry_the_state_to_the_next_step() -> None:
    backend = nr.get_backend("rust")
    x, y = np.ones((5, 3)), np.ones((5, 1))
    params = {"w1": np.ones((3, 4)), "w2": np.ones((4, 1))}
    _, stepped = backend.mlp_train_step(x, y, params, "relu", "sum", 1e-3)
    state = stepped.state  # type: ignore[attr-defined]
    _, grads = backend.mlp_gradients(x, y, stepped, "relu", "sum")
    again = backend.mlp_step(stepped, grads, 1e-3)
    assert again.state is state  # type: ignore[attr-defined]


def test_a_backend_loop_of_gradients_and_steps_keeps_one_state() -> None:
    backend = nr.get_backend("rust")
    x, y = np.ones((5, 3)), np.ones((5, 1))
    params: dict = {"w1": np.ones((3, 4)), "w2": np.ones((4, 1))}
    _, grads = backend.mlp_gradients(x, y, params, "relu", "sum")
    params = backend.mlp_step(params, grads, 1e-3)
    state = params.state  # type: ignore[attr-defined]
    for _ in range(3):
        _, grads = backend.mlp_gradients(x, y, params, "relu", "sum")
        params = backend.mlp_step(params, grads, 1e-3)
        assert params.state is state  # type: ignore[attr-defined]


def test_parameters_carrying_a_state_copy_and_pickle_as_plain_dicts() -> None:
    backend = nr.get_backend("rust")
    params = {"w1": np.ones((3, 4)), "w2": np.ones((4, 1))}
    x, y = np.ones((2, 3)), np.ones((2, 1))
    _, stepped = backend.mlp_train_step(x, y, params, "relu", "sum", 0.1)
    for again in (pickle.loads(pickle.dumps(stepped)), copy.deepcopy(stepped), copy.copy(stepped)):
        assert type(again) is dict and again.keys() == stepped.keys()
        np.testing.assert_array_equal(again["w1"], stepped["w1"])


def test_a_stopped_fit_leaves_no_reference_to_the_data() -> None:
    x, y = np.zeros((1, 1)), np.full((1, 1), np.nan)
    net = nr.TwoLayerNet(1, 1, 1, seed=0)
    before = (sys.getrefcount(x), sys.getrefcount(y))
    try:
        net.fit(x, y, steps=1, lr=0.0)
    except FloatingPointError:
        pass
    else:
        pytest.fail("a NaN target did not stop the fit")
    # No cycle through the raising frames holds them until a garbage collection.
    assert (sys.getrefcount(x), sys.getrefcount(y)) == before
