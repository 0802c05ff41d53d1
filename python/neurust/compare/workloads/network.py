"""The network workloads: a dense layer, one training step of the two-layer net, a whole fit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from neurust.backends import Backend, TrainStep, capability
from neurust.compare.workloads.base import (
    Case,
    Inputs,
    Size,
    Workload,
    as_numpy,
    parse_count,
    parse_dims,
)

# linear ---------------------------------------------------------------------------------


def _linear_size(text: str) -> Size:
    if "x" not in text.lower():
        side = parse_count(text)
        return Size(text, (side, side, side))
    return Size(text, parse_dims(text, 3, "N or MxKxN (x: M×K, weights: K×N)"))


def _linear_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    rows, inner, cols = size.dims
    return {
        "x": rng.standard_normal((rows, inner)).astype(dtype),
        "weights": rng.standard_normal((inner, cols)).astype(dtype),
        "bias": rng.standard_normal(cols).astype(dtype),
    }


def _linear_prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
    x = backend.from_numpy(inputs["x"])
    weights = backend.from_numpy(inputs["weights"])
    bias = backend.from_numpy(inputs["bias"])
    kernel = backend.linear
    return Case(lambda: kernel(x, weights, bias), lambda out: as_numpy(backend, out))


LINEAR = Workload(
    name="linear",
    summary="a dense layer x @ W + b (GEMM)",
    size_help="N (an N×N·N×N product) or MxKxN, e.g. 512 or 128x1000x100",
    x_label="m·k·n (multiply-adds)",
    sizes=("4", "32", "64", "256", "512", "1k", "4k"),
    quick_sizes=("64", "512"),
    parse_size=_linear_size,
    make_inputs=_linear_inputs,
    prepare=_linear_prepare,
    x_value=lambda size: float(math.prod(size.dims)),
    flops=lambda size: 2.0 * math.prod(size.dims) + size.dims[0] * size.dims[2],
    bytes_moved=lambda size, item: float(
        item
        * (size.dims[0] * size.dims[1] + size.dims[1] * size.dims[2] + size.dims[0] * size.dims[2])
    ),
    throughput="GFLOP/s",
    python_limit=1 << 18,
)


# two-layer network: one training step, and the whole training loop ---------------------
#
# Both run the backends' own network (``mlp_*`` of the Backend protocol) on
# native arrays: a bias-free 2-layer ReLU net trained on the summed squared
# error, as in the tutorial. Each call continues from the parameters the previous
# call left (the Rust loop updates its arrays in place; the others return new
# ones), so every call does the same work; the first call starts from the same
# weights on every backend, and its result is what is checked against numpy.


def _net_size(text: str, *, with_steps: bool) -> Size:
    shape, _, steps = text.partition(":")
    what = "BATCHxINxHIDDENxOUT" + (":STEPS" if with_steps else "")
    example = "128x1000x100x1" + (":500" if with_steps else "")
    dims = parse_dims(shape, 4, f"{what} (e.g. {example})")
    if with_steps and not steps:
        raise ValueError(f"{text!r} has no step count; expected {what}, e.g. {example}")
    if steps and not with_steps:
        raise ValueError(f"{text!r} has a step count, but one call is one step; expected {what}")
    return Size(text, dims, parse_count(steps) if steps else 1)


def _net_flops(size: Size) -> float:
    """Forward, backward and update of a bias-free two-layer network, times the steps."""
    batch, inputs, hidden, outputs = size.dims
    # Products, at 2 flops a multiply-add: forward (X·W1, A·W2), weight
    # gradients (Xᵀ·dH, Aᵀ·dP) and the hidden gradient (dP·W2ᵀ); the inputs'
    # gradient is not needed.
    products = 2.0 * batch * (2 * inputs * hidden + 3 * hidden * outputs)
    elementwise = 4.0 * batch * (hidden + outputs) + 2.0 * (inputs * hidden + hidden * outputs)
    return size.steps * (products + elementwise)


def _net_bytes(size: Size, itemsize: int) -> float:
    """The data and the parameters, read once per step (a lower bound)."""
    batch, inputs, hidden, outputs = size.dims
    elements = batch * (inputs + outputs) + 2 * (inputs * hidden + hidden * outputs)
    return float(size.steps * itemsize * elements)


# Learning rates for the sizes the sweep names: the tutorial's own 1e-6 (at the edge
# of stability: 3e-6 diverges), and for the others about a third of the
# largest rate that stayed finite over three random draws in numpy.
_LEARNING_RATES: dict[tuple[int, ...], float] = {
    (4, 3, 8, 1): 1e-3,
    (64, 16, 32, 1): 3e-5,
    (128, 1000, 100, 1): 1e-6,
    (1024, 1024, 1024, 10): 3e-9,
}


def learning_rate(size: Size) -> float:
    """The learning rate ``fit`` and ``train_step`` use for a network of ``size``.

    The tutorial's 128×1000→100→1 net trains at its own 1e-6 on the summed squared
    error. Other sizes not in the table scale that rate inversely with batch ×
    inputs × hidden (the gradient grows about so), with a tenfold margin,
    capped at 1e-3.
    """
    known = _LEARNING_RATES.get(size.dims)
    if known is not None:
        return known
    batch, inputs, hidden, _ = size.dims
    return min(1e-3, 1e-7 * (128 * 1000 * 100) / (batch * inputs * hidden))


def _net_memory(size: Size, itemsize: int) -> float:
    """Data, targets, two copies of the parameters (weights and gradients), activations."""
    batch, inputs, hidden, outputs = size.dims
    parameters = inputs * hidden + hidden * outputs
    return float(itemsize * (batch * (inputs + 2 * outputs) + 2 * parameters + 3 * batch * hidden))


def _net_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    batch, inputs, hidden, outputs = size.dims
    # Standard-normal data, targets and weights, no biases: the tutorial's set-up.
    return {
        "x": rng.standard_normal((batch, inputs)).astype(dtype),
        "y": rng.standard_normal((batch, outputs)).astype(dtype),
        "w1": rng.standard_normal((inputs, hidden)).astype(dtype),
        "w2": rng.standard_normal((hidden, outputs)).astype(dtype),
    }


def _net_native(backend: Backend, inputs: Inputs) -> tuple[Any, Any, dict[str, Any]]:
    x = backend.from_numpy(inputs["x"])
    y = backend.from_numpy(inputs["y"])
    # Copies: a backend may train its parameter arrays in place (Rust does),
    # and the inputs are shared with the other backends.
    params = {name: backend.from_numpy(inputs[name].copy()) for name in ("w1", "w2")}
    return x, y, params


def _params_result(backend: Backend, params: Mapping[str, Any]) -> np.ndarray:
    return np.concatenate([as_numpy(backend, params[name]).ravel() for name in ("w1", "w2")])


def _train_step_prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
    x, y, params = _net_native(backend, inputs)
    lr = learning_rate(size)
    state = {"params": params}
    fused = capability(backend, TrainStep)  # a backend may fuse the step (JAX compiles it)
    train_step = None if fused is None else fused.mlp_train_step

    def call() -> Any:
        if train_step is not None:
            _, state["params"] = train_step(x, y, state["params"], "relu", "sum", lr)
        else:
            _, grads = backend.mlp_gradients(x, y, state["params"], "relu", "sum")
            state["params"] = backend.mlp_step(state["params"], grads, lr)
        return state["params"]

    return Case(call, lambda params: _params_result(backend, params))


def _fit_prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
    x, y, params = _net_native(backend, inputs)
    lr = learning_rate(size)
    state = {"params": params}

    def call() -> Any:
        state["params"], history = backend.mlp_fit(
            x, y, state["params"], activation="relu", steps=size.steps, lr=lr
        )
        return history

    return Case(call, lambda history: np.asarray(history, dtype=np.float64))


_NET_SIZES = ("4x3x8x1", "64x16x32x1", "128x1000x100x1", "1kx1kx1kx10")

TRAIN_STEP = Workload(
    name="train_step",
    summary="one gradient-descent step of a 2-layer ReLU net: forward, backward, update",
    size_help="BATCHxINxHIDDENxOUT, e.g. 128x1000x100x1 (the tutorial's net)",
    x_label="FLOP per call",
    sizes=_NET_SIZES,
    quick_sizes=("4x3x8x1", "128x1000x100x1"),
    parse_size=lambda text: _net_size(text, with_steps=False),
    make_inputs=_net_inputs,
    prepare=_train_step_prepare,
    x_value=_net_flops,
    flops=_net_flops,
    bytes_moved=_net_bytes,
    throughput="GFLOP/s",
    python_limit=2e6,
    memory=_net_memory,
)
FIT = Workload(
    name="fit",
    summary="the whole training loop: STEPS gradient-descent steps in one call",
    size_help="BATCHxINxHIDDENxOUT:STEPS, e.g. 4x3x8x1:10000 or 128x1000x100x1:500",
    x_label="FLOP per call",
    sizes=(
        "4x3x8x1:10000",
        "64x16x32x1:5000",
        "128x1000x100x1:500",
        "1kx1kx1kx10:20",
    ),
    quick_sizes=("4x3x8x1:10000", "128x1000x100x1:500"),
    parse_size=lambda text: _net_size(text, with_steps=True),
    make_inputs=_net_inputs,
    prepare=_fit_prepare,
    x_value=_net_flops,
    flops=_net_flops,
    bytes_moved=_net_bytes,
    throughput="GFLOP/s",
    python_limit=2e6,
    memory=_net_memory,
    # The loss curve, step by step: relative to each loss, since it falls
    # by orders of magnitude (down to the dtype's rounding floor), and
    # thousands of steps compound the rounding.
    check="elementwise",
    tolerance_scale=100.0,
)

NETWORK_WORKLOADS = (LINEAR, TRAIN_STEP, FIT)
"""The network workloads, in the order the table shows them."""
