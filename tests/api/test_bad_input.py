"""Bad input to every public function raises a clear Python exception, never a panic.

Shape problems raise ValueError, type problems TypeError; the message names the
argument and what was wrong with it. (A Rust panic would surface as
PanicException, a BaseException that ``pytest.raises(ValueError)`` lets through.)
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support.reference import public_kernel


def mentions(*patterns: str) -> str:
    """A regex for a message containing every one of ``patterns``, in any order."""
    return "(?s)" + "".join(f"(?=.*{pattern})" for pattern in patterns)


def shape(text: str) -> str:
    return re.escape(text)


def argument(name: str) -> str:
    return rf"\b{name}\b"


# Valid arguments for each function, in order; each case below spoils one of them.
VALID: dict[str, dict[str, Any]] = {
    "weighted_sum": {"inputs": np.ones((2, 3)), "weights": np.ones(3)},
    "relu": {"x": np.ones(3)},
    "sigmoid": {"x": np.ones(3)},
    "step": {"x": np.ones(3)},
    "relu_grad": {"x": np.ones(3), "grad": np.ones(3)},
    "sigmoid_grad": {"x": np.ones(3), "grad": np.ones(3)},
    "linear": {"x": np.ones((2, 3)), "weights": np.ones((3, 4)), "bias": np.ones(4)},
}
ARGUMENTS = [(function, name) for function, arguments in VALID.items() for name in arguments]
ELEMENTWISE = ["relu", "sigmoid", "step", "relu_grad", "sigmoid_grad"]


def call_with(function: str, **replaced: Any) -> Any:
    arguments = {**VALID[function], **replaced}
    return public_kernel(function)(*arguments.values())


def argument_ids(case: tuple[str, str]) -> str:
    return f"{case[0]}-{case[1]}"


# --- unsupported dtypes --------------------------------------------------------------------

# dtype -> how its name may appear in a message
UNSUPPORTED_DTYPES = {
    "str": r"(U\d+|str)",
    "object": "object",
    "complex128": "complex128",
    "float16": "float16",
}


@pytest.mark.parametrize("function_and_argument", ARGUMENTS, ids=argument_ids)
@pytest.mark.parametrize("dtype", list(UNSUPPORTED_DTYPES))
def test_unsupported_dtype_raises_type_error_naming_argument_and_dtype(
    function_and_argument: tuple[str, str], dtype: str
) -> None:
    function, name = function_and_argument
    replaced = {name: VALID[function][name].astype(dtype)}
    if dtype == "float16":
        # float16 with a float64 argument computes in float64, as numpy does:
        # the result is float16 (refused) only when every argument is.
        replaced = {key: value.astype(dtype) for key, value in VALID[function].items()}
    with pytest.raises(TypeError, match=mentions(argument(name), UNSUPPORTED_DTYPES[dtype])):
        call_with(function, **replaced)


# --- things that are not arrays ------------------------------------------------------------


@pytest.mark.parametrize("function_and_argument", ARGUMENTS, ids=argument_ids)
@pytest.mark.parametrize("junk", [None, "abc", {"a": 1}, object()], ids=repr)
def test_non_numeric_junk_raises_type_error_naming_argument(
    function_and_argument: tuple[str, str], junk: Any
) -> None:
    function, name = function_and_argument
    if name == "bias" and junk is None:
        pytest.skip("bias=None means no bias")
    with pytest.raises(TypeError, match=argument(name)):
        call_with(function, **{name: junk})


@pytest.mark.parametrize("function_and_argument", ARGUMENTS, ids=argument_ids)
def test_ragged_nested_list_raises_an_error_naming_argument(
    function_and_argument: tuple[str, str],
) -> None:
    function, name = function_and_argument
    with pytest.raises((TypeError, ValueError), match=argument(name)):
        call_with(function, **{name: [[1.0, 2.0], [3.0]]})


# --- weighted_sum: shapes ------------------------------------------------------------------


def test_weighted_sum_rejects_weights_longer_than_matrix_rows() -> None:
    with pytest.raises(
        ValueError,
        match=mentions(argument("weights"), shape("(4,)"), argument("inputs"), r"\b3\b"),
    ):
        nr.weighted_sum(np.ones((2, 3)), np.ones(4))


def test_weighted_sum_rejects_vectors_of_different_lengths() -> None:
    with pytest.raises(
        ValueError,
        match=mentions(argument("weights"), shape("(4,)"), argument("inputs"), r"\b3\b"),
    ):
        nr.weighted_sum(np.ones(3), np.ones(4))


@pytest.mark.parametrize(
    ("inputs_shape", "weights_shape", "wrong"),
    [
        ((2, 2, 2), (2,), "inputs"),
        ((), (1,), "inputs"),
        ((2,), (2, 1), "weights"),
        ((2, 2), (), "weights"),
    ],
    ids=str,
)
def test_weighted_sum_rejects_wrong_rank_naming_argument(
    inputs_shape: tuple[int, ...], weights_shape: tuple[int, ...], wrong: str
) -> None:
    with pytest.raises(ValueError, match=argument(wrong)):
        nr.weighted_sum(np.ones(inputs_shape), np.ones(weights_shape))


# --- gradient kernels: shapes --------------------------------------------------------------


@pytest.mark.parametrize("function", ["relu_grad", "sigmoid_grad"])
def test_gradient_kernel_rejects_grad_of_another_shape(function: str) -> None:
    with pytest.raises(
        ValueError,
        match=mentions(argument("x"), argument("grad"), shape("(3,)"), shape("(4,)")),
    ):
        public_kernel(function)(np.ones(3), np.ones(4))


# --- linear: shapes ------------------------------------------------------------------------


def test_linear_rejects_weights_whose_rows_do_not_match_x_columns() -> None:
    with pytest.raises(
        ValueError, match=mentions(argument("weights"), shape("(4, 2)"), argument("x"), r"\b3\b")
    ):
        nr.linear(np.ones((2, 3)), np.ones((4, 2)))


def test_linear_rejects_bias_not_matching_weights_columns() -> None:
    with pytest.raises(ValueError, match=mentions(argument("bias"), shape("(3,)"), r"\b2\b")):
        nr.linear(np.ones((2, 3)), np.ones((3, 2)), np.ones(3))


@pytest.mark.parametrize(
    ("x_shape", "weights_shape", "bias_shape", "wrong"),
    [
        ((2, 2, 3), (3, 2), (2,), "x"),
        ((), (1, 1), (1,), "x"),
        ((2, 3), (3,), None, "weights"),
        ((2, 3), (3, 2, 1), None, "weights"),
        ((2, 3), (3, 2), (1, 2), "bias"),
        ((2, 3), (3, 2), (), "bias"),
    ],
    ids=str,
)
def test_linear_rejects_wrong_rank_naming_argument(
    x_shape: tuple[int, ...],
    weights_shape: tuple[int, ...],
    bias_shape: tuple[int, ...] | None,
    wrong: str,
) -> None:
    bias = None if bias_shape is None else np.ones(bias_shape)
    with pytest.raises(ValueError, match=argument(wrong)):
        nr.linear(np.ones(x_shape), np.ones(weights_shape), bias)


# --- out= ----------------------------------------------------------------------------------


def call_elementwise(function: str, out: Any) -> Any:
    return public_kernel(function)(*VALID[function].values(), out=out)


@pytest.mark.parametrize("function", ELEMENTWISE)
def test_out_of_another_shape_is_rejected(function: str) -> None:
    with pytest.raises(ValueError, match=mentions(argument("out"), shape("(4,)"), shape("(3,)"))):
        call_elementwise(function, np.empty(4))


@pytest.mark.parametrize("function", ELEMENTWISE)
@pytest.mark.parametrize("out_dtype", ["int64", "bool"])
def test_out_of_a_dtype_numpy_cannot_cast_into_is_rejected(function: str, out_dtype: str) -> None:
    with pytest.raises(ValueError, match=mentions(argument("out"), out_dtype)):
        call_elementwise(function, np.empty(3, dtype=out_dtype))


@pytest.mark.parametrize("function", ELEMENTWISE)
def test_strided_out_is_rejected(function: str) -> None:
    with pytest.raises(ValueError, match=mentions(argument("out"), "contiguous")):
        call_elementwise(function, np.empty(6)[::2])


@pytest.mark.parametrize("function", ELEMENTWISE)
def test_fortran_order_out_is_rejected(function: str) -> None:
    x = np.ones((2, 3))
    grad = [np.ones((2, 3))] if function.endswith("_grad") else []
    with pytest.raises(ValueError, match=mentions(argument("out"), "contiguous")):
        public_kernel(function)(x, *grad, out=np.empty((2, 3), order="F"))


@pytest.mark.parametrize("function", ELEMENTWISE)
def test_read_only_out_is_rejected(function: str) -> None:
    out = np.empty(3)
    out.flags.writeable = False
    with pytest.raises(ValueError, match=mentions(argument("out"), "(read-only|writ)")):
        call_elementwise(function, out)


@pytest.mark.parametrize("function", ELEMENTWISE)
@pytest.mark.parametrize("out", [[0.0, 0.0, 0.0], "abc", 3.0], ids=repr)
def test_out_that_is_not_an_ndarray_is_rejected(function: str, out: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=argument("out")):
        call_elementwise(function, out)


# --- threads -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1])
def test_set_num_threads_rejects_fewer_than_one_thread(restore_threads: None, count: int) -> None:
    with pytest.raises(ValueError, match=re.escape(str(count))):
        nr.set_num_threads(count)


@pytest.mark.parametrize("count", ["2", 2.5, None])
def test_set_num_threads_rejects_non_integers(restore_threads: None, count: Any) -> None:
    with pytest.raises(TypeError):
        nr.set_num_threads(count)


# --- backends ------------------------------------------------------------------------------


def test_get_backend_rejects_unknown_name_listing_the_valid_choices() -> None:
    with pytest.raises(ValueError, match=mentions("no-such", "'numpy'", "'rust'", "'torch-cuda'")):
        nr.get_backend("no-such")


# --- masked arrays -------------------------------------------------------------------------


def masked(array: Any) -> np.ma.MaskedArray:
    array = np.asarray(array)
    return np.ma.array(array, mask=np.zeros(array.shape, dtype=bool))


KERNEL_ARGUMENTS = {
    "weighted_sum": {"inputs": np.ones((2, 3)), "weights": np.ones(3)},
    "relu": {"x": np.ones(3)},
    "sigmoid": {"x": np.ones(3)},
    "step": {"x": np.ones(3)},
    "relu_grad": {"x": np.ones(3), "grad": np.ones(3)},
    "sigmoid_grad": {"x": np.ones(3), "grad": np.ones(3)},
    "linear": {"x": np.ones((2, 3)), "weights": np.ones((3, 4)), "bias": np.ones(4)},
}


def kernel_cases(dtype: str) -> list[Any]:
    return [
        pytest.param(kernel, name, dtype, id=f"{kernel}-{name}-{dtype}")
        for kernel, arguments in KERNEL_ARGUMENTS.items()
        for name in arguments
    ]


@pytest.mark.parametrize(
    ("kernel", "name", "dtype"), kernel_cases("int64") + kernel_cases("float64")
)
def test_kernels_refuse_masked_arrays_naming_the_argument(
    kernel: str, name: str, dtype: str
) -> None:
    arguments = dict(KERNEL_ARGUMENTS[kernel])
    arguments[name] = masked(arguments[name].astype(dtype))
    with pytest.raises(TypeError, match=rf"^{name} is a masked array"):
        public_kernel(kernel)(*arguments.values())


@pytest.mark.parametrize("kernel", ["relu", "sigmoid", "step"])
def test_kernels_refuse_a_masked_out(kernel: str) -> None:
    with pytest.raises(TypeError, match="out"):
        public_kernel(kernel)(np.ones(3), out=masked(np.empty(3)))


def test_the_issue_s_masked_weighted_sum_is_refused_not_wrong() -> None:
    inputs = np.ma.array([1, 10**9], mask=[0, 1])  # integers take the converting path
    with pytest.raises(TypeError, match="inputs is a masked array"):
        nr.weighted_sum(inputs, [1.0, 1.0])
