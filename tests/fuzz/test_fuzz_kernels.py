"""Fuzzing the kernels: weighted_sum, linear, the elementwise kernels and their out=.

Each batch runs in a child interpreter (see tests/support/fuzzing.py); the right outcome for a
call comes from the tables in tests/support/fuzz_rules.py, the right values from numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import neurust as nr
from support.fuzz_rules import check_out, kernel_arguments, result_shape
from support.fuzzing import (
    ALL_DTYPES,
    COUNTS,
    FLOATS,
    Batch,
    Checker,
    argument,
    array_values,
    arrays,
    assert_sum_close,
    check_call,
    child_main,
    elementwise_close,
    fuzz_in_child,
    laid_out,
    python_objects,
    rtol,
    same_values,
    shape_or_any,
    sigmoid_grad_references,
    sigmoid_references,
)
from support.reference import public_kernel

UNARY = ("relu", "sigmoid", "step")
GRADIENTS = ("relu_grad", "sigmoid_grad")

# --- the right answers -----------------------------------------------------------------------


def expect_weighted_sum(inputs: Any, weights: Any) -> Checker:
    x, w = kernel_arguments([(inputs, "inputs"), (weights, "weights")])
    shape = result_shape("weighted_sum", {"inputs": x.shape, "weights": w.shape})
    with np.errstate(over="ignore", invalid="ignore"):
        terms = x.astype(np.longdouble) * w.astype(np.longdouble)

    def check(result: Any) -> None:
        result = np.asarray(result)
        assert result.dtype == x.dtype, f"dtype {result.dtype}, expected {x.dtype}"
        assert result.shape == shape, f"shape {result.shape}, expected {shape}"
        assert_sum_close(result, terms, x.dtype)

    return check


def expect_linear(x_obj: Any, weights_obj: Any, bias_obj: Any = None) -> Checker:
    named = {"x": x_obj, "weights": weights_obj}
    if bias_obj is not None:
        named["bias"] = bias_obj
    converted = dict(zip(named, kernel_arguments([(v, k) for k, v in named.items()]), strict=True))
    shape = result_shape("linear", {k: v.shape for k, v in converted.items()})
    x, w, bias = converted["x"], converted["weights"], converted.get("bias")
    with np.errstate(over="ignore", invalid="ignore"):
        # terms[..., j, k] = x[..., k] * w[k, j], then the bias as one more term
        terms = x.astype(np.longdouble)[..., None, :] * w.T.astype(np.longdouble)
        if bias is not None:
            extra = np.broadcast_to(bias.astype(np.longdouble)[:, None], (*terms.shape[:-1], 1))
            terms = np.concatenate([terms, extra], axis=-1)

    def check(result: Any) -> None:
        assert isinstance(result, np.ndarray), type(result)
        assert result.dtype == x.dtype, f"dtype {result.dtype}, expected {x.dtype}"
        assert result.shape == shape, f"shape {result.shape}, expected {shape}"
        assert_sum_close(result, terms, x.dtype)

    return check


def _values_check(name: str, x: np.ndarray, grad: np.ndarray | None) -> Callable[[Any], None]:
    """How to check the values of ``name``'s result (exact kernels must be exact)."""
    zero = x.dtype.type(0)
    if name == "relu":
        return lambda r: same_values(r, np.maximum(x, zero))
    if name == "step":
        return lambda r: same_values(r, np.heaviside(x, zero))
    if name == "relu_grad":
        return lambda r: same_values(r, np.where(x > 0, grad, zero))

    def check_sigmoids(r: np.ndarray) -> None:
        assert r.dtype == x.dtype and r.shape == x.shape
        if grad is None:
            elementwise_close(r, sigmoid_references(x), rtol(x.dtype), 0.0)
        else:
            slack = rtol(x.dtype) * np.where(np.isfinite(grad), np.abs(grad), 0)
            elementwise_close(r, sigmoid_grad_references(x, grad), rtol(x.dtype), slack)

    return check_sigmoids


def expect_elementwise(name: str, args: Sequence[Any], out: Any = None) -> Checker:
    names = ("x", "grad")[: len(args)]
    converted = kernel_arguments(list(zip(args, names, strict=True)))
    result_shape(name, {n: a.shape for n, a in zip(names, converted, strict=True)})
    x, grad = converted[0], (converted[1] if len(converted) == 2 else None)
    if out is not None:
        check_out(out, x)
    check_values = _values_check(name, x, grad)

    def check(result: Any) -> None:
        assert isinstance(result, np.ndarray), type(result)
        if out is not None:
            assert result is out, "with out=, the result must be out itself"
        if out is None or out.dtype == x.dtype:
            check_values(result)
            return
        # Another dtype: the result in its own dtype, cast as numpy casts into out=.
        computed = public_kernel(name)(*args)
        check_values(computed)
        expected = np.empty_like(result)
        np.copyto(expected, computed, casting="same_kind")
        if result.dtype == object:  # Python floats: NaN equals NaN only as a float array
            result, expected = result.astype(computed.dtype), expected.astype(computed.dtype)
        np.testing.assert_array_equal(result, expected)

    return check


# --- the batches -----------------------------------------------------------------------------


@st.composite
def weighted_sum_arguments(draw: st.DrawFn) -> tuple[Any, Any]:
    k, n = draw(st.integers(0, 6)), draw(st.integers(0, 4))
    matrix = draw(st.booleans())
    inputs_shape = draw(shape_or_any((n, k) if matrix else (k,)))
    weights_shape = draw(shape_or_any((k,)))
    return (
        draw(argument(arrays(inputs_shape))),
        draw(argument(arrays(weights_shape))),
    )


@st.composite
def linear_arguments(draw: st.DrawFn) -> tuple[tuple[Any, ...], dict[str, Any]]:
    n, k, m = draw(st.integers(0, 4)), draw(st.integers(0, 5)), draw(st.integers(0, 4))
    matrix = draw(st.booleans())
    x_shape = draw(shape_or_any((n, k) if matrix else (k,)))
    w_shape = draw(shape_or_any((k, m)))
    args = (draw(argument(arrays(x_shape))), draw(argument(arrays(w_shape))))
    bias_kind = draw(st.sampled_from(["absent", "none", "array", "array"]))
    if bias_kind == "none":
        args = (*args, None)
    elif bias_kind == "array":
        b_shape = draw(shape_or_any((m,), 2))
        args = (*args, draw(argument(arrays(b_shape))))
    return args, {}


def fuzz_weighted_sum(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    inputs, weights = data.draw(weighted_sum_arguments())
    check_call(nr.weighted_sum, (inputs, weights), {}, lambda: expect_weighted_sum(inputs, weights))


def fuzz_linear(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    args, _ = data.draw(linear_arguments())
    check_call(nr.linear, args, {}, lambda: expect_linear(*args))


def _elementwise_fuzzer(name: str) -> Callable[[st.DataObject], None]:
    arity = 2 if name.endswith("_grad") else 1

    def fuzz(data: st.DataObject) -> None:
        COUNTS["examples"] += 1
        x = data.draw(argument(arrays()), label="x")
        args: tuple[Any, ...] = (x,)
        if arity == 2:
            shape = np.shape(x) if isinstance(x, np.ndarray) else ()
            grad_shape = data.draw(shape_or_any(shape, 4))
            args = (x, data.draw(argument(arrays(grad_shape)), label="grad"))
        function = public_kernel(name)
        check_call(function, args, {}, lambda: expect_elementwise(name, args))

    return fuzz


@st.composite
def out_for(draw: st.DrawFn, inputs: Sequence[np.ndarray]) -> Any:
    """An ``out=``: the input itself, an overlapping view, a fine array, or a broken one."""
    x = inputs[0]
    kind = draw(
        st.sampled_from(
            ["alias", "alias", "overlap", "fresh", "fresh", "shape", "dtype", "broken", "junk"]
        )
    )
    if kind == "alias":
        return draw(st.sampled_from(list(inputs)))
    if kind == "overlap" and x.ndim == 1 and x.size > 1 and x.base is not None:
        # x is a window on a larger buffer; out is the same window shifted by one element
        return draw(st.sampled_from([x.base[: x.size], x.base[-x.size :]]))
    if kind in ("fresh", "overlap"):
        return np.full(x.shape, 7, x.dtype)
    if kind == "shape":
        return np.zeros(draw(hnp.array_shapes(min_dims=0, max_dims=3)), x.dtype)
    if kind == "dtype":
        return np.zeros(x.shape, draw(st.sampled_from(ALL_DTYPES)))
    if kind == "broken":
        layout = draw(st.sampled_from(["F", "reversed", "strided", "unaligned", "read-only"]))
        return laid_out(np.zeros(x.shape, x.dtype), layout, draw(st.integers(0, 3)))
    return draw(python_objects)


@st.composite
def shared_buffer_inputs(draw: st.DrawFn, arity: int) -> list[np.ndarray]:
    """Float inputs; 1-D ones are windows on one buffer, so out= can overlap them partly."""
    dtype = draw(st.sampled_from(FLOATS))
    if draw(st.booleans()):
        size = draw(st.integers(2, 9))
        buffer = draw(array_values((size + 1,), dtype))
        windows = [buffer[1:], buffer[:-1]]
        return [windows[i % 2] for i in range(arity)]
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return [draw(array_values(shape, dtype)) for _ in range(arity)]


def fuzz_out(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    name = data.draw(st.sampled_from(["relu", "sigmoid", "step", "relu_grad", "sigmoid_grad"]))
    arity = 2 if name.endswith("_grad") else 1
    inputs = data.draw(shared_buffer_inputs(arity))
    out = data.draw(out_for(inputs), label="out")
    # numpy's answer comes from copies: out may be (or overlap) an input and is overwritten.
    copies = [a.copy() for a in inputs]
    check_call(
        public_kernel(name),
        tuple(inputs),
        {"out": out},
        lambda: expect_elementwise(name, copies, out),
        may_change=[out, *(a for a in inputs if np.shares_memory(a, out))]
        if isinstance(out, np.ndarray)
        else [],
    )


BATCHES: dict[str, Batch] = {
    "weighted_sum": fuzz_weighted_sum,
    "linear": fuzz_linear,
    **{name: _elementwise_fuzzer(name) for name in (*UNARY, *GRADIENTS)},
    "out": fuzz_out,
}


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.soak
@pytest.mark.parametrize("batch", ["weighted_sum", "linear"])
def test_fuzzed_sums_return_the_exact_sum_or_a_named_error(batch: str, soak: bool) -> None:
    fuzz_in_child(__file__, batch, soak)


@pytest.mark.soak
@pytest.mark.parametrize("batch", [*UNARY, *GRADIENTS])
def test_fuzzed_elementwise_calls_return_numpys_answer_or_a_named_error(
    batch: str, soak: bool
) -> None:
    fuzz_in_child(__file__, batch, soak)


@pytest.mark.soak
def test_fuzzed_out_arguments_are_written_or_refused_untouched(soak: bool) -> None:
    fuzz_in_child(__file__, "out", soak)


if __name__ == "__main__":
    child_main(BATCHES)
