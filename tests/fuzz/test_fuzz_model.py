"""Fuzzing TwoLayerNet: its constructor and each of its methods, against a numpy twin.

Each batch runs in a child interpreter (see tests/support/fuzzing.py); which arguments are
valid comes from the tables in tests/support/fuzz_rules.py, the right answers from a net with
the same weights on the numpy backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import neurust as nr
from support.fuzz_rules import (
    CHOICES,
    any_of,
    choice_error,
    computed_as,
    first,
    result_shape,
    scalar_error,
    seed_error,
)
from support.fuzzing import (
    COUNTS,
    FLOATS,
    Batch,
    Checker,
    Expected,
    allocation,
    arrays,
    assert_same_bits,
    check_call,
    child_main,
    fuzz_in_child,
    laid_out,
    mostly,
    python_objects,
)

# --- the constructor -------------------------------------------------------------------------


@st.composite
def constructor_arguments(draw: st.DrawFn) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Sizes, activation, bias, dtype, seed, init and backend: mostly valid, some not."""
    sizes = tuple(
        draw(mostly(st.integers(1, 4), st.integers(-2, 0) | python_objects)) for _ in "abc"
    )
    keywords = {
        "activation": draw(mostly(st.sampled_from(CHOICES["activation"]), python_objects)),
        "bias": draw(st.booleans()),
        "dtype": draw(
            mostly(st.sampled_from([*CHOICES["dtype"], np.float32, np.dtype("f8")]), python_objects)
        ),
        "seed": draw(mostly(st.integers(0, 2**40), st.integers(-5, -1) | python_objects)),
        "init": draw(mostly(st.sampled_from(CHOICES["init"]), python_objects)),
        "backend": draw(mostly(st.just("rust"), python_objects)),
    }
    return sizes, keywords


def expect_constructor(sizes: tuple[Any, ...], keywords: dict[str, Any]) -> Checker:
    names = ("input_dim", "hidden_dim", "output_dim")
    errors = [scalar_error(size, name) for size, name in zip(sizes, names, strict=True)]
    errors += [choice_error(keywords[name], name) for name in ("activation", "dtype", "init")]
    if keywords["backend"] != "rust" or not isinstance(keywords["backend"], str):
        errors.append(Expected((ValueError, TypeError), ["backend"]))  # only rust is drawn
    errors.append(seed_error(keywords["seed"]))
    any_of(errors)  # any one of them may be reported first

    def check(net: Any) -> None:
        assert (net.input_dim, net.hidden_dim, net.output_dim) == tuple(map(int, sizes))
        if keywords["seed"] is not None:  # the same seed gives the numpy backend's weights
            twin = nr.TwoLayerNet(*sizes, **{**keywords, "backend": "numpy"})
            for name, value in twin.parameters().items():
                assert_same_bits(net.parameters()[name], value)

    return check


def fuzz_constructor(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    sizes, keywords = data.draw(constructor_arguments())
    oracle = lambda: expect_constructor(sizes, keywords)  # noqa: E731
    if all(scalar_error(size, "input_dim") is None for size in sizes):
        first, hidden, last = (int(size) for size in sizes)
        weights = allocation(first * hidden + hidden * last)
        if weights == "skip":
            return
        if weights == "impossible":  # a MemoryError (or numpy's "too big" ValueError)

            def oracle() -> Checker:
                expect_constructor(sizes, keywords)  # other invalid arguments may come first
                raise Expected((MemoryError, ValueError), ["input_dim", "hidden_dim"], named=False)

    check_call(nr.TwoLayerNet, sizes, keywords, oracle)


# --- the methods -----------------------------------------------------------------------------


ORDINARY = st.floats(-4, 4, width=16).map(float)  # exact in float32, sums of few stay exact-ish


@st.composite
def model_data(draw: st.DrawFn, shape: tuple[int, ...], wild: bool) -> Any:
    """Data for a net: ordinary numbers in any float/int layout, or anything at all."""
    if wild:  # anything: the arrays of the kernels' fuzzing, or any Python object
        return draw(
            st.sampled_from([True, True, False]).flatmap(
                lambda array: arrays(shape) if array else python_objects
            )
        )
    dtype = draw(st.sampled_from([*FLOATS, np.dtype(np.int64)]))
    values = draw(hnp.arrays(np.float64, shape, elements=ORDINARY)).astype(dtype)
    layout = draw(st.sampled_from(["C", "C", "F", "reversed", "strided", "read-only"]))
    data = laid_out(values, layout, draw(st.integers(0, 3)))
    return data.tolist() if draw(st.integers(0, 9)) == 0 else data


def net_sizes(net: Any) -> dict[str, int]:
    return {"i": net.input_dim, "o": net.output_dim}


def check_data(net: Any, X: Any, Y: Any) -> None:
    """Raises the error that X and Y must give as a net's training data, if any."""
    rows = result_shape("TwoLayerNet.inputs", {"X": computed_as(X, "X").shape}, net_sizes(net))
    y_shape = computed_as(Y, "Y").shape
    result_shape("TwoLayerNet.targets", {"Y": y_shape}, {**net_sizes(net), "n": rows[0]})


def close_to_twin(actual: Any, expected: Any, dtype: np.dtype, wild: bool) -> None:
    """The rust net's answer against the numpy-backend twin's, to the dtype's tolerance."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype == dtype or actual.shape == (), (actual, expected)
    finite = np.isfinite(expected) & np.isfinite(actual)
    if not wild:
        assert np.array_equal(np.isfinite(actual), np.isfinite(expected)), (actual, expected)
    if finite.any():
        scale = np.abs(expected[finite]).max() + 1.0
        tolerance = (1e-9 if dtype == np.float64 else 2e-3) * scale
        assert np.all(np.abs(actual[finite] - expected[finite]) <= tolerance), (actual, expected)


@st.composite
def nets(draw: st.DrawFn) -> tuple[Any, Any]:
    """A small rust net and its numpy-backend twin (same seed: same weights)."""
    sizes = (draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    keywords = {
        "activation": draw(st.sampled_from(CHOICES["activation"])),
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from(CHOICES["dtype"])),
        "seed": draw(st.integers(0, 2**16)),
        "init": "he",
    }
    return nr.TwoLayerNet(*sizes, **keywords), nr.TwoLayerNet(*sizes, **keywords, backend="numpy")


def twin_answer(twin: Any, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return (
            "ok",
            getattr(twin, method)(*args, **kwargs) if method != "__call__" else twin(*args),
        )
    except FloatingPointError as error:
        return ("nan", error)


METHODS = ("__call__", "loss", "gradients", "step", "fit", "load_parameters")


def methods_fuzzer(method: str) -> Batch:
    """A batch calling ``method`` of small nets with fuzzed arguments."""
    return lambda data: fuzz_method(method, data)


def fuzz_method(method: str, data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    net, twin = data.draw(nets())
    wild = data.draw(st.sampled_from([False, False, True]), label="wild")
    rows = data.draw(st.integers(0, 5))
    x_shape = data.draw(
        mostly(st.just((rows, net.input_dim)), hnp.array_shapes(min_dims=0, max_dims=3))
    )
    y_shape = data.draw(
        mostly(
            st.sampled_from([(rows, net.output_dim)] * 3 + [(rows,)]),
            hnp.array_shapes(min_dims=0, max_dims=3),
        )
    )
    X = data.draw(model_data(x_shape, wild), label="X")
    Y = data.draw(model_data(y_shape, wild), label="Y")
    before = net.parameters()
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = {}
    if method == "__call__":
        if data.draw(st.booleans()) and isinstance(X, np.ndarray) and X.ndim == 2 and len(X):
            X = X[0]  # one sample
        args = (X,)
        validate = lambda: result_shape(  # noqa: E731
            "TwoLayerNet.__call__", {"X": computed_as(X, "X").shape}, net_sizes(net)
        )
    elif method in ("loss", "gradients"):
        args = (X, Y)
        kwargs["reduction"] = data.draw(
            mostly(st.sampled_from(CHOICES["reduction"]), python_objects)
        )

        def validate() -> None:
            first(choice_error(kwargs["reduction"], "reduction"))
            check_data(net, X, Y)
    elif method == "fit":
        steps = data.draw(mostly(st.integers(1, 4), st.integers(-2, 0) | python_objects))
        lr = data.draw(mostly(st.sampled_from([0.0, 1e-3, 1e-2]), python_objects | st.floats()))
        batch_size = data.draw(
            mostly(st.none() | st.integers(1, 6), st.integers(-1, 0) | python_objects)
        )
        args = (X, Y, steps, lr)
        kwargs["batch_size"] = batch_size
        # A valid but long fit is only tried where its loss history (one value per step)
        # cannot be allocated: then it must fail at once with MemoryError or ValueError.
        many_steps = scalar_error(steps, "steps") is None and int(steps) > 4
        if many_steps and allocation(int(steps)) != "impossible":
            return

        def validate() -> None:
            first(
                scalar_error(steps, "steps"),
                scalar_error(lr, "lr"),
                None if batch_size is None else scalar_error(batch_size, "batch_size"),
            )
            check_data(net, X, Y)
            if many_steps:
                raise Expected((MemoryError, ValueError), ["steps"], named=False)
    elif method == "step":
        grads = twin.gradients(np.ones((2, net.input_dim)), np.ones((2, net.output_dim)))
        mutation = data.draw(
            st.sampled_from(["none", "none", "missing", "extra", "shape", "dtype", "junk"])
        )
        if mutation == "missing":
            grads.pop("w2")
        elif mutation == "extra":
            grads["w3"] = np.ones(1)
        elif mutation == "shape":
            grads["w1"] = np.ones((net.input_dim + 1, net.hidden_dim), net.dtype)
        elif mutation == "dtype":
            grads["w1"] = grads["w1"].astype(np.float16)
        elif mutation == "junk":
            grads = data.draw(python_objects)
        lr = data.draw(mostly(st.sampled_from([0.0, 1e-3, 0.5]), python_objects | st.floats()))
        args = (grads, lr)

        def validate() -> None:
            first(scalar_error(lr, "lr"))
            if mutation != "none":
                raise Expected((ValueError, TypeError), ["grads"])
    else:  # load_parameters
        params = nr.TwoLayerNet(
            net.input_dim, net.hidden_dim, net.output_dim, bias=net.bias, dtype=net.dtype, seed=7
        ).parameters()
        mutation = data.draw(st.sampled_from(["none", "none", "missing", "shape", "dtype", "junk"]))
        if mutation == "missing":
            params.pop("w1")
        elif mutation == "shape":
            params["w2"] = np.ones((net.hidden_dim + 1, net.output_dim), net.dtype)
        elif mutation == "dtype":
            params["w2"] = params["w2"].astype(np.int32)
        elif mutation == "junk":
            params = data.draw(python_objects)
        args = (params,)

        def validate() -> None:
            if mutation != "none":
                raise Expected((ValueError, TypeError), ["params"])

    def oracle() -> Checker:
        validate()
        try:
            outcome, expected = twin_answer(twin, method, args, kwargs)
        except ValueError as refusal:
            # Data the model refuses whatever the backend (a loss of no rows):
            # the rust net must refuse it the same way.
            raise Expected((ValueError,), ["X"]) from refusal

        def check(result: Any) -> None:
            if method in ("__call__", "loss", "fit"):
                close_to_twin(result, expected, net.dtype, wild)
            elif method == "gradients":
                assert sorted(result) == sorted(expected)
                for name in expected:
                    close_to_twin(result[name], expected[name], net.dtype, wild)
            params_now = net.parameters()
            for name, value in twin.parameters().items():
                close_to_twin(params_now[name], value, net.dtype, wild)

        if outcome == "nan":  # the twin's loss went NaN/inf: the rust net must say so too
            raise Expected((FloatingPointError,), ["step", "loss"])
        return check

    function = net if method == "__call__" else getattr(net, method)
    try:
        check_call(function, args, kwargs, oracle)
    except AssertionError as failure:
        if "FloatingPointError" in str(failure) and wild:
            return  # on wild data, whether a loss overflows depends on rounding
        raise
    if method in ("__call__", "loss", "gradients"):
        for name, value in before.items():  # reading the net leaves it as it was
            assert_same_bits(net.parameters()[name], value)


BATCHES: dict[str, Batch] = {
    "TwoLayerNet": fuzz_constructor,
    **{f"TwoLayerNet.{method}": methods_fuzzer(method) for method in METHODS},
}


@pytest.mark.soak
def test_fuzzed_constructor_builds_the_net_or_names_the_bad_argument(soak: bool) -> None:
    fuzz_in_child(__file__, "TwoLayerNet", soak)


@pytest.mark.soak
@pytest.mark.parametrize("method", METHODS)
def test_fuzzed_method_matches_the_numpy_twin_or_names_the_bad_argument(
    method: str, soak: bool
) -> None:
    fuzz_in_child(__file__, f"TwoLayerNet.{method}", soak)


if __name__ == "__main__":
    child_main(BATCHES)
