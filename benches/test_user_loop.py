"""Benchmark of a user's own training loop through the model API: ``net.gradients`` + ``net.step``.

The backend-level loop (``mlp_gradients`` + ``mlp_step``) is the ``train_step``
workload in ``test_training.py``; this one adds what the model layer does per
step (validation, conversions, the in-place update), at the seeds' size.
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
