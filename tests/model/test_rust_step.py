"""The Rust backend's step and its reuse of result arrays nothing refers to any more."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import neurust as nr
from neurust import _core
from neurust.backends import get_backend


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lr", [0.1, 1e-3, 1 / 3])
def test_step_has_the_bits_of_numpy(dtype: type, lr: float) -> None:
    rng = np.random.default_rng(0)
    value, grad = rng.normal(size=(40, 7)).astype(dtype), rng.normal(size=(40, 7)).astype(dtype)
    want = value - lr * grad
    got = _core.mlp_step(value, grad, lr)
    assert got.dtype == want.dtype
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


def test_step_leaves_its_inputs_alone_and_promotes_like_numpy() -> None:
    value, grad = np.ones(3, np.float32), np.full(3, 2.0)
    got = _core.mlp_step(value, grad, 0.5)
    assert got.dtype == np.float64
    assert value.tolist() == [1.0] * 3 and grad.tolist() == [2.0] * 3
    assert _core.mlp_step([1.0, 2.0], [10.0, -10.0], 0.5).tolist() == [-4.0, 7.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_into_out_has_the_bits_of_numpy_in_place_or_not(dtype: type) -> None:
    rng = np.random.default_rng(4)
    value, grad = rng.normal(size=(33, 5)).astype(dtype), rng.normal(size=(33, 5)).astype(dtype)
    want = value - 0.1 * grad
    into = np.empty_like(value)
    assert _core.mlp_step(value, grad, 0.1, out=into) is into
    assert into.tobytes() == want.tobytes()
    in_place = value.copy()
    assert _core.mlp_step(in_place, grad, 0.1, out=in_place) is in_place
    assert in_place.tobytes() == want.tobytes()
    over_grad = grad.copy()  # the result overwrites the gradient it reads
    _core.mlp_step(value, over_grad, 0.1, out=over_grad)
    assert over_grad.tobytes() == want.tobytes()
    shifted = np.concatenate([value.ravel(), [0.0]]).astype(dtype)  # out overlaps value, offset
    _core.mlp_step(shifted[:-1], grad.ravel(), 0.1, out=shifted[1:])
    assert shifted[1:].tobytes() == want.ravel().tobytes()


def test_step_into_out_casts_as_numpy_does_and_names_bad_outs() -> None:
    value, grad = np.ones(4, np.float32), np.full(4, 2.0)  # the result is float64
    out = np.zeros(4, np.float32)
    _core.mlp_step(value, grad, 0.25, out=out)
    assert out.tolist() == [0.5] * 4
    with pytest.raises(ValueError, match="same_kind"):
        _core.mlp_step(value, grad, 0.25, out=np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="out"):
        _core.mlp_step(value, grad, 0.25, out=[0.0] * 4)
    with pytest.raises(ValueError, match="out"):
        _core.mlp_step(value, grad, 0.25, out=np.zeros(5))


def test_step_names_a_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"grad has shape \(3, 7\), but value has shape \(4, 7\)"):
        _core.mlp_step(np.ones((4, 7)), np.ones((3, 7)), 0.1)


def test_a_result_still_referenced_is_never_reused() -> None:
    value, grad = np.ones((5, 5)), np.ones((5, 5))
    first = _core.mlp_step(value, grad, 0.1)
    view = _core.mlp_step(value, grad, 0.2)[1:]  # only a view keeps this result
    held = _core.mlp_step(value, grad, 0.3)
    gc.collect()
    results = [_core.mlp_step(value, grad, 0.5) for _ in range(40)]
    assert all(r is not first and r is not held for r in results)
    assert not any(np.shares_memory(r, view) for r in results)
    assert np.all(first == 0.9) and np.all(view == 0.8) and np.all(held == 0.7)


def test_a_result_with_a_weak_reference_is_never_reused() -> None:
    value, grad = np.ones(4), np.ones(4)
    watchers = []
    for _ in range(40):
        result = _core.mlp_step(value, grad, 0.25)
        watchers.append(weakref.ref(result))
        del result
    later = [_core.mlp_step(value, grad, 0.5) for _ in range(40)]
    alive = [watcher() for watcher in watchers if watcher() is not None]
    assert all(np.all(old == 0.75) for old in alive)
    assert not any(old is new for old in alive for new in later)


def test_a_loop_of_gradients_and_steps_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 30)), rng.normal(size=(64, 1))
    start = {"w1": rng.normal(size=(30, 10)), "w2": rng.normal(size=(10, 1))}
    params = {name: {k: v.copy() for k, v in start.items()} for name in ("rust", "numpy")}
    kept = []
    for _ in range(6):
        for name, backend in (("rust", get_backend("rust")), ("numpy", get_backend("numpy"))):
            _, grads = backend.mlp_gradients(x, y, params[name], "relu", "sum")
            params[name] = backend.mlp_step(params[name], grads, 1e-3)
        kept.append({k: v.copy() for k, v in params["rust"].items()})
        for k in params["rust"]:
            np.testing.assert_allclose(params["rust"][k], params["numpy"][k], rtol=1e-10)
    # Results handed out earlier keep their values while referenced.
    assert all(np.array_equal(kept[-1][k], params["rust"][k]) for k in kept[-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_the_fused_train_step_has_the_bits_of_gradients_then_step(
    dtype: type, activation: str, bias: bool, reduction: str
) -> None:
    rust = get_backend("rust")
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(33, 9)).astype(dtype), rng.normal(size=(33, 2)).astype(dtype)
    params = {"w1": rng.normal(size=(9, 6)), "w2": rng.normal(size=(6, 2))}
    if bias:
        params.update(b1=rng.normal(size=6), b2=rng.normal(size=2))
    params = {name: value.astype(dtype) for name, value in params.items()}
    before = {name: value.copy() for name, value in params.items()}
    loss, grads = rust.mlp_gradients(x, y, params, activation, reduction)
    want = rust.mlp_step(params, grads, 0.01)
    got_loss, got = rust.mlp_train_step(x, y, params, activation, reduction, 0.01)
    assert np.asarray(got_loss).tobytes() == np.asarray(loss).tobytes()
    assert got.keys() == want.keys()
    for name, value in want.items():
        assert got[name].dtype == value.dtype and got[name].tobytes() == value.tobytes(), name
        assert np.array_equal(params[name], before[name])  # the inputs are left alone


def test_the_fused_train_step_checks_its_arguments_as_gradients_does() -> None:
    w1, w2 = np.ones((3, 2)), np.ones((2, 1))
    with pytest.raises(ValueError, match="activation must be 'relu' or 'sigmoid'"):
        _core.mlp_train_step(
            np.ones((4, 3)), np.ones((4, 1)), w1, None, w2, None, "tanh", "sum", 0.1
        )
    with pytest.raises(ValueError, match="reduction must be 'sum' or 'mean'"):
        _core.mlp_train_step(
            np.ones((4, 3)), np.ones((4, 1)), w1, None, w2, None, "relu", "max", 0.1
        )
    with pytest.raises(ValueError) as step_error:
        _core.mlp_train_step(
            np.ones((4, 5)), np.ones((4, 1)), w1, None, w2, None, "relu", "sum", 0.1
        )
    with pytest.raises(ValueError) as gradients_error:
        _core.mlp_gradients(np.ones((4, 5)), np.ones((4, 1)), w1, None, w2, None, "relu", "sum")
    assert str(step_error.value) == str(gradients_error.value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_a_kept_workspace_carries_nothing_over(dtype: type, activation: str) -> None:
    # The binding keeps each dtype's last workspace for the next call of the
    # same net; a larger batch before a smaller one leaves its values (here
    # NaN) in the buffers' tails, and another net must not reuse it at all.
    rng = np.random.default_rng(2)

    def arrays(rows: int, inputs: int, fill: float | None = None) -> tuple:
        x = rng.normal(size=(rows, inputs)).astype(dtype)
        y = rng.normal(size=(rows, 1)).astype(dtype)
        if fill is not None:
            x[:] = fill
        return x, y

    def params(inputs: int, hidden: int) -> dict[str, np.ndarray]:
        return {
            "w1": rng.normal(size=(inputs, hidden)).astype(dtype),
            "b1": rng.normal(size=hidden).astype(dtype),
            "w2": rng.normal(size=(hidden, 1)).astype(dtype),
            "b2": rng.normal(size=1).astype(dtype),
        }

    x, y = arrays(16, 7)
    p = params(7, 5)
    first = _core.mlp_gradients(x, y, *p.values(), activation, "sum")
    first_forward = _core.mlp_forward(x, *p.values(), activation)
    _core.mlp_gradients(*arrays(64, 7, fill=np.nan), *p.values(), activation, "sum")
    _core.mlp_gradients(*arrays(3, 9), *params(9, 5).values(), activation, "mean")
    _core.mlp_forward(arrays(64, 7, fill=np.inf)[0], *p.values(), activation)
    again = _core.mlp_gradients(x, y, *p.values(), activation, "sum")
    for old, new in zip(first, again, strict=True):
        assert np.asarray(old).tobytes() == np.asarray(new).tobytes()
    assert _core.mlp_forward(x, *p.values(), activation).tobytes() == first_forward.tobytes()


def test_a_product_cut_into_self_scheduled_panels_has_the_same_bits(
    restore_threads: None,
) -> None:
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=(2100, 300)), rng.normal(size=(300, 257))
    results = []
    for threads in (1, 2, 3):
        nr.set_num_threads(threads)
        results.append(nr.linear(x, w))
    for result in results[1:]:
        assert np.array_equal(result.view(np.uint8), results[0].view(np.uint8))
