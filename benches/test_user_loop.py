"""Benchmarks of a user's own training loop at the tutorial net's size, two calls a step.

``net.gradients`` + ``net.step`` goes through the model API (validation,
conversions, the in-place update); ``mlp_gradients`` + ``mlp_step`` calls the
backend directly. The ``train_step`` workload in ``test_training.py`` takes
the same step through a backend's one-call ``mlp_train_step`` where it has one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import neurust as nr


def test_net_gradients_and_step(benchmark: Any, backend: nr.Backend) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(128, 1000)), rng.normal(size=(128, 1))
    net = nr.TwoLayerNet(1000, 100, 1, seed=0, backend=backend)

    def step() -> None:
        net.step(net.gradients(x, y), lr=1e-6)

    benchmark.group = "net.gradients + net.step 128x1000x100x1 float64"
    benchmark.extra_info.update(backend=backend.name, threads=nr.get_num_threads())
    benchmark(step)


def test_backend_gradients_and_step(benchmark: Any, backend: nr.Backend) -> None:
    rng = np.random.default_rng(0)
    x, y = (
        backend.from_numpy(a) for a in (rng.normal(size=(128, 1000)), rng.normal(size=(128, 1)))
    )
    net = nr.TwoLayerNet(1000, 100, 1, seed=0)
    state = {"params": {name: backend.from_numpy(p) for name, p in net.parameters().items()}}

    def step() -> None:
        _, grads = backend.mlp_gradients(x, y, state["params"], "relu", "sum")
        state["params"] = backend.mlp_step(state["params"], grads, 1e-6)

    benchmark.group = "mlp_gradients + mlp_step 128x1000x100x1 float64"
    benchmark.extra_info.update(backend=backend.name, threads=nr.get_num_threads())
    benchmark(step)
