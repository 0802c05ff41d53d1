"""Odd arguments to TwoLayerNet and the backends get a clear answer naming the argument.

Masked arrays, pickling and copying, boolean and integer options, values out of range.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurust as nr

X = np.arange(12.0).reshape(4, 3) / 10
Y = np.ones((4, 1))
GATE_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
AND = [0, 0, 0, 1]


def small_net(backend: nr.Backend | str = "numpy", **options: Any) -> nr.TwoLayerNet:
    return nr.TwoLayerNet(3, 4, 1, seed=0, backend=backend, **options)


def masked(array: Any) -> np.ma.MaskedArray:
    array = np.asarray(array)
    return np.ma.array(array, mask=np.zeros(array.shape, dtype=bool))


# --- masked arrays ---------------------------------------------------------------------------

NET_CALLS: dict[str, Callable[[nr.TwoLayerNet, Any], Any]] = {
    "X of __call__": lambda net, m: net(m(X)),
    "X of loss": lambda net, m: net.loss(m(X), Y),
    "Y of loss": lambda net, m: net.loss(X, m(Y)),
    "X of gradients": lambda net, m: net.gradients(m(X), Y),
    "X of fit": lambda net, m: net.fit(m(X), Y, steps=1, lr=1e-3),
    "Y of fit": lambda net, m: net.fit(X, m(Y), steps=1, lr=1e-3),
    "params of load_parameters": lambda net, m: net.load_parameters(
        {name: m(value) for name, value in net.parameters().items()}
    ),
    "grads of step": lambda net, m: net.step(
        {name: m(value) for name, value in net.gradients(X, Y).items()}, lr=1e-3
    ),
}


@pytest.mark.parametrize("call", list(NET_CALLS))
def test_twolayernet_refuses_masked_arrays_naming_the_argument(
    call: str, backend: nr.Backend
) -> None:
    if "float64" not in backend.dtypes:
        pytest.skip("float64 only")
    net = small_net(backend)
    name = call.split(" of ")[0]
    with pytest.raises(TypeError, match=rf"{name}\b.*masked array"):
        NET_CALLS[call](net, masked)


def test_every_backend_from_numpy_refuses_masked_arrays(backend: nr.Backend) -> None:
    with pytest.raises(TypeError, match="masked array"):
        backend.from_numpy(np.ma.array([1.0, 1e9], mask=[False, True]))


# --- pickling and copying --------------------------------------------------------------------


def test_a_fitted_net_pickles_on_every_backend(backend: nr.Backend) -> None:
    if "float64" not in backend.dtypes:
        pytest.skip("float64 only")
    net = small_net(backend)
    net.fit(X, Y, steps=3, lr=1e-3)
    restored = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(restored(X), net(X))
    restored.fit(X, Y, steps=3, lr=1e-3)  # the restored backend compiles again


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
def test_a_copy_trains_without_changing_the_original_on_every_backend(
    backend: nr.Backend, copier: Callable[[Any], Any]
) -> None:
    if "float64" not in backend.dtypes:
        pytest.skip("float64 only")
    net = small_net(backend)
    net.fit(X, Y, steps=2, lr=1e-3)
    before, history = net.parameters(), net.history_.copy()
    clone = copier(net)
    clone.step(clone.gradients(X, Y), lr=1e-2)  # in place, on the copy's arrays
    clone.fit(X, Y, steps=3, lr=1e-2)
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(net.history_, history)
    assert not np.array_equal(clone.parameters()["w1"], before["w1"])


# --- boolean and integer options -------------------------------------------------------------


@pytest.mark.parametrize("value", ["no", 1, 0.0, None])
def test_bias_accepts_only_bools(value: Any) -> None:
    with pytest.raises(TypeError, match="bias"):
        small_net(bias=value)


@pytest.mark.parametrize("value", [True, np.bool_(True), False, np.False_])
def test_bias_accepts_bools_and_numpy_bools(value: Any) -> None:
    assert small_net(bias=value).bias is bool(value)


@pytest.mark.parametrize("value", ["no", 1, None])
def test_fit_progress_accepts_only_bools(value: Any) -> None:
    with pytest.raises(TypeError, match="progress"):
        small_net().fit(X, Y, steps=1, lr=1e-3, progress=value)


TIMEDELTA = np.timedelta64(3)
INTEGER_OPTIONS: dict[str, Callable[[], Any]] = {
    "input_dim": lambda: nr.TwoLayerNet(TIMEDELTA, 4, 1),
    "hidden_dim": lambda: nr.TwoLayerNet(3, TIMEDELTA, 1),
    "output_dim": lambda: nr.TwoLayerNet(3, 4, TIMEDELTA),
    "seed": lambda: nr.TwoLayerNet(3, 4, 1, seed=TIMEDELTA),
    "steps": lambda: small_net().fit(X, Y, steps=TIMEDELTA, lr=1e-3),
    "batch_size": lambda: small_net().fit(X, Y, steps=1, lr=1e-3, batch_size=TIMEDELTA),
    "lr": lambda: small_net().fit(X, Y, steps=1, lr=TIMEDELTA),
    "n_inputs": lambda: nr.Perceptron(TIMEDELTA),
    "max_epochs": lambda: nr.Perceptron(2).fit(GATE_X, AND, max_epochs=TIMEDELTA),
}


@pytest.mark.parametrize("option", list(INTEGER_OPTIONS))
def test_numeric_options_refuse_timedelta64(option: str) -> None:
    with pytest.raises(TypeError, match=option):
        INTEGER_OPTIONS[option]()


# --- errors that name the argument -----------------------------------------------------------


def test_lr_beyond_float_range_is_a_value_error_naming_lr() -> None:
    with pytest.raises(ValueError, match=r"lr must be .* got 1e\+400"):
        small_net().fit(X, Y, steps=1, lr=10**400)
    with pytest.raises(ValueError, match="lr"):
        small_net().step(small_net().gradients(X, Y), lr=-(10**400))
    with pytest.raises(ValueError, match="lr"):
        nr.Perceptron(2, lr=10**400)


def test_a_tensor_that_requires_grad_is_a_type_error_naming_the_argument() -> None:
    torch = pytest.importorskip("torch")
    tensor = torch.ones((4, 3), dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match=r"^X .*requires grad"):
        small_net()(tensor)
    with pytest.raises(TypeError, match=r"^X .*requires grad"):
        small_net().fit(tensor, Y, steps=1, lr=1e-3)
    with pytest.raises(TypeError, match=r"^x .*requires grad"):
        nr.relu(tensor)
    with pytest.raises(TypeError, match=r"^weights .*requires grad"):
        nr.weighted_sum(X, torch.ones(3, requires_grad=True))
    net = small_net()
    params = {name: torch.tensor(v, requires_grad=True) for name, v in net.parameters().items()}
    with pytest.raises(TypeError, match=r"params\['w1'\].*requires grad"):
        net.load_parameters(params)


def test_relu_of_an_int_beyond_64_bits_names_x() -> None:
    for value in (2**100, [2**100, 1], -(2**70)):
        with pytest.raises(TypeError, match=r"^x holds integers too large"):
            nr.relu(value)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_load_parameters_converts_big_endian_arrays(dtype: str) -> None:
    net = nr.TwoLayerNet(3, 4, 1, bias=True, dtype=dtype, seed=1)
    native = nr.TwoLayerNet(3, 4, 1, bias=True, dtype=dtype, seed=2).parameters()
    swapped = {name: value.astype(value.dtype.newbyteorder(">")) for name, value in native.items()}
    net.load_parameters(swapped)
    for name, value in net.parameters().items():
        assert value.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(value, native[name])


def test_load_parameters_still_refuses_another_dtype_in_either_byte_order() -> None:
    net = nr.TwoLayerNet(3, 4, 1, seed=1)
    params = {name: v.astype(">f4") for name, v in net.parameters().items()}
    with pytest.raises(TypeError, match="has dtype >f4, but the net is float64"):
        net.load_parameters(params)


def test_copies_of_a_net_share_the_backend_object(backend: nr.Backend) -> None:
    if "float64" not in backend.dtypes:
        pytest.skip("float64 only")
    net = small_net(backend)
    assert copy.copy(net).backend is net.backend
    assert copy.deepcopy(net).backend is net.backend


@pytest.mark.parametrize("option", ["steps", "batch_size", "callback_every"])
@pytest.mark.parametrize("value", [TIMEDELTA, 2.0, 0])
def test_every_backend_mlp_fit_checks_its_counts(
    backend: nr.Backend, option: str, value: Any
) -> None:
    if "float64" not in backend.dtypes:
        pytest.skip("float64 only")
    params = {name: backend.from_numpy(v) for name, v in small_net().parameters().items()}
    counts: dict[str, Any] = {"steps": 2, "batch_size": 2, "callback_every": 1, option: value}
    with pytest.raises(TypeError if value != 0 else ValueError, match=option):
        backend.mlp_fit(
            backend.from_numpy(X),
            backend.from_numpy(Y),
            params,
            activation="relu",
            lr=1e-3,
            callback=lambda done, loss: None,
            **counts,
        )
