"""Fuzzing: arbitrary arrays and Python objects into every public function.

Every call must either return what numpy computes (same shape, same dtype, values within
the rounding a sum of those terms allows) or raise ``ValueError`` / ``TypeError`` whose
message names the argument at fault. Inputs other than ``out=`` must come back unchanged,
with unchanged reference counts. A ``PanicException`` (a Rust panic turned into a
``BaseException``) or any other exception is a failure.

Each batch runs hypothesis in a child interpreter (``python tests/test_fuzz.py BATCH N``),
so an abort inside the extension (a panic across FFI, a failed allocation, a segfault)
fails that batch with the signal instead of killing pytest. A seed per batch fixes the
draws, so a run is reproducible; ``--soak`` raises the number of examples per batch.
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import neurust as nr

TESTS = Path(__file__).resolve().parent

# Examples per batch: the CI run, and the --soak run.
EXAMPLES = 100
SOAK_EXAMPLES = 5_000
BATCH_TIMEOUT_S = 300
SOAK_BATCH_TIMEOUT_S = 3_000

# Counters the child prints when its batch ends.
COUNTS = {"examples": 0, "calls": 0, "accepted": 0, "rejected": 0}


# --- what to draw ----------------------------------------------------------------------------

NUMERIC_DTYPES = [
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "longdouble",
        "complex64",
        "complex128",
    )
]
OTHER_DTYPES = [
    np.dtype(name) for name in ("U3", "S3", "O", "M8[s]", "m8[ms]", "V8", ">f8", ">f4", ">i4")
] + [np.dtype([("a", "<f8"), ("b", "<i4")])]
ALL_DTYPES = NUMERIC_DTYPES + OTHER_DTYPES
FLOATS = [np.dtype(np.float64), np.dtype(np.float32)]


def _specials(dtype: np.dtype) -> list[float]:
    """NaN, ±inf, ±0, subnormals, the extremes and a few ordinary values, in ``dtype``."""
    info = np.finfo(dtype)
    values = [
        0.0,
        -0.0,
        math.nan,
        math.inf,
        -math.inf,
        float(info.smallest_subnormal),
        -float(info.smallest_subnormal),
        float(info.smallest_normal),
        float(info.smallest_normal) / 3,
        float(info.max),
        -float(info.max),
        float(info.max) / 2,
        1.0,
        -1.0,
        0.5,
        -700.0,
        -1e4,
        1e4,
    ]
    return [float(dtype.type(v)) for v in values]


def _float_elements(dtype: np.dtype) -> st.SearchStrategy[float]:
    width = dtype.itemsize * 8
    return st.one_of(
        st.sampled_from(_specials(dtype)),
        st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.floats(-10, 10, width=width),
    )


def _elements(dtype: np.dtype) -> st.SearchStrategy[Any] | None:
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return _float_elements(dtype)
    if dtype.kind == "O":
        return st.one_of(st.none(), st.integers(-5, 5), st.floats(), st.text(max_size=2))
    return None  # hypothesis' own strategy for the dtype


@st.composite
def array_values(draw: st.DrawFn, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A C-ordered array of ``shape`` and ``dtype`` with values worth trying."""
    if dtype.kind == "V":
        return np.zeros(shape, dtype)
    if dtype.byteorder == ">":
        native = draw(array_values(shape, dtype.newbyteorder("=")))
        return native.astype(dtype)
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


LAYOUTS = ("C", "F", "reversed", "strided", "unaligned", "read-only", "byteswapped")


def laid_out(a: np.ndarray, layout: str, axis: int) -> np.ndarray:
    """An array equal to ``a`` element for element, laid out in memory as ``layout`` says."""
    if layout == "F":
        return np.asfortranarray(a)
    if a.ndim == 0:
        return a
    axis %= a.ndim
    if layout == "reversed":  # a negative stride on one axis
        return np.flip(np.ascontiguousarray(np.flip(a, axis)), axis)
    if layout == "strided":  # every third element of a larger array along one axis
        shape = list(a.shape)
        shape[axis] *= 3
        larger = np.zeros(shape, a.dtype)
        index = [slice(None)] * a.ndim
        index[axis] = slice(None, None, 3)
        view = larger[tuple(index)]
        view[...] = a
        return view
    if layout == "unaligned" and a.dtype.kind != "O" and a.dtype.itemsize > 1:
        buffer = np.zeros(a.nbytes + 1, np.uint8)
        view = buffer[1:].view(a.dtype).reshape(a.shape)
        view[...] = a
        return view
    if layout == "read-only":
        view = a.copy()
        view.flags.writeable = False
        return view
    if layout == "byteswapped" and a.dtype.kind in "biufc":
        return a.astype(a.dtype.newbyteorder("S"))
    return a


@st.composite
def arrays(
    draw: st.DrawFn, shape: tuple[int, ...] | None = None, floats_only: bool = False
) -> np.ndarray:
    """An array of any dtype (mostly float32/float64), any layout, of ``shape`` or any shape."""
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    if floats_only:
        dtype = draw(st.sampled_from(FLOATS))
    else:
        # mostly the kernels' own dtypes, so most calls get past conversion
        dtype = draw(st.sampled_from([*FLOATS * 15, *ALL_DTYPES]))
    a = draw(array_values(shape, dtype))
    for layout in draw(st.lists(st.sampled_from(LAYOUTS), max_size=2)):
        a = laid_out(a, layout, draw(st.integers(0, 3)))
    return a


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.complex_numbers(),
    st.text(max_size=3),
    st.binary(max_size=3),
)


def _numpy_scalar(dtype: np.dtype) -> st.SearchStrategy[Any]:
    return array_values((), dtype).map(lambda a: a[()])


python_objects = st.one_of(
    _scalars,
    st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=8),
    st.recursive(
        st.floats() | st.integers(-3, 3),
        lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner),
        max_leaves=10,
    ),
    st.dictionaries(st.text(max_size=2), _scalars, max_size=2),
    st.sets(st.integers(), max_size=3),
    st.builds(bytearray, st.binary(max_size=4)),
    st.sampled_from([object(), Ellipsis, NotImplemented, int, np, range(3), "x", b"1"]),
    st.sampled_from(ALL_DTYPES).flatmap(_numpy_scalar),
    arrays().map(lambda a: a.tolist()),
)


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` nine times in ten, else ``other``."""
    return st.sampled_from([True] * 9 + [False]).flatmap(lambda pick: usual if pick else other)


def argument(array: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``array``, sometimes an arbitrary Python object in its place."""
    return mostly(array, python_objects)


def shape_or_any(shape: tuple[int, ...], max_dims: int = 3) -> st.SearchStrategy[Any]:
    """Mostly ``shape``, sometimes any shape (which usually does not fit)."""
    return mostly(st.just(shape), hnp.array_shapes(min_dims=0, max_dims=max_dims))


# --- what numpy says the answer is -----------------------------------------------------------


class Expected(Exception):
    """The call must raise one of ``errors`` with a message naming one of ``names``."""

    def __init__(
        self, errors: tuple[type[BaseException], ...], names: Sequence[str], named: bool = True
    ) -> None:
        super().__init__(errors, names)
        self.errors = errors
        self.names = tuple(names)
        self.named = named  # False for allocation failures: numpy's message names no argument


def as_float(obj: Any, name: str) -> np.ndarray:
    """``obj`` converted by numpy's rules as the public API documents them."""
    try:
        a = np.asarray(obj)
    except (ValueError, TypeError):
        raise Expected((ValueError, TypeError), [name]) from None
    if a.dtype.kind in "biu":
        return a.astype(np.float64)
    if a.dtype.kind == "f" and a.dtype.itemsize in (4, 8):
        return a.astype(a.dtype.newbyteorder("="))
    raise Expected((TypeError,), [name])


def common(*arrays: np.ndarray) -> list[np.ndarray]:
    """float32 only when every argument is float32, as the kernels promote."""
    dtype = np.result_type(*arrays)
    return [a.astype(dtype) for a in arrays]


def shape_error(*names: str) -> Expected:
    return Expected((ValueError,), names)


EPS_SLACK = 2.0


def assert_sum_close(actual: np.ndarray, terms: np.ndarray, dtype: np.dtype) -> None:
    """``actual[...] == terms.sum(-1)`` up to the rounding any summation order may add.

    ``terms`` holds every product (and bias) in longdouble, on its last axis. Where the
    terms could overflow the dtype in some order the exact value is order-dependent, so
    only NaN (which every order propagates) is required there.
    """
    info = np.finfo(dtype)
    count = terms.shape[-1]
    nan_term = np.isnan(terms).any(-1)
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = np.abs(terms)
        finite_terms = np.where(np.isfinite(magnitude), magnitude, 0).sum(-1)
        has_inf_term = np.isinf(magnitude).any(-1)
        exact = terms.sum(-1)
        representable = (finite_terms <= info.max / 2) & (
            np.where(np.isfinite(magnitude), magnitude, 0).max(-1, initial=0) <= info.max / 2
        )
    actual = np.asarray(actual)
    expected_nan = nan_term | (has_inf_term & np.isnan(exact))
    assert np.array_equal(np.isnan(actual) & expected_nan, expected_nan), (
        f"NaN terms must give NaN: got {actual!r} for terms {terms!r}"
    )
    inf_only = has_inf_term & ~expected_nan & representable
    assert np.array_equal(actual[inf_only], exact[inf_only].astype(dtype)), (
        f"an infinite term must give that infinity: got {actual!r} for terms {terms!r}"
    )
    finite = ~has_inf_term & ~expected_nan & representable
    tolerance = EPS_SLACK * (count + 2) * float(info.eps) * finite_terms[finite] + (
        count + 1
    ) * float(info.smallest_subnormal)
    error = np.abs(actual[finite].astype(np.longdouble) - exact[finite])
    assert np.all(error <= tolerance), (
        f"got {actual!r}, expected {exact.astype(dtype)!r} (terms {terms!r})"
    )


def elementwise_close(
    actual: np.ndarray, candidates: Sequence[np.ndarray], rtol: float, atol: np.ndarray | float
) -> None:
    """Each element matches one of the candidate references (NaN matches NaN)."""
    info = np.finfo(actual.dtype)
    atol = atol + 4 * float(info.smallest_subnormal)
    ok = np.zeros(actual.shape, bool)
    for candidate in candidates:
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(actual.astype(np.longdouble) - candidate.astype(np.longdouble))
            close = (diff <= rtol * np.abs(candidate.astype(np.longdouble)) + atol) | (
                actual == candidate
            )
        ok |= close | (np.isnan(actual) & np.isnan(candidate))
    assert ok.all(), f"got {actual!r}, expected one of {candidates!r}"


def same_values(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal element for element, NaN to NaN, and zeros of the same sign."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert np.array_equal(actual, expected, equal_nan=True), f"{actual!r} != {expected!r}"
    zeros = expected == 0
    assert np.array_equal(np.signbit(actual[zeros]), np.signbit(expected[zeros])), (
        f"signs of zeros differ: {actual!r} != {expected!r}"
    )


def rtol(dtype: np.dtype) -> float:
    return 1e-12 if dtype == np.float64 else 1e-5


def sigmoid_references(x: np.ndarray) -> list[np.ndarray]:
    """The sigmoid computed exactly (longdouble) and as numpy computes it in ``x.dtype``."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        wide = (1 / (1 + np.exp(-x.astype(np.longdouble)))).astype(x.dtype)
        narrow = (1 / (1 + np.exp(-x))).astype(x.dtype)
    return [wide, narrow]


def sigmoid_grad_references(x: np.ndarray, grad: np.ndarray) -> list[np.ndarray]:
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        s_wide = 1 / (1 + np.exp(-x.astype(np.longdouble)))
        wide = (grad.astype(np.longdouble) * s_wide * (1 - s_wide)).astype(x.dtype)
        s = (1 / (1 + np.exp(-x))).astype(x.dtype)
        narrow = (grad * s * (1 - s)).astype(x.dtype)
    return [wide, narrow]


# Each oracle takes the call's arguments, raises Expected, or returns a checker of the result.
Checker = Callable[[Any], None]


def expect_weighted_sum(inputs: Any, weights: Any) -> Checker:
    x, w = common(as_float(inputs, "inputs"), as_float(weights, "weights"))
    if w.ndim != 1 or x.ndim not in (1, 2) or x.shape[-1] != w.shape[0]:
        raise shape_error("inputs", "weights")
    with np.errstate(over="ignore", invalid="ignore"):
        terms = x.astype(np.longdouble) * w.astype(np.longdouble)

    def check(result: Any) -> None:
        result = np.asarray(result)
        assert result.dtype == x.dtype, f"dtype {result.dtype}, expected {x.dtype}"
        assert result.shape == x.shape[:-1]
        assert_sum_close(result, terms, x.dtype)

    return check


def expect_linear(x_obj: Any, weights_obj: Any, bias_obj: Any = None) -> Checker:
    arrays = [as_float(x_obj, "x"), as_float(weights_obj, "weights")]
    if bias_obj is not None:
        arrays.append(as_float(bias_obj, "bias"))
    arrays = common(*arrays)
    x, w = arrays[:2]
    bias = arrays[2] if len(arrays) == 3 else None
    if x.ndim not in (1, 2) or w.ndim != 2 or x.shape[-1] != w.shape[0]:
        raise shape_error("x", "weights")
    if bias is not None and bias.shape != (w.shape[1],):
        raise shape_error("bias")
    with np.errstate(over="ignore", invalid="ignore"):
        # terms[..., j, k] = x[..., k] * w[k, j], then the bias as one more term
        terms = x.astype(np.longdouble)[..., None, :] * w.T.astype(np.longdouble)
        if bias is not None:
            extra = np.broadcast_to(bias.astype(np.longdouble)[:, None], (*terms.shape[:-1], 1))
            terms = np.concatenate([terms, extra], axis=-1)
    shape = (*x.shape[:-1], w.shape[1])

    def check(result: Any) -> None:
        assert isinstance(result, np.ndarray), type(result)
        assert result.dtype == x.dtype, f"dtype {result.dtype}, expected {x.dtype}"
        assert result.shape == shape, f"shape {result.shape}, expected {shape}"
        assert_sum_close(result, terms, x.dtype)

    return check


def _unary(name: str, x_obj: Any) -> tuple[np.ndarray, Callable[[np.ndarray], None]]:
    x = as_float(x_obj, "x")
    if name == "relu":
        return x, lambda r: same_values(r, np.maximum(x, x.dtype.type(0)))
    if name == "step":
        return x, lambda r: same_values(r, np.heaviside(x, x.dtype.type(0)))

    def check_sigmoid(r: np.ndarray) -> None:
        assert r.dtype == x.dtype and r.shape == x.shape
        elementwise_close(r, sigmoid_references(x), rtol(x.dtype), 0.0)

    return x, check_sigmoid


def _binary(name: str, x_obj: Any, grad_obj: Any) -> tuple[np.ndarray, Callable]:
    x, grad = common(as_float(x_obj, "x"), as_float(grad_obj, "grad"))
    if x.shape != grad.shape:
        raise shape_error("x", "grad")
    if name == "relu_grad":
        return x, lambda r: same_values(r, np.where(x > 0, grad, x.dtype.type(0)))

    def check_sigmoid_grad(r: np.ndarray) -> None:
        assert r.dtype == x.dtype and r.shape == x.shape
        slack = rtol(x.dtype) * np.where(np.isfinite(grad), np.abs(grad), 0)
        elementwise_close(r, sigmoid_grad_references(x, grad), rtol(x.dtype), slack)

    return x, check_sigmoid_grad


def expect_out(out: Any, x: np.ndarray) -> None:
    """Raises Expected unless ``out`` is a usable output for a result like ``x``."""
    if not isinstance(out, np.ndarray):
        raise Expected((TypeError,), ["out"])
    if out.dtype != x.dtype or out.dtype.byteorder not in "=|" or out.shape != x.shape:
        raise Expected((ValueError,), ["out"])
    if not (out.flags.c_contiguous and out.flags.aligned and out.flags.writeable):
        raise Expected((ValueError,), ["out"])


def expect_elementwise(name: str, args: Sequence[Any], out: Any = None) -> Checker:
    if name in ("relu", "sigmoid", "step"):
        x, check_values = _unary(name, args[0])
    else:
        x, check_values = _binary(name, args[0], args[1])
    if out is not None:
        expect_out(out, x)

    def check(result: Any) -> None:
        assert isinstance(result, np.ndarray), type(result)
        if out is not None:
            assert result is out, "with out=, the result must be out itself"
        check_values(result)

    return check


# --- calling, and checking what came back ----------------------------------------------------


def _snapshot(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            return ("object", repr(obj.tolist()))
        return (obj.dtype, obj.shape, obj.tobytes())
    return ("python", repr(obj))


def names_one_of(message: str, names: Sequence[str]) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) for name in names)


def check_call(
    function: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    oracle: Callable[[], Checker],
    may_change: Sequence[Any] = (),
) -> None:
    """Calls ``function`` and checks the outcome against ``oracle`` (numpy's answer)."""
    COUNTS["calls"] += 1
    try:
        checker: Checker | None = oracle()
        expected: Expected | None = None
    except Expected as error:
        checker, expected = None, error
    inputs = [a for a in (*args, *kwargs.values()) if not any(a is m for m in may_change)]
    before = [_snapshot(a) for a in inputs]
    counted = [a for a in inputs if isinstance(a, np.ndarray | list)]

    def call() -> str:
        return f"{getattr(function, '__name__', function)}(*{args!r}, **{kwargs!r})"

    # With the cycle collector paused, only the call itself can change these counts.
    gc.disable()
    try:
        refcounts = [sys.getrefcount(a) for a in counted]
        try:
            result = function(*args, **kwargs)
            raised: BaseException | None = None
        except (ValueError, TypeError, FloatingPointError, MemoryError) as error:
            result, raised = None, error
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # PanicException, MemoryError, SystemError, ...
            raise AssertionError(f"{call()} raised {type(error).__module__}.{error!r}") from None
        modified = [a for a, snap in zip(inputs, before, strict=True) if _snapshot(a) != snap]
        assert not modified, f"{call()} modified an input: {modified!r}"
        del modified
        if expected is not None:
            assert raised is not None, f"{call()} returned {result!r}; numpy says it is invalid"
            assert isinstance(raised, expected.errors), (
                f"{call()} raised {raised!r}, expected one of {expected.errors}"
            )
            assert not expected.named or names_one_of(str(raised), expected.names), (
                f"{call()} raised {raised!r}, whose message names none of {expected.names}"
            )
            COUNTS["rejected"] += 1
        else:
            assert raised is None, f"{call()} raised {raised!r}; numpy computes it"
            assert checker is not None
            checker(result)
            COUNTS["accepted"] += 1
        del result, raised
        after = [sys.getrefcount(a) for a in counted]
        assert after == refcounts, f"{call()} changed reference counts {refcounts} -> {after}"
    finally:
        gc.enable()


# --- the fuzz batches (run in a child interpreter; see test_fuzz_batch) ----------------------


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


def _fuzz_weighted_sum(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    inputs, weights = data.draw(weighted_sum_arguments())
    check_call(nr.weighted_sum, (inputs, weights), {}, lambda: expect_weighted_sum(inputs, weights))


def _fuzz_linear(data: st.DataObject) -> None:
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
        function = getattr(nr, name)
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


def _fuzz_out(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    name = data.draw(st.sampled_from(["relu", "sigmoid", "step", "relu_grad", "sigmoid_grad"]))
    arity = 2 if name.endswith("_grad") else 1
    inputs = data.draw(shared_buffer_inputs(arity))
    out = data.draw(out_for(inputs), label="out")
    # numpy's answer comes from copies: out may be (or overlap) an input and is overwritten.
    copies = [a.copy() for a in inputs]
    check_call(
        getattr(nr, name),
        tuple(inputs),
        {"out": out},
        lambda: expect_elementwise(name, copies, out),
        may_change=[out, *(a for a in inputs if np.shares_memory(a, out))]
        if isinstance(out, np.ndarray)
        else [],
    )


# name -> (required positional arguments, most positional arguments, keywords allowed)
SIGNATURES: dict[str, tuple[int, int, set[str]]] = {
    "weighted_sum": (2, 2, set()),
    "relu": (1, 2, {"out"}),
    "sigmoid": (1, 2, {"out"}),
    "step": (1, 2, {"out"}),
    "relu_grad": (2, 3, {"out"}),
    "sigmoid_grad": (2, 3, {"out"}),
    "linear": (2, 3, set()),
    "set_num_threads": (1, 1, set()),
    "get_num_threads": (0, 0, set()),
    "build_info": (0, 0, set()),
}


def _fuzz_arity(data: st.DataObject) -> None:
    """Too many or too few arguments, or unknown keywords: a TypeError naming the function."""
    COUNTS["examples"] += 1
    name = data.draw(st.sampled_from(sorted(SIGNATURES)))
    count = data.draw(st.integers(0, 5))
    keywords = data.draw(
        st.dictionaries(
            st.sampled_from(["x", "inputs", "weights", "grad", "bias", "n", "out", "axis"]),
            st.none(),
        )
    )
    required, most, allowed = SIGNATURES[name]
    if required <= count <= most and set(keywords) <= allowed and count + len(keywords) <= most:
        return  # a valid signature
    args = tuple(np.ones(1) for _ in range(count))
    COUNTS["calls"] += 1
    try:
        getattr(nr, name)(*args, **keywords)
    except TypeError as error:
        assert name in str(error) or names_one_of(str(error), list(keywords)), error
        COUNTS["rejected"] += 1
        return
    except BaseException as error:
        raise AssertionError(f"{name}(*{args}, **{keywords}) raised {error!r}") from None
    raise AssertionError(f"{name}(*{args}, **{keywords}) accepted a wrong signature")


MAX_THREADS = 4096  # set_num_threads refuses more (ValueError)


def _fuzz_set_num_threads(data: st.DataObject) -> None:
    """set_num_threads on arbitrary objects; get_num_threads and build_info agree after."""
    COUNTS["examples"] += 1
    n = data.draw(
        mostly(
            st.integers(-3, 8),
            st.sampled_from([MAX_THREADS + 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1])
            | python_objects,
        ),
        label="n",
    )
    if isinstance(n, int | np.integer) and 8 < n <= MAX_THREADS:
        return  # valid, but thousands of threads per example would only be slow
    before = nr.get_num_threads()
    COUNTS["calls"] += 1
    try:
        try:
            nr.set_num_threads(n)
            raised: BaseException | None = None
        except (ValueError, TypeError) as error:
            raised = error
        except BaseException as error:
            raise AssertionError(f"set_num_threads({n!r}) raised {error!r}") from None
        integer = isinstance(n, int | np.integer) and not isinstance(n, bool)
        if integer and 1 <= n <= MAX_THREADS and (raised is None or isinstance(n, int)):
            assert raised is None, f"set_num_threads({n!r}) raised {raised!r}"
            assert nr.get_num_threads() == n
            assert nr.build_info()["num_threads"] == n
            COUNTS["accepted"] += 1
        else:  # not an int (numpy integers and bools may be refused too), or out of range
            assert raised is not None, f"set_num_threads({n!r}) was accepted"
            assert names_one_of(str(raised), ["n"]), f"set_num_threads({n!r}): {raised!r}"
            assert isinstance(raised, ValueError if integer else TypeError) or isinstance(
                n, np.integer | bool
            ), f"set_num_threads({n!r}) raised {raised!r}"
            assert nr.get_num_threads() == before
            COUNTS["rejected"] += 1
    finally:
        nr.set_num_threads(before)


def _fuzz_get_backend(data: st.DataObject) -> None:
    """get_backend on arbitrary objects: a backend, or an error naming the backend."""
    COUNTS["examples"] += 1
    name = data.draw(mostly(python_objects, st.sampled_from(nr.backends.KNOWN_BACKENDS)))
    COUNTS["calls"] += 1
    try:
        backend = nr.get_backend(name)
    except (ValueError, TypeError) as error:
        assert names_one_of(str(error), ["backend", "name"]), f"get_backend({name!r}): {error!r}"
        COUNTS["rejected"] += 1
        return
    except BaseException as error:
        raise AssertionError(f"get_backend({name!r}) raised {error!r}") from None
    assert backend.name == name
    COUNTS["accepted"] += 1


# --- TwoLayerNet and Perceptron ----------------------------------------------------------------


def _positive_int_error(value: Any, name: str) -> Expected | None:
    """What ``TwoLayerNet``/``Perceptron`` must say about a size or count argument."""
    if isinstance(value, np.timedelta64):  # a numpy integer subclass, but a duration
        return Expected((TypeError, ValueError), [name])
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return Expected((TypeError,), [name])
    if value < 1:
        return Expected((ValueError,), [name])
    return None


def _seed_error(value: Any) -> Expected | None:
    """``seed`` is None or a non-negative integer (numpy's SeedSequence rules)."""
    if value is None or (isinstance(value, int | np.integer) and not isinstance(value, bool)):
        return None if value is None or value >= 0 else Expected((ValueError,), ["seed"])
    try:
        np.random.default_rng(value)
    except (TypeError, ValueError):
        return Expected((TypeError, ValueError), ["seed"])
    return None


def _learning_rate_error(value: Any, positive: bool = False) -> Expected | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return Expected((TypeError,), ["lr"])
    if not math.isfinite(float(value)) or value < 0 or (positive and value == 0):
        return Expected((ValueError,), ["lr"])
    return None


def _first(*errors: Expected | None) -> None:
    for error in errors:
        if error is not None:
            raise error


MODEL_DTYPES = ("float64", "float32")

# Every fuzz child runs with its address space capped (see run_batch), so a request far
# beyond memory fails at once. Requests between these two sizes could really be granted
# and filled, slowly, on a shared machine: those draws are skipped.
SMALL_BYTES = 2**23
IMPOSSIBLE_BYTES = 2**34
ADDRESS_SPACE_LIMIT = 2**33


def allocation(elements: int, itemsize: int = 8) -> str:
    """ "small", "skip" (too big to try here) or "impossible" (fails under the cap)."""
    size = elements * itemsize
    return "small" if size <= SMALL_BYTES else "impossible" if size >= IMPOSSIBLE_BYTES else "skip"


@st.composite
def constructor_arguments(draw: st.DrawFn) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Sizes, activation, bias, dtype, seed, init and backend: mostly valid, some not."""
    sizes = tuple(
        draw(mostly(st.integers(1, 4), st.integers(-2, 0) | python_objects)) for _ in "abc"
    )
    keywords = {
        "activation": draw(mostly(st.sampled_from(["relu", "sigmoid"]), python_objects)),
        "bias": draw(st.booleans()),
        "dtype": draw(
            mostly(st.sampled_from([*MODEL_DTYPES, np.float32, np.dtype("f8")]), python_objects)
        ),
        "seed": draw(mostly(st.integers(0, 2**40), st.integers(-5, -1) | python_objects)),
        "init": draw(mostly(st.sampled_from(["normal", "he"]), python_objects)),
        "backend": draw(mostly(st.just("rust"), python_objects)),
    }
    return sizes, keywords


def expect_constructor(sizes: tuple[Any, ...], keywords: dict[str, Any]) -> Checker:
    names = ("input_dim", "hidden_dim", "output_dim")
    errors = [_positive_int_error(size, name) for size, name in zip(sizes, names, strict=True)]
    if not isinstance(keywords["activation"], str) or keywords["activation"] not in (
        "relu",
        "sigmoid",
    ):
        errors.append(Expected((ValueError, TypeError), ["activation"]))
    try:
        dtype_ok = np.dtype(keywords["dtype"]).name in MODEL_DTYPES
    except Exception:
        dtype_ok = False
    if not dtype_ok:
        errors.append(Expected((ValueError, TypeError), ["dtype"]))
    if not isinstance(keywords["init"], str) or keywords["init"] not in ("normal", "he"):
        errors.append(Expected((ValueError, TypeError), ["init"]))
    if keywords["backend"] != "rust" or not isinstance(keywords["backend"], str):
        errors.append(Expected((ValueError, TypeError), ["backend"]))
    errors.append(_seed_error(keywords["seed"]))
    invalid = [e for e in errors if e is not None]
    if invalid:  # any one of them may be reported first
        raise Expected(
            tuple({t for e in invalid for t in e.errors}), [n for e in invalid for n in e.names]
        )

    def check(net: Any) -> None:
        assert (net.input_dim, net.hidden_dim, net.output_dim) == tuple(map(int, sizes))
        if keywords["seed"] is not None:  # the same seed gives the numpy backend's weights
            twin = nr.TwoLayerNet(*sizes, **{**keywords, "backend": "numpy"})
            for name, value in twin.parameters().items():
                assert_same_bits(net.parameters()[name], value)

    return check


def assert_same_bits(actual: Any, expected: Any) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (actual, expected)
    assert actual.tobytes() == expected.tobytes(), (actual, expected)


def _fuzz_two_layer_net_constructor(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    sizes, keywords = data.draw(constructor_arguments())
    oracle = lambda: expect_constructor(sizes, keywords)  # noqa: E731
    if all(_positive_int_error(size, "size") is None for size in sizes):
        first, hidden, last = (int(size) for size in sizes)
        weights = allocation(first * hidden + hidden * last)
        if weights == "skip":
            return
        if weights == "impossible":  # a MemoryError (or numpy's "too big" ValueError)

            def oracle() -> Checker:
                expect_constructor(sizes, keywords)  # other invalid arguments may come first
                raise Expected((MemoryError, ValueError), ["input_dim", "hidden_dim"], named=False)

    check_call(nr.TwoLayerNet, sizes, keywords, oracle)


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


def _model_inputs(net: Any, X: Any, single_ok: bool = False) -> np.ndarray:
    x = as_float(X, "X")
    if single_ok and x.ndim == 1:
        if x.shape != (net.input_dim,):
            raise Expected((ValueError,), ["X"])
        return x
    if x.ndim != 2 or x.shape[1] != net.input_dim:
        raise Expected((ValueError,), ["X"])
    return x


def _model_targets(net: Any, Y: Any, rows: int) -> None:
    y = as_float(Y, "Y")
    if y.ndim == 1 and net.output_dim == 1 and y.shape == (rows,):
        return
    if y.shape != (rows, net.output_dim):
        raise Expected((ValueError,), ["Y"])


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
        "activation": draw(st.sampled_from(["relu", "sigmoid"])),
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from(MODEL_DTYPES)),
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


def _fuzz_two_layer_net_methods(data: st.DataObject) -> None:
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
    method = data.draw(
        st.sampled_from(["__call__", "loss", "gradients", "step", "fit", "load_parameters"])
    )
    before = net.parameters()
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = {}
    if method == "__call__":
        if data.draw(st.booleans()) and isinstance(X, np.ndarray) and X.ndim == 2 and len(X):
            X = X[0]  # one sample
        args = (X,)
        validate = lambda: _model_inputs(net, X, single_ok=True)  # noqa: E731
    elif method in ("loss", "gradients"):
        args = (X, Y)
        kwargs["reduction"] = data.draw(mostly(st.sampled_from(["sum", "mean"]), python_objects))

        def validate() -> None:
            if kwargs["reduction"] not in ("sum", "mean") or not isinstance(
                kwargs["reduction"], str
            ):
                raise Expected((ValueError, TypeError), ["reduction"])
            _model_targets(net, Y, _model_inputs(net, X).shape[0])
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
        many_steps = _positive_int_error(steps, "steps") is None and int(steps) > 4
        if many_steps and allocation(int(steps)) != "impossible":
            return

        def validate() -> None:
            _first(
                _positive_int_error(steps, "steps"),
                _learning_rate_error(lr),
                None if batch_size is None else _positive_int_error(batch_size, "batch_size"),
            )
            _model_targets(net, Y, _model_inputs(net, X).shape[0])
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
            _first(_learning_rate_error(lr))
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


def _perceptron_answer(
    weights: np.ndarray, bias: float, x: np.ndarray, y: np.ndarray, lr: float, epochs: int
) -> tuple[np.ndarray, float, bool, int]:
    """The perceptron rule in plain numpy (exact on the small integers drawn)."""
    converged, ran = False, 0
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for sample, target in zip(x, y, strict=True):
            fires = 1.0 if float(sample @ weights) + bias > 0 else 0.0
            error = target - fires
            if error:
                mistakes += 1
                weights = weights + lr * error * sample
                bias += lr * error
        ran = epoch
        if not mistakes:
            converged = True
            break
    return weights, bias, converged, ran


def _fuzz_perceptron(data: st.DataObject) -> None:
    COUNTS["examples"] += 1
    n_inputs = data.draw(mostly(st.integers(1, 4), st.integers(-1, 0) | python_objects))
    lr = data.draw(mostly(st.sampled_from([1.0, 0.5, 2.0]), python_objects | st.floats()))
    seed_value = data.draw(mostly(st.none(), st.integers(-2, 5) | python_objects))

    weights = "small" if _positive_int_error(n_inputs, "n") else allocation(int(n_inputs))
    if weights == "skip":
        return

    def expect_perceptron() -> Checker:
        _first(
            _positive_int_error(n_inputs, "n_inputs"),
            _learning_rate_error(lr, positive=True),
            _seed_error(seed_value),
        )
        if weights == "impossible":
            raise Expected((MemoryError, ValueError), ["n_inputs"], named=False)
        return lambda p: None

    check_call(nr.Perceptron, (n_inputs, lr, seed_value), {}, expect_perceptron)
    if (
        weights != "small"
        or _positive_int_error(n_inputs, "n")
        or _learning_rate_error(lr, True)
        or _seed_error(seed_value)
    ):
        return
    perceptron = nr.Perceptron(n_inputs, lr, seed_value)
    rows = data.draw(st.integers(0, 6))
    integers = st.integers(-2, 2).map(float)
    X = data.draw(
        mostly(hnp.arrays(np.float64, (rows, n_inputs), elements=integers), argument(arrays())),
        label="X",
    )
    y = data.draw(
        mostly(
            hnp.arrays(np.float64, (rows,), elements=st.sampled_from([0.0, 1.0])),
            argument(arrays()),
        ),
        label="y",
    )
    max_epochs = data.draw(mostly(st.integers(1, 6), st.integers(-1, 0) | python_objects))
    weights, bias = perceptron.weights_.copy(), perceptron.bias_

    def expect_fit() -> Checker:
        _first(_positive_int_error(max_epochs, "max_epochs"))
        x = as_float(X, "X")
        if x.ndim != 2 or x.shape[1] != n_inputs:
            raise Expected((ValueError,), ["X"])
        if not np.all(np.isfinite(x)):
            raise Expected((ValueError,), ["X"])
        targets = as_float(y, "y")
        if targets.shape != (x.shape[0],) or not np.all((targets == 0) | (targets == 1)):
            raise Expected((ValueError,), ["y"])
        if x.shape[0] == 0:
            raise Expected((ValueError,), ["X"])

        def check(result: Any) -> None:
            assert result is perceptron
            if seed_value is None and float(lr).is_integer() and np.all(x == np.round(x)):
                answer = _perceptron_answer(weights, bias, x, targets, float(lr), max_epochs)
                assert_same_bits(perceptron.weights_, answer[0])
                assert perceptron.bias_ == answer[1]
                assert (perceptron.converged_, perceptron.epochs_) == answer[2:]
            assert 1 <= perceptron.epochs_ <= max_epochs
            if perceptron.converged_:
                np.testing.assert_array_equal(perceptron.predict(x), targets)

        return check

    check_call(perceptron.fit, (X, y, max_epochs), {}, expect_fit)
    X_new = data.draw(argument(arrays()), label="X_new")

    def expect_predict() -> Checker:
        x = as_float(X_new, "X")
        if x.ndim != 2 or x.shape[1] != n_inputs:
            raise Expected((ValueError,), ["X"])

        def check(result: Any) -> None:
            assert result.dtype == np.int64 and result.shape == (x.shape[0],)
            with np.errstate(all="ignore"):
                activity = x.astype(np.longdouble) @ perceptron.weights_ + perceptron.bias_
            decided = np.abs(activity) > 1e-9 * (np.abs(x) @ np.abs(perceptron.weights_) + 1)
            decided &= np.isfinite(activity)
            np.testing.assert_array_equal(result[decided], (activity[decided] > 0).astype(int))

        return check

    check_call(perceptron.predict, (X_new,), {}, expect_predict)


BATCHES: dict[str, Callable[[st.DataObject], None]] = {
    "weighted_sum": _fuzz_weighted_sum,
    "linear": _fuzz_linear,
    **{
        name: _elementwise_fuzzer(name)
        for name in ("relu", "sigmoid", "step", "relu_grad", "sigmoid_grad")
    },
    "out": _fuzz_out,
    "arity": _fuzz_arity,
    "set_num_threads": _fuzz_set_num_threads,
    "get_backend": _fuzz_get_backend,
    "TwoLayerNet": _fuzz_two_layer_net_constructor,
    "TwoLayerNet-methods": _fuzz_two_layer_net_methods,
    "Perceptron": _fuzz_perceptron,
}


def run_batch(batch: str, examples: int) -> None:
    """Runs one batch under hypothesis in this interpreter; raises on the first failure."""
    body = BATCHES[batch]
    if batch != "get_backend":  # importing torch and jax maps several GiB of address space
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    test = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )(given(st.data())(body))
    seed(zlib.crc32(batch.encode()))(test)()


# --- the pytest side ---------------------------------------------------------------------------


def run_child(batch: str, examples: int, timeout: float) -> dict[str, int]:
    """Runs ``batch`` in a fresh interpreter; an abort or hang fails with its output."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1", "RUST_BACKTRACE": "1"}
    try:
        child = subprocess.run(
            [sys.executable, str(Path(__file__)), batch, str(examples)],
            cwd=TESTS,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as timeout_error:
        pytest.fail(f"batch {batch} hung for {timeout} s:\n{timeout_error.stderr}")
    output = f"{child.stdout}\n{child.stderr}"
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        pytest.fail(f"batch {batch}: the interpreter died with {name}:\n{output[-6000:]}")
    if child.returncode != 0:
        pytest.fail(f"batch {batch} failed (exit {child.returncode}):\n{output[-6000:]}")
    line = next(x for x in child.stdout.splitlines() if x.startswith("FUZZ-RESULT "))
    return json.loads(line.removeprefix("FUZZ-RESULT "))


@pytest.mark.soak
@pytest.mark.parametrize("batch", list(BATCHES))
def test_fuzzed_calls_return_numpys_answer_or_a_named_value_or_type_error(
    batch: str, soak: bool
) -> None:
    examples = SOAK_EXAMPLES if soak else EXAMPLES
    counts = run_child(batch, examples, SOAK_BATCH_TIMEOUT_S if soak else BATCH_TIMEOUT_S)
    print(f"fuzz {batch}: {counts}")
    assert counts["examples"] >= examples


if __name__ == "__main__":
    # numpy's overflow warnings (from the references, on huge draws) are expected noise
    warnings.simplefilter("ignore", RuntimeWarning)
    run_batch(sys.argv[1], int(sys.argv[2]))
    print("FUZZ-RESULT " + json.dumps({"batch": sys.argv[1], **COUNTS}), flush=True)
