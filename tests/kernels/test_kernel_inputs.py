"""Kernels never modify their inputs; ``out=`` may alias an input; reference counts stay put.

Inputs are never modified, except ``out=`` (which may alias an input); a bad ``out=``
raises ``ValueError`` and is left as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from support.kernel_calls import (
    CALL_KINDS,
    ELEMENTWISE,
    GRADIENTS,
    KERNELS,
    LARGE,
    SMALL,
    UNARY,
    call_kind,
    normal,
)
from support.reference import public_kernel, with_layout

# --- inputs are never modified -------------------------------------------------------------


@pytest.mark.parametrize("layout", ["C", "F", "strided", "reversed", "unaligned"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_kernel_leaves_its_inputs_unchanged(
    kernel: str, size: int, dtype: Any, layout: str
) -> None:
    arguments = [with_layout(a, layout) for a in KERNELS[kernel](size, dtype, 1)]
    before = [(a.tobytes(), a.strides, a.flags.writeable) for a in arguments]
    public_kernel(kernel)(*arguments)
    assert [(a.tobytes(), a.strides, a.flags.writeable) for a in arguments] == before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", GRADIENTS)
def test_gradient_kernel_with_out_leaves_x_and_grad_unchanged(kernel: str, size: int) -> None:
    x, grad = KERNELS[kernel](size, np.float64, 2)
    x_before, grad_before = x.copy(), grad.copy()
    public_kernel(kernel)(x, grad, out=np.empty_like(x))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(grad, grad_before)


# --- out= may alias an input; a bad out= is refused and left alone --------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", UNARY)
def test_out_may_be_the_input_itself(kernel: str, size: int, dtype: Any) -> None:
    x = normal(size, dtype, 3)
    expected = public_kernel(kernel)(x.copy())
    result = public_kernel(kernel)(x, out=x)
    assert result is x
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("target", ["x", "grad"])
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", GRADIENTS)
def test_gradient_out_may_be_x_or_grad(kernel: str, size: int, target: str) -> None:
    x, grad = KERNELS[kernel](size, np.float64, 4)
    expected = public_kernel(kernel)(x.copy(), grad.copy())
    out = x if target == "x" else grad
    assert public_kernel(kernel)(x, grad, out=out) is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("shift", [-3, -1, 1, 3])
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_out_partly_overlapping_the_inputs_gives_the_answer_for_their_old_values(
    kernel: str, size: int, shift: int
) -> None:
    buffer = normal(size + 6, np.float64, 5)
    x = buffer[3 : 3 + size]
    out = buffer[3 + shift : 3 + shift + size]
    arguments = (x,) if kernel in UNARY else (x, buffer[:size])
    expected = public_kernel(kernel)(*(a.copy() for a in arguments))
    public_kernel(kernel)(*arguments, out=out)
    np.testing.assert_array_equal(out, expected)


BAD_OUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "wrong-shape": lambda x: np.full(x.size + 1, 7.0),
    "wrong-dtype": lambda x: np.full(x.shape, True),  # numpy's same_kind casts no float to bool
    "integer": lambda x: np.full(x.shape, 7, np.int64),
    "read-only": lambda x: np.full(x.shape, 7.0),  # made read-only in the test
    "strided": lambda x: with_layout(np.full(x.shape, 7.0), "strided"),
    "reversed": lambda x: with_layout(np.full(x.shape, 7.0), "reversed"),
    "unaligned": lambda x: with_layout(np.full(x.shape, 7.0), "unaligned"),
}


@pytest.mark.parametrize("bad", list(BAD_OUTS))
@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_bad_out_raises_value_error_naming_out_and_is_not_written(kernel: str, bad: str) -> None:
    arguments = KERNELS[kernel](SMALL, np.float64, 6)
    out = BAD_OUTS[bad](arguments[0])
    if bad == "read-only":
        out.flags.writeable = False
    before = out.copy()
    with pytest.raises(ValueError, match=r"\bout\b"):
        public_kernel(kernel)(*arguments, out=out)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_out_is_not_written_when_an_input_is_refused(kernel: str) -> None:
    arguments = list(KERNELS[kernel](SMALL, np.float64, 7))
    arguments[-1] = np.array(["a"] * SMALL)
    out = np.full(SMALL, 7.0)
    with pytest.raises(TypeError):
        public_kernel(kernel)(*arguments, out=out)
    np.testing.assert_array_equal(out, 7.0)


# --- reference counts and resident memory --------------------------------------------------


@pytest.mark.parametrize("kind", CALL_KINDS)
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_call_leaves_reference_counts_of_its_arguments_unchanged(kernel: str, kind: str) -> None:
    arguments, keywords, error = call_kind(kernel, kind)
    objects = [*arguments, *keywords.values()]
    function = public_kernel(kernel)
    for _ in range(3):  # first calls may fill caches (imports, dtype objects)
        try:
            function(*arguments, **keywords)
        except (ValueError, TypeError):
            pass
    before = [sys.getrefcount(a) for a in objects]
    out_references = sys.getrefcount(keywords.get("out"))
    for _ in range(100):
        if error is None:
            result = function(*arguments, **keywords)
            if "out" in keywords:  # the result is out itself: one more reference, `result`
                assert result is keywords["out"]
                assert sys.getrefcount(result) == out_references + 1
            else:  # referenced by `result` and getrefcount's argument, nothing else
                assert sys.getrefcount(result) == 2
            del result
        else:
            with pytest.raises(error):
                function(*arguments, **keywords)
    assert [sys.getrefcount(a) for a in objects] == before
