"""The vector workloads: a layer's weighted sum, and elementwise relu, sigmoid and copies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from neurust._tutorial import GAME_WEIGHTS, games
from neurust.backends import Backend, CopyInto, ReluInto, capability, missing_capability
from neurust.compare.workloads.base import (
    Case,
    Inputs,
    Size,
    Workload,
    as_numpy,
    parse_count,
    parse_dims,
)

# weighted_sum ---------------------------------------------------------------------------


def _weighted_sum_size(text: str) -> Size:
    if text.lower() == "toes":
        return Size("toes", games().shape)
    return Size(text, parse_dims(text, 2, "ROWSxCOLS (e.g. 1kx1k) or 'toes'"))


def _weighted_sum_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    if size.label == "toes":
        return {"inputs": games(dtype), "weights": np.array(GAME_WEIGHTS, dtype=dtype)}
    rows, cols = size.dims
    return {
        "inputs": rng.standard_normal((rows, cols)).astype(dtype),
        "weights": rng.standard_normal(cols).astype(dtype),
    }


def _weighted_sum_prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
    matrix = backend.from_numpy(inputs["inputs"])
    weights = backend.from_numpy(inputs["weights"])
    kernel = backend.weighted_sum
    return Case(lambda: kernel(matrix, weights), lambda out: as_numpy(backend, out))


WEIGHTED_SUM = Workload(
    name="weighted_sum",
    summary="a layer of neurons: matrix · weight vector (the tutorial's toes data first)",
    size_help="ROWSxCOLS, e.g. 4x3 or 1kx1k, or 'toes' (the tutorial's 4x3 data)",
    x_label="matrix elements",
    sizes=("toes", "64x64", "512x512", "1kx1k", "4kx4k"),
    quick_sizes=("toes", "64x64", "1kx1k"),
    parse_size=_weighted_sum_size,
    make_inputs=_weighted_sum_inputs,
    prepare=_weighted_sum_prepare,
    x_value=lambda size: float(size.dims[0] * size.dims[1]),
    flops=lambda size: 2.0 * size.dims[0] * size.dims[1],
    bytes_moved=lambda size, item: float(item * (size.dims[0] + 1) * (size.dims[1] + 1)),
    throughput="GFLOP/s",
    python_limit=1 << 20,
)


# elementwise: relu, sigmoid, relu with out=, copy ---------------------------------------


def _elements_size(text: str) -> Size:
    return Size(text, (parse_count(text),))


def _elements_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    return {"x": rng.standard_normal(size.dims[0]).astype(dtype)}


def _elementwise_prepare(
    kernel_of: Callable[[Backend], Callable[[Any], Any]],
) -> Callable[[Backend, Inputs, Size], Case]:
    def prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
        x = backend.from_numpy(inputs["x"])
        kernel = kernel_of(backend)
        return Case(lambda: kernel(x), lambda out: as_numpy(backend, out))

    return prepare


def _require(backend: Backend, kind: type) -> Any:
    """``backend`` as the optional capability ``kind``; NotImplementedError saying why not."""
    able = capability(backend, kind)
    if able is None:
        raise NotImplementedError(missing_capability(backend, kind))
    return able


def _relu_into(backend: Backend) -> Callable[[Any, Any], Any]:
    """relu of x written into out, for the backends whose arrays can be written."""
    return _require(backend, ReluInto).relu_into


def _copy_into(backend: Backend) -> Callable[[Any, Any], Any]:
    """x copied into out: the bandwidth an elementwise kernel with out= can reach."""
    return _require(backend, CopyInto).copy_into


def _into_prepare(
    kernel_for: Callable[[Backend], Callable[[Any, Any], Any]],
) -> Callable[[Backend, Inputs, Size], Case]:
    def prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
        x = backend.from_numpy(inputs["x"])
        out = backend.from_numpy(np.zeros_like(inputs["x"]))
        kernel = kernel_for(backend)

        def call() -> Any:
            kernel(x, out)
            return out

        return Case(call, lambda written: as_numpy(backend, written))

    return prepare


_ELEMENT_SIZES = ("4", "1k", "64k", "1M", "16M")


def _elementwise(
    name: str,
    summary: str,
    prepare: Callable[[Backend, Inputs, Size], Case],
    *,
    quick: tuple[str, ...],
    flops_per_element: float | None,
    requires: type | None = None,
    in_quick: bool = True,
) -> Workload:
    return Workload(
        name=name,
        summary=summary,
        size_help="N elements, e.g. 4, 1k (1024), 16M (16·2²⁰)",
        x_label="elements",
        sizes=_ELEMENT_SIZES,
        quick_sizes=quick,
        parse_size=_elements_size,
        make_inputs=_elements_inputs,
        prepare=prepare,
        x_value=lambda size: float(size.dims[0]),
        flops=None
        if flops_per_element is None
        else (lambda size: flops_per_element * size.dims[0]),
        bytes_moved=lambda size, item: 2.0 * item * size.dims[0],  # read x, write the result
        throughput="GB/s",
        python_limit=1 << 18,
        requires=requires,
        in_quick=in_quick,
    )


RELU = _elementwise(
    "relu",
    "max(x, 0) of a vector, into a new array",
    _elementwise_prepare(lambda backend: backend.relu),
    quick=("4", "64k", "1M"),
    flops_per_element=1,
)
SIGMOID = _elementwise(
    "sigmoid",
    "1 / (1 + exp(-x)) of a vector, into a new array",
    _elementwise_prepare(lambda backend: backend.sigmoid),
    quick=("4", "64k"),
    flops_per_element=4,
)
RELU_OUT = _elementwise(
    "relu_out",
    "max(x, 0) into a preallocated array (out=): the bandwidth-bound case",
    _into_prepare(_relu_into),
    quick=("16M",),
    flops_per_element=1,
    requires=ReluInto,
    in_quick=False,
)
COPY = _elementwise(
    "copy",
    "copy into a preallocated array: the memory-bandwidth ceiling for relu_out",
    _into_prepare(_copy_into),
    quick=("16M",),
    flops_per_element=None,
    requires=CopyInto,
    in_quick=False,
)

VECTOR_WORKLOADS = (WEIGHTED_SUM, RELU, SIGMOID, RELU_OUT, COPY)
"""The vector workloads, in the order the table shows them."""
