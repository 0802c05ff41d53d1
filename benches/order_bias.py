"""Does a backend's time depend on the one that ran before it? ``python benches/order_bias.py``.

Two measurements behind ``neurust compare``'s wait for idle thread pools:

1. the CPU time the process's other threads use in the 0.8 s after one
   512×512 product of each library (spinning BLAS/OpenMP pools);
2. one library's fit of the tutorial's net (100 steps) timed right after another
   library's fit, and after waiting for idle pools, alternating the two cases
   in one process so that a noisy machine slows both alike.

Libraries that are not installed are left out. Timings, not tests: nothing
here asserts a speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import neurust as nr
from neurust import compare
from neurust.compare.threads import _other_threads_cpu_ns, thread_limit, wait_until_idle


def _products(backends: dict[str, nr.Backend]) -> dict[str, Callable[[], Any]]:
    a = np.random.default_rng(0).standard_normal((512, 512))

    def product(backend: nr.Backend) -> Callable[[], Any]:
        x = backend.from_numpy(a)
        sync = compare.sync_hook(backend) or (lambda result: None)
        return lambda: sync(backend.linear(x, x))

    return {name: product(backend) for name, backend in backends.items()}


def spin_after_call(calls: dict[str, Callable[[], Any]]) -> None:
    """Print the other threads' CPU time in windows after one call of each library."""
    me = threading.get_native_id()
    edges = (0.05, 0.1, 0.2, 0.4, 0.8)
    print("CPU time (ms) of the other threads, from the end of one 512×512 product to:")
    for name, call in calls.items():
        call()
        wait_until_idle()
        call()
        start, begin = _other_threads_cpu_ns(me) or 0, time.perf_counter()
        used = []
        for edge in edges:
            time.sleep(max(0.0, begin + edge - time.perf_counter()))
            used.append(((_other_threads_cpu_ns(me) or 0) - start) / 1e6)
        cells = "  ".join(
            f"{edge * 1e3:.0f} ms: {ms:.0f}" for edge, ms in zip(edges, used, strict=True)
        )
        print(f"  after {name:6} {cells}")


def fit_after(backends: dict[str, nr.Backend], pairs: list[tuple[str, str]], runs: int) -> None:
    """Print a fit's median time right after another library's fit, and after the wait."""
    workload = compare.WORKLOADS["fit"]
    size = workload.parse_size("128x1000x100x1:100")
    inputs = workload.make_inputs(size, np.dtype("float64"), np.random.default_rng(0))
    calls = {name: workload.prepare(b, inputs, size).call for name, b in backends.items()}
    for call in calls.values():
        call()
    print(f"fit 128x1000x100x1:100, median of {runs}, the two cases alternating:")
    for target, before in pairs:
        if target not in calls or before not in calls:
            continue
        right_after: list[float] = []
        after_wait: list[float] = []
        for _ in range(runs):
            for wait, times in ((False, right_after), (True, after_wait)):
                calls[before]()
                if wait:
                    wait_until_idle()
                start = time.perf_counter()
                calls[target]()
                times.append(time.perf_counter() - start)
        quick, settled = statistics.median(right_after), statistics.median(after_wait)
        print(
            f"  {target} right after {before}: {quick * 1e3:.1f} ms; after the wait: "
            f"{settled * 1e3:.1f} ms; {quick / settled:.2f}×"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=compare.available_cores())
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    names = ["numpy", "rust"]
    names += [name for name in ("torch", "jax") if importlib.util.find_spec(name) is not None]
    compare.configure_jax_threads([args.threads])
    backends = {name: nr.get_backend(name) for name in names}
    with thread_limit(args.threads):
        spin_after_call(_products(backends))
        pairs = [("rust", "numpy"), ("rust", "torch"), ("numpy", "torch"), ("rust", "jax")]
        fit_after(backends, pairs, args.runs)


if __name__ == "__main__":
    main()
