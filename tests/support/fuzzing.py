"""The fuzzing machinery: what to draw, how to call, and how each batch runs in a child.

Every call must either return the right answer (same shape, same dtype, values within
the rounding a sum of those terms allows) or raise ``ValueError`` / ``TypeError`` whose
message names the argument at fault. Inputs other than ``out=`` must come back unchanged,
with unchanged reference counts. A ``PanicException`` (a Rust panic turned into a
``BaseException``) or any other exception is a failure. What the right answer or the
right error is comes from the tables in tests/support/fuzz_rules.py.

Each batch runs hypothesis in a child interpreter (``python tests/fuzz/test_fuzz_X.py BATCH N``),
so an abort inside the extension (a panic across FFI, a failed allocation, a segfault)
fails that batch with the signal instead of killing pytest. A seed per batch fixes the
draws, so a run is reproducible; ``--soak`` raises the number of examples per batch.
"""

from __future__ import annotations

import gc
import json
import math
import re
import resource
import sys
import warnings
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from support.children import exit_status, run
from support.reference import RTOL

# Examples per batch: the CI run, and the --soak run.
EXAMPLES = 100
SOAK_EXAMPLES = 5_000
BATCH_TIMEOUT_S = 300
SOAK_BATCH_TIMEOUT_S = 3_000

# Counters the child prints when its batch ends.
COUNTS = {"examples": 0, "calls": 0, "accepted": 0, "rejected": 0}

# A batch: one hypothesis test body, drawing its own arguments.
Batch = Callable[[st.DataObject], None]
# Each oracle takes the call's arguments, raises Expected, or returns a checker of the result.
Checker = Callable[[Any], None]


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


# --- checking what came back -----------------------------------------------------------------


class Expected(Exception):
    """The call must raise one of ``errors`` with a message naming one of ``names``."""

    def __init__(
        self, errors: tuple[type[BaseException], ...], names: Sequence[str], named: bool = True
    ) -> None:
        super().__init__(errors, names)
        self.errors = errors
        self.names = tuple(names)
        self.named = named  # False for allocation failures: numpy's message names no argument


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
    return RTOL[np.dtype(dtype)]


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


def assert_same_bits(actual: Any, expected: Any) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (actual, expected)
    assert actual.tobytes() == expected.tobytes(), (actual, expected)


# --- calling --------------------------------------------------------------------------------


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


# --- running a batch: in the child, and from pytest ------------------------------------------


def run_batch(batches: dict[str, Batch], batch: str, examples: int) -> None:
    """Runs one batch under hypothesis in this interpreter; raises on the first failure."""
    body = batches[batch]
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


def child_main(batches: dict[str, Batch]) -> None:
    """The child's side: ``python tests/fuzz/test_fuzz_X.py BATCH EXAMPLES``."""
    # numpy's overflow warnings (from the references, on huge draws) are expected noise
    warnings.simplefilter("ignore", RuntimeWarning)
    run_batch(batches, sys.argv[1], int(sys.argv[2]))
    print("FUZZ-RESULT " + json.dumps({"batch": sys.argv[1], **COUNTS}), flush=True)


def fuzz_in_child(test_file: str, batch: str, soak: bool) -> dict[str, int]:
    """Runs ``batch`` of ``test_file`` in a fresh interpreter and returns its counts.

    An abort, a failure or a hang fails the test with the child's output.
    """
    examples = SOAK_EXAMPLES if soak else EXAMPLES
    timeout = SOAK_BATCH_TIMEOUT_S if soak else BATCH_TIMEOUT_S
    argv = [sys.executable, str(Path(test_file).resolve()), batch, str(examples)]
    child = run(argv, timeout=timeout, env={"RUST_BACKTRACE": "1"})
    output = f"{child.stdout}\n{child.stderr}"
    if child.returncode != 0:
        raise AssertionError(
            f"batch {batch} failed ({exit_status(child.returncode)}):\n{output[-6000:]}"
        )
    line = next(x for x in child.stdout.splitlines() if x.startswith("FUZZ-RESULT "))
    counts = json.loads(line.removeprefix("FUZZ-RESULT "))
    print(f"fuzz {batch}: {counts}")
    assert counts["examples"] >= examples, counts
    return counts
