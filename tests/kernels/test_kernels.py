"""Every kernel agrees with its definition (tests/support/reference.py): on every backend, and
through ``nr.*`` for any input."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

import neurust as nr
from support import reference
from support.reference import (
    ELEMENTWISE,
    LAYOUTS,
    assert_close,
    assert_elementwise_close,
    public_kernel,
    sum_scale,
    with_layout,
)

# Values that every elementwise kernel must handle as numpy does.
SPECIAL_VALUES = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, -1e-30, 40.0, -40.0, 800.0, -800.0]


def sample(shape: tuple[int, ...], dtype: np.dtype, seed: int, special: bool) -> np.ndarray:
    """Normal values with a fixed seed; with ``special``, SPECIAL_VALUES come first."""
    values = np.random.default_rng(seed).normal(0.0, 5.0, size=shape)
    if special:
        flat = values.reshape(-1)
        count = min(flat.size, len(SPECIAL_VALUES))
        flat[:count] = SPECIAL_VALUES[:count]
    return values.astype(dtype)


def elementwise_arguments(name: str, shape: tuple[int, ...], dtype: np.dtype) -> list[np.ndarray]:
    """x with the special values; grad (when the kernel takes one) with a NaN at the end."""
    _, arity = ELEMENTWISE[name]
    arguments = [sample(shape, dtype, seed=0, special=True)]
    if arity == 2:
        grad = sample(shape, dtype, seed=1, special=False)
        if grad.size:
            grad.reshape(-1)[-1] = np.nan
        arguments.append(grad)
    return arguments


# --- every backend agrees with numpy -------------------------------------------------------

ELEMENTWISE_SHAPES = [(), (0,), (1,), (7,), (3, 4), (2, 3, 4)]
WEIGHTED_SUM_SHAPES = [
    ((0,), (0,)),
    ((1,), (1,)),
    ((5,), (5,)),
    ((1, 1), (1,)),
    ((4, 3), (3,)),
    ((3, 0), (0,)),
]
LINEAR_SHAPES = [
    ((4, 3), (3, 2), (2,)),
    ((4, 3), (3, 2), None),
    ((3,), (3, 2), (2,)),
    ((1, 1), (1, 1), (1,)),
    ((2, 5), (5, 1), None),
]


@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES, ids=str)
def test_elementwise_kernel_matches_the_reference_on_every_backend(
    backend: nr.Backend, dtype: np.dtype, elementwise_kernel: str, shape: tuple[int, ...]
) -> None:
    arguments = elementwise_arguments(elementwise_kernel, shape, dtype)
    kernel = getattr(backend, elementwise_kernel)
    result = backend.to_numpy(kernel(*(backend.from_numpy(a) for a in arguments)))
    assert_elementwise_close(elementwise_kernel, result, *arguments)


@pytest.mark.parametrize(("inputs_shape", "weights_shape"), WEIGHTED_SUM_SHAPES, ids=str)
def test_weighted_sum_matches_the_reference_on_every_backend(
    backend: nr.Backend,
    dtype: np.dtype,
    inputs_shape: tuple[int, ...],
    weights_shape: tuple[int, ...],
) -> None:
    inputs = sample(inputs_shape, dtype, seed=0, special=False)
    weights = sample(weights_shape, dtype, seed=1, special=False)
    result = backend.weighted_sum(backend.from_numpy(inputs), backend.from_numpy(weights))
    expected = reference.weighted_sum(inputs, weights)
    assert_close(backend.to_numpy(result), expected, scale=sum_scale(inputs, weights))


@pytest.mark.parametrize(("x_shape", "weights_shape", "bias_shape"), LINEAR_SHAPES, ids=str)
def test_linear_matches_the_reference_on_every_backend(
    backend: nr.Backend,
    dtype: np.dtype,
    x_shape: tuple[int, ...],
    weights_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None,
) -> None:
    x = sample(x_shape, dtype, seed=0, special=False)
    weights = sample(weights_shape, dtype, seed=1, special=False)
    bias = None if bias_shape is None else sample(bias_shape, dtype, seed=2, special=False)
    native_bias = None if bias is None else backend.from_numpy(bias)
    result = backend.linear(backend.from_numpy(x), backend.from_numpy(weights), native_bias)
    expected = reference.linear(x, weights, bias)
    assert_close(backend.to_numpy(result), expected, scale=sum_scale(x, weights, bias))


# Answers known without computing them: kernel -> [(arguments, answer)]. Each value is
# exact in float32 and float64, or (ln 3, whose sigmoid is 3/4) within the tolerance.
LN3 = float(np.log(3.0))
NAN, INF = float("nan"), float("inf")
KNOWN_ANSWERS: dict[str, list[tuple[tuple[object, ...], object]]] = {
    "relu": [(([-2.0, -0.5, 0.0, 0.5, 3.0, INF, -INF, NAN],), [0, 0, 0, 0.5, 3, INF, 0, NAN])],
    "relu_grad": [
        (([-1.0, 0.0, 2.0, INF, NAN, -INF], [5.0, 6.0, 7.0, 8.0, 9.0, 1.0]), [0, 0, 7, 8, 0, 0])
    ],
    "step": [(([-1.0, 0.0, -0.0, 1e-30, 2.0, INF, -INF, NAN],), [0, 0, 0, 1, 1, 1, 0, NAN])],
    "sigmoid": [
        (([0.0, LN3, -LN3, 1000.0, -1000.0, INF, -INF, NAN],), [0.5, 0.75, 0.25, 1, 0, 1, 0, NAN])
    ],
    "sigmoid_grad": [
        (
            ([0.0, 0.0, LN3, -LN3, INF, -INF, NAN], [4.0, -8.0, 16.0, 16.0, 1.0, 1.0, 1.0]),
            [1, -2, 3, 3, 0, 0, NAN],
        ),
    ],
    "weighted_sum": [
        (([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]), 32),
        (([[1.0, 2.0], [3.0, 4.0], [0.5, -0.5]], [1.0, -1.0]), [-1, -1, 1]),
        (([[1.0, 2.0]], [0.0, 0.0]), [0]),
    ],
    "linear": [
        (([[1.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]], [10.0, 20.0]), [[11, 22]]),
        (([[1.0, 2.0], [3.0, 4.0]], [[2.0], [1.0]], [0.5]), [[4.5], [10.5]]),
        (([3.0, -1.0], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), [-1, 1, 3]),
    ],
}


@pytest.mark.parametrize(
    ("kernel", "arguments", "answer"),
    [(kernel, *case) for kernel, cases in KNOWN_ANSWERS.items() for case in cases],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_kernel_gives_the_known_answer_on_every_backend(
    backend: nr.Backend, dtype: np.dtype, kernel: str, arguments: tuple, answer: object
) -> None:
    arrays = [np.array(a, dtype) for a in arguments]
    result = getattr(backend, kernel)(*(backend.from_numpy(a) for a in arrays))
    assert_close(backend.to_numpy(result), np.array(answer, dtype))


@pytest.mark.parametrize("kernel", [*ELEMENTWISE, "weighted_sum", "linear"])
def test_backend_returns_the_dtype_it_was_given(
    backend: nr.Backend, dtype: np.dtype, kernel: str
) -> None:
    if dtype.name not in backend.dtypes:
        pytest.skip(f"backend {backend.name!r} computes only {backend.dtypes}")
    if kernel in ELEMENTWISE:
        arguments = elementwise_arguments(kernel, (2, 3), dtype)
    else:  # weighted_sum(inputs, weights) and linear(x, weights)
        weights_shape = (3,) if kernel == "weighted_sum" else (3, 2)
        arguments = [np.ones((2, 3), dtype), np.ones(weights_shape, dtype)]
    result = getattr(backend, kernel)(*(backend.from_numpy(a) for a in arguments))
    assert backend.to_numpy(result).dtype == dtype


# --- nr.*: property tests over shapes, dtypes and memory layouts ---------------------------

dtypes = st.sampled_from([np.dtype(np.float64), np.dtype(np.float32)])
layouts = st.sampled_from(LAYOUTS)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)
sides = st.integers(min_value=0, max_value=8)


def any_floats(dtype: np.dtype) -> st.SearchStrategy[float]:
    """Every value of the dtype: NaN, infinities, subnormals, extremes."""
    return st.floats(width=8 * dtype.itemsize)


def moderate_floats(dtype: np.dtype) -> st.SearchStrategy[float]:
    """Finite values whose products and sums cannot overflow."""
    return st.floats(-1e3, 1e3, width=8 * dtype.itemsize)


def draw_elementwise_arguments(data: st.DataObject, name: str) -> list[np.ndarray]:
    dtype, shape = data.draw(dtypes), data.draw(shapes)
    _, arity = ELEMENTWISE[name]
    return [data.draw(hnp.arrays(dtype, shape, elements=any_floats(dtype))) for _ in range(arity)]


@given(data=st.data())
def test_elementwise_kernel_matches_the_reference_for_any_shape_dtype_and_layout(
    elementwise_kernel: str, data: st.DataObject
) -> None:
    arguments = draw_elementwise_arguments(data, elementwise_kernel)
    laid_out = [with_layout(a, data.draw(layouts)) for a in arguments]
    result = public_kernel(elementwise_kernel)(*laid_out)
    assert result.dtype == arguments[0].dtype
    assert_elementwise_close(elementwise_kernel, result, *arguments)


@given(data=st.data())
def test_elementwise_kernel_writes_into_out_and_returns_it(
    elementwise_kernel: str, data: st.DataObject
) -> None:
    arguments = draw_elementwise_arguments(data, elementwise_kernel)
    out = np.empty_like(arguments[0], order="C")
    result = public_kernel(elementwise_kernel)(*arguments, out=out)
    assert result is out
    assert_elementwise_close(elementwise_kernel, out, *arguments)


GRADIENT_KERNELS = [name for name, (_, arity) in ELEMENTWISE.items() if arity == 2]


def check_writing_over_argument(name: str, position: int, data: st.DataObject) -> None:
    arguments = [np.ascontiguousarray(a) for a in draw_elementwise_arguments(data, name)]
    originals = [a.copy() for a in arguments]
    aliased = arguments[position]
    result = public_kernel(name)(*arguments, out=aliased)
    assert result is aliased
    assert_elementwise_close(name, aliased, *originals)


@given(data=st.data())
def test_elementwise_kernel_may_write_over_its_input_x(
    elementwise_kernel: str, data: st.DataObject
) -> None:
    check_writing_over_argument(elementwise_kernel, 0, data)


@pytest.mark.parametrize("name", GRADIENT_KERNELS)
@given(data=st.data())
def test_gradient_kernel_may_write_over_its_input_grad(name: str, data: st.DataObject) -> None:
    check_writing_over_argument(name, 1, data)


@given(data=st.data())
def test_elementwise_kernel_leaves_its_inputs_unchanged(
    elementwise_kernel: str, data: st.DataObject
) -> None:
    arguments = [
        with_layout(a, data.draw(layouts))
        for a in draw_elementwise_arguments(data, elementwise_kernel)
    ]
    copies = [a.copy() for a in arguments]
    public_kernel(elementwise_kernel)(*arguments)
    for argument, copy in zip(arguments, copies, strict=True):
        np.testing.assert_array_equal(argument, copy)


@given(dtype=dtypes, length=sides, data=st.data())
def test_weighted_sum_of_vectors_matches_the_reference(
    dtype: np.dtype, length: int, data: st.DataObject
) -> None:
    inputs, weights = (
        data.draw(hnp.arrays(dtype, length, elements=moderate_floats(dtype))) for _ in range(2)
    )
    result = nr.weighted_sum(
        with_layout(inputs, data.draw(layouts)), with_layout(weights, data.draw(layouts))
    )
    assert isinstance(result, np.generic)
    assert result.dtype == dtype
    expected = reference.weighted_sum(inputs, weights)
    assert_close(result, expected, scale=sum_scale(inputs, weights))


@given(dtype=dtypes, rows=sides, columns=sides, data=st.data())
def test_weighted_sum_of_matrix_and_vector_matches_the_reference(
    dtype: np.dtype, rows: int, columns: int, data: st.DataObject
) -> None:
    inputs = data.draw(hnp.arrays(dtype, (rows, columns), elements=moderate_floats(dtype)))
    weights = data.draw(hnp.arrays(dtype, columns, elements=moderate_floats(dtype)))
    result = nr.weighted_sum(
        with_layout(inputs, data.draw(layouts)), with_layout(weights, data.draw(layouts))
    )
    assert result.dtype == dtype
    expected = reference.weighted_sum(inputs, weights)
    assert_close(result, expected, scale=sum_scale(inputs, weights))


@given(
    dtype=dtypes,
    rows=st.one_of(st.none(), sides),
    inner=sides,
    outputs=sides,
    with_bias=st.booleans(),
    data=st.data(),
)
def test_linear_matches_the_reference(
    dtype: np.dtype,
    rows: int | None,
    inner: int,
    outputs: int,
    with_bias: bool,
    data: st.DataObject,
) -> None:
    x_shape = (inner,) if rows is None else (rows, inner)
    x = data.draw(hnp.arrays(dtype, x_shape, elements=moderate_floats(dtype)))
    weights = data.draw(hnp.arrays(dtype, (inner, outputs), elements=moderate_floats(dtype)))
    bias = (
        data.draw(hnp.arrays(dtype, outputs, elements=moderate_floats(dtype)))
        if with_bias
        else None
    )
    laid_out_bias = None if bias is None else with_layout(bias, data.draw(layouts))
    result = nr.linear(
        with_layout(x, data.draw(layouts)), with_layout(weights, data.draw(layouts)), laid_out_bias
    )
    assert result.dtype == dtype
    expected = reference.linear(x, weights, bias)
    assert_close(result, expected, scale=sum_scale(x, weights, bias))


@given(dtype=dtypes, rows=sides, columns=sides, data=st.data())
def test_weighted_sum_and_linear_leave_their_inputs_unchanged(
    dtype: np.dtype, rows: int, columns: int, data: st.DataObject
) -> None:
    matrix = with_layout(data.draw(hnp.arrays(dtype, (rows, columns))), data.draw(layouts))
    vector = with_layout(data.draw(hnp.arrays(dtype, columns)), data.draw(layouts))
    weights = with_layout(data.draw(hnp.arrays(dtype, (columns, 2))), data.draw(layouts))
    bias = with_layout(data.draw(hnp.arrays(dtype, 2)), data.draw(layouts))
    copies = [a.copy() for a in (matrix, vector, weights, bias)]
    nr.weighted_sum(matrix, vector)
    nr.linear(matrix, weights, bias)
    for array, copy in zip((matrix, vector, weights, bias), copies, strict=True):
        np.testing.assert_array_equal(array, copy)


# --- nr.*: conversions, mixed dtypes, special values ---------------------------------------


def test_weighted_sum_of_empty_vectors_is_zero(dtype: np.dtype) -> None:
    result = nr.weighted_sum(np.array([], dtype), np.array([], dtype))
    assert result == 0.0
    assert result.dtype == dtype


def test_weighted_sum_of_matrix_without_rows_is_empty() -> None:
    assert nr.weighted_sum(np.zeros((0, 3)), np.ones(3)).shape == (0,)


def test_weighted_sum_of_matrix_without_columns_is_zeros() -> None:
    np.testing.assert_array_equal(nr.weighted_sum(np.zeros((3, 0)), np.ones(0)), np.zeros(3))


@pytest.mark.parametrize(
    ("inputs_dtype", "weights_dtype"),
    [(np.float32, np.float64), (np.float64, np.float32)],
    ids=str,
)
def test_weighted_sum_of_mixed_float_dtypes_promotes_like_numpy(
    inputs_dtype: type, weights_dtype: type
) -> None:
    inputs = np.array([0.1, 0.2, 0.3], inputs_dtype)
    weights = np.array([1.0, 2.0, 3.0], weights_dtype)
    result = nr.weighted_sum(inputs, weights)
    assert result.dtype == np.result_type(inputs_dtype, weights_dtype)
    assert_close(result, reference.weighted_sum(inputs, weights))


@pytest.mark.parametrize("integer_dtype", [np.int8, np.int32, np.int64, np.uint16])
def test_weighted_sum_of_integer_arrays_is_float64(integer_dtype: type) -> None:
    inputs = np.array([2, 3, 4], integer_dtype)
    result = nr.weighted_sum(inputs, np.array([1, 0, 5], integer_dtype))
    assert result.dtype == np.float64
    assert result == 22.0


def test_weighted_sum_of_bool_arrays_counts_the_true_pairs() -> None:
    result = nr.weighted_sum(np.array([True, True, False]), np.array([True, False, True]))
    assert result == 1.0


def test_elementwise_kernel_computes_integer_input_as_float64(elementwise_kernel: str) -> None:
    _, arity = ELEMENTWISE[elementwise_kernel]
    arguments = [np.array([-2, 0, 3]), np.array([5, 6, 7])][:arity]
    result = public_kernel(elementwise_kernel)(*arguments)
    assert result.dtype == np.float64
    as_floats = [a.astype(np.float64) for a in arguments]
    assert_elementwise_close(elementwise_kernel, result, *as_floats)


def test_elementwise_kernel_accepts_nested_lists(elementwise_kernel: str) -> None:
    _, arity = ELEMENTWISE[elementwise_kernel]
    arguments = [[[-1.5, 0.0], [2.0, 3.5]], [[1.0, 2.0], [3.0, 4.0]]][:arity]
    as_arrays = [np.array(a) for a in arguments]
    result = public_kernel(elementwise_kernel)(*arguments)
    assert_elementwise_close(elementwise_kernel, result, *as_arrays)


def test_elementwise_kernel_of_a_python_float_has_no_shape(elementwise_kernel: str) -> None:
    _, arity = ELEMENTWISE[elementwise_kernel]
    result = public_kernel(elementwise_kernel)(*[2.0, 1.0][:arity])
    assert np.shape(result) == ()
    assert result.dtype == np.float64


def test_linear_accepts_lists_and_integers() -> None:
    result = nr.linear([[1, 2]], [[1, 0], [0, 1]], [10, 20])
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [[11.0, 22.0]])


def test_weighted_sum_reads_big_endian_floats_correctly() -> None:
    inputs = np.array([2.0, 3.0, 4.0], dtype=">f8")
    assert nr.weighted_sum(inputs, np.array([1.0, -1.0, 5.0], dtype=">f8")) == 19.0


def test_relu_keeps_nan_and_infinities_as_numpy_maximum_does() -> None:
    result = nr.relu(np.array([np.nan, np.inf, -np.inf, -1.0, 2.0]))
    np.testing.assert_array_equal(result, [np.nan, np.inf, 0.0, 0.0, 2.0])


def test_step_is_one_only_where_input_is_positive_and_keeps_nan() -> None:
    result = nr.heaviside(np.array([-1.0, 0.0, -0.0, 1e-300, 2.0, np.inf, -np.inf, np.nan]))
    np.testing.assert_array_equal(result, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, np.nan])


def test_relu_grad_passes_gradient_only_where_input_positive() -> None:
    x = np.array([-2.0, 0.0, 3.0, np.nan, np.inf])
    grad = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    np.testing.assert_array_equal(nr.relu_grad(x, grad), [0.0, 0.0, 30.0, 0.0, 50.0])


def test_sigmoid_is_one_half_at_zero_and_saturates_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = nr.sigmoid(np.array([0.0, -1000.0, 1000.0, -np.inf, np.inf]))
    np.testing.assert_array_equal(result, [0.5, 0.0, 1.0, 0.0, 1.0])


def test_sigmoid_grad_is_a_quarter_of_the_gradient_at_zero() -> None:
    result = nr.sigmoid_grad(np.zeros(3), np.array([4.0, -8.0, 1.0]))
    np.testing.assert_array_equal(result, [1.0, -2.0, 0.25])


@pytest.mark.parametrize(
    ("inputs", "weights", "expected"),
    [
        ([1.0, np.nan], [1.0, 1.0], np.nan),
        ([np.inf, 1.0], [1.0, 1.0], np.inf),
        ([np.inf, -np.inf], [1.0, 1.0], np.nan),
        ([np.inf, 1.0], [0.0, 1.0], np.nan),
    ],
    ids=["nan", "inf", "inf-minus-inf", "inf-times-zero"],
)
def test_weighted_sum_propagates_nan_and_inf_like_numpy(
    inputs: list[float], weights: list[float], expected: float
) -> None:
    np.testing.assert_array_equal(nr.weighted_sum(inputs, weights), expected)


# --- nr.*: large inputs (the threaded paths) -------------------------------------------------

LARGE = 1_000_003  # above any sensible threading cut-off, and not a round number


@pytest.mark.parametrize("layout", ["C", "strided"])
def test_elementwise_kernel_matches_the_reference_on_large_input(
    elementwise_kernel: str, dtype: np.dtype, layout: str
) -> None:
    _, arity = ELEMENTWISE[elementwise_kernel]
    arguments = [sample((LARGE,), dtype, seed=seed, special=seed == 0) for seed in range(arity)]
    result = public_kernel(elementwise_kernel)(*(with_layout(a, layout) for a in arguments))
    assert_elementwise_close(elementwise_kernel, result, *arguments)


@pytest.mark.parametrize("layout", ["C", "strided", "reversed"])
def test_weighted_sum_of_long_vectors_matches_the_reference(dtype: np.dtype, layout: str) -> None:
    inputs = sample((LARGE,), dtype, seed=0, special=False)
    weights = sample((LARGE,), dtype, seed=1, special=False)
    result = nr.weighted_sum(with_layout(inputs, layout), with_layout(weights, layout))
    expected = reference.weighted_sum(inputs, weights)
    assert_close(result, expected, scale=sum_scale(inputs, weights))


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_weighted_sum_of_large_matrix_matches_the_reference(dtype: np.dtype, layout: str) -> None:
    inputs = sample((1000, 1001), dtype, seed=0, special=False)
    weights = sample((1001,), dtype, seed=1, special=False)
    result = nr.weighted_sum(with_layout(inputs, layout), with_layout(weights, layout))
    expected = reference.weighted_sum(inputs, weights)
    assert_close(result, expected, scale=sum_scale(inputs, weights))


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_linear_matches_the_reference_on_large_input(dtype: np.dtype, layout: str) -> None:
    x = sample((300, 257), dtype, seed=0, special=False)
    weights = sample((257, 129), dtype, seed=1, special=False)
    bias = sample((129,), dtype, seed=2, special=False)
    result = nr.linear(with_layout(x, layout), with_layout(weights, layout), bias)
    expected = reference.linear(x, weights, bias)
    assert_close(result, expected, scale=sum_scale(x, weights, bias))


@pytest.mark.parametrize("out_offset", [-1, 1], ids=["out-behind-x", "out-ahead-of-x"])
def test_out_partly_overlapping_the_input_never_gives_a_wrong_answer(out_offset: int) -> None:
    buffer = sample((LARGE + 1,), np.dtype(np.float64), seed=0, special=False)
    # out and x share all but one element, shifted by one: a write can clobber a later read.
    x, out = (buffer[1:], buffer[:-1]) if out_offset == -1 else (buffer[:-1], buffer[1:])
    expected = reference.relu(x)
    try:
        nr.relu(x, out=out)
    except ValueError:
        return  # refusing the overlap is right too
    np.testing.assert_array_equal(out, expected)
