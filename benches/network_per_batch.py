"""Microseconds per mini-batch: scikit-learn's MLP epoch against ``neurust._core.Network``'s.

Each (library, workload) runs in its own process at one thread (threadpoolctl for
scikit-learn's BLAS, ``NEURUST_NUM_THREADS=1`` for neurust), a few times; the table
gives the median µs per batch of each and their ratio. scikit-learn's figure is a
whole ``fit`` (its epochs, with its stopping rule switched off) divided by the
batches it ran; neurust's is a Python loop of ``Network.epoch`` calls, one shuffle
per epoch, divided the same way.

    python benches/network_per_batch.py [--repeats 5] [--workloads tabular,digits]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np

# name: (description, solver, epochs, batch size)
WORKLOADS: dict[str, tuple[str, str, int, int]] = {
    "tabular": ("20,000×10 → 64 → 1, adam, batch 200", "adam", 10, 200),
    "diabetes": ("diabetes, default parameters", "adam", 200, 200),
    "digits": ("digits 1,797×64 → 100 → 10, adam", "adam", 40, 200),
    "wide": ("8,192×256 → 512 → 256 → 1, sgd, batch 256", "sgd", 3, 256),
}


def data(name: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], bool]:
    """X, y (2-D), hidden sizes and whether it is a classification."""
    rng = np.random.default_rng(0)
    if name == "tabular":
        X = rng.standard_normal((20_000, 10))
        y = X @ rng.standard_normal((10, 1)) + 0.1 * rng.standard_normal((20_000, 1))
        return X, y, (64,), False
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        return X, y.reshape(-1, 1), (100,), False
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X / 16.0, y.reshape(-1, 1), (100,), True
    X = rng.standard_normal((8192, 256))
    y = np.tanh(X[:, :1]) + 0.1 * rng.standard_normal((8192, 1))
    return X, y, (512, 256), False


def batches_per_epoch(rows: int, batch: int) -> int:
    return -(-rows // min(batch, rows))


def run_sklearn(name: str) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from threadpoolctl import threadpool_limits

    _, solver, epochs, batch = WORKLOADS[name]
    X, y, hidden, classify = data(name)
    kind = MLPClassifier if classify else MLPRegressor
    est = kind(
        hidden_layer_sizes=hidden,
        solver=solver,
        batch_size=batch,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        random_state=0,
        **({"momentum": 0.9, "learning_rate_init": 1e-3} if solver == "sgd" else {}),
    )
    target = y[:, 0]
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, target)
        elapsed = time.perf_counter() - start
    return elapsed / (est.n_iter_ * batches_per_epoch(len(X), batch))


def run_neurust(name: str) -> float:
    import neurust  # noqa: F401  (loads OpenBLAS for the large products)
    from neurust._core import Network

    _, solver, epochs, batch = WORKLOADS[name]
    X, y, hidden, classify = data(name)
    if classify:
        classes = np.unique(y)
        y = (y == classes[None, :]).astype(np.float64)
        output, loss = "softmax", "log_loss"
    else:
        output, loss = "identity", "squared_error"
    sizes = [X.shape[1], *hidden, y.shape[1]]
    rng = np.random.RandomState(0)
    coefs, intercepts = [], []
    for a, b in itertools.pairwise(sizes):
        bound = np.sqrt(6.0 / (a + b))
        coefs.append(rng.uniform(-bound, bound, (a, b)))
        intercepts.append(rng.uniform(-bound, bound, b))
    X, y = np.ascontiguousarray(X), np.ascontiguousarray(y)
    net = Network(sizes, "relu", output, loss, "float64")
    if solver == "sgd":
        net.set_sgd(1e-3, 0.9, True)
    else:
        net.set_adam(1e-3, 0.9, 0.999, 1e-8)
    batch = min(batch, len(X))
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(X))
        net.epoch(X, y, None, coefs, intercepts, order, batch, 1e-4)
    elapsed = time.perf_counter() - start
    return elapsed / (epochs * batches_per_epoch(len(X), batch))


def child(library: str, name: str) -> None:
    seconds = run_sklearn(name) if library == "sklearn" else run_neurust(name)
    print(json.dumps({"us_per_batch": seconds * 1e6}))


def measure(library: str, name: str) -> float:
    env = {
        **os.environ,
        "NEURUST_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    argv = [sys.executable, __file__, "--child", library, name]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=True)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["us_per_batch"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "WORKLOAD"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    names = args.workloads.split(",")
    results: dict[str, dict[str, list[float]]] = {n: {"sklearn": [], "neurust": []} for n in names}
    for _ in range(args.repeats):
        for name in names:
            for library in ("sklearn", "neurust"):  # interleaved: both see the same load
                results[name][library].append(measure(library, name))
    print(f"one thread each, {args.repeats} processes per cell, median (min–max) µs per batch")
    print(f"{'workload':<46} {'sklearn':>22} {'neurust':>22} {'ratio':>7}")
    for name in names:
        cells: list[Any] = []
        for library in ("sklearn", "neurust"):
            times = results[name][library]
            cells.append(f"{statistics.median(times):8.1f} ({min(times):.1f}–{max(times):.1f})")
        ratio = statistics.median(results[name]["sklearn"]) / statistics.median(
            results[name]["neurust"]
        )
        print(f"{WORKLOADS[name][0]:<46} {cells[0]:>22} {cells[1]:>22} {ratio:6.1f}×")


if __name__ == "__main__":
    main()
