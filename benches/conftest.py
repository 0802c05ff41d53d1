"""The pytest-benchmark suite's fixtures: every backend, one thread count, one runner.

A benchmark asks for ``backend`` (every backend, parametrized) and ``bench``
(the runner) and calls ``bench(backend, "relu", "1M")``.

The workloads are the comparison's own (:data:`neurust.compare.WORKLOADS`), so
a benchmark here and a row of ``neurust compare`` time the same call on the
same inputs. Every backend runs with the same thread count: all usable cores,
or ``NEURUST_BENCH_THREADS``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import compare
from neurust.backends import KNOWN_BACKENDS

THREADS = int(os.environ.get("NEURUST_BENCH_THREADS", compare.available_cores()))
JAX_THREADS = compare.configure_jax_threads([THREADS])

# A call slower than this is timed in a few single-call rounds instead of
# pytest-benchmark's calibrated batches, to keep the suite within minutes.
SLOW_CALL_S = 0.1
SLOW_ROUNDS = 3

_BACKENDS, _UNAVAILABLE = compare.load_backends(KNOWN_BACKENDS)


@pytest.fixture(scope="session", autouse=True)
def same_threads_for_every_backend() -> Iterator[None]:
    """neurust, torch and every BLAS pool run with ``THREADS`` threads."""
    with compare.thread_limit(THREADS):
        yield


@pytest.fixture(scope="session", params=KNOWN_BACKENDS)
def backend(request: pytest.FixtureRequest) -> nr.Backend:
    """Every backend that can run here; the others skip, saying why."""
    name = request.param
    if name in _UNAVAILABLE:
        pytest.skip(_UNAVAILABLE[name])
    return _BACKENDS[name]


@functools.cache
def _inputs_and_reference(
    workload_name: str, size_text: str, dtype: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The inputs of one benchmark (the same for every backend) and numpy's result."""
    workload = compare.WORKLOADS[workload_name]
    size = workload.parse_size(size_text)
    inputs = workload.make_inputs(size, np.dtype(dtype), np.random.default_rng(0))
    reference_case = workload.prepare(_BACKENDS["numpy"], inputs, size)
    return inputs, reference_case.result(reference_case.call())


@pytest.fixture
def bench(benchmark: Any) -> Callable[..., None]:
    """``bench(backend, workload, size, dtype="float64")``: check, then benchmark one call."""

    def run(backend: nr.Backend, workload: str, size: str, dtype: str = "float64") -> None:
        _bench_workload(benchmark, backend, workload, size, dtype)

    return run


def _bench_workload(
    benchmark: Any, backend: nr.Backend, workload_name: str, size_text: str, dtype: str
) -> None:
    """Benchmark one workload at one size on one backend, after checking it against numpy.

    The benchmark's group is ``"<workload> <size> <dtype>"``, so that
    pytest-benchmark's table puts the backends of one size side by side;
    ``extra_info`` records the backend, dtype, thread count, FLOPs, bytes and
    the GFLOP/s and GB/s of the median. Nothing here asserts a time.
    """
    workload = compare.WORKLOADS[workload_name]
    size = workload.parse_size(size_text)
    reason = compare.skip_reason(workload, size, dtype, THREADS, backend, JAX_THREADS)
    if reason is not None:
        pytest.skip(reason)
    inputs, expected = _inputs_and_reference(workload_name, size_text, dtype)

    case = workload.prepare(backend, inputs, size)
    sync = compare.sync_hook(backend)
    if sync is None:
        call = case.call
    else:

        def call() -> Any:
            result = case.call()
            sync(result)
            return result

    start = time.perf_counter()
    first = call()  # the warm-up call: compiles (JAX), starts threads; checked below
    first_call_s = time.perf_counter() - start
    floor = float(np.finfo(dtype).eps)
    error = compare.max_error(case.result(first), expected, workload.check, floor=floor)
    tolerance = compare.TOLERANCE[dtype] * workload.tolerance_scale
    assert error <= tolerance, f"{backend.name} differs from numpy by {error:.2g}"

    itemsize = np.dtype(dtype).itemsize
    flops = workload.flops(size) if workload.flops else None
    moved = workload.bytes_moved(size, itemsize) if workload.bytes_moved else None
    benchmark.group = f"{workload_name} {size_text} {dtype}"
    benchmark.extra_info.update(
        backend=backend.name,
        device=backend.device,
        dtype=dtype,
        threads=THREADS,
        workload=workload_name,
        size=size_text,
        flops=flops,
        bytes=moved,
    )
    if first_call_s > SLOW_CALL_S:
        benchmark.pedantic(call, rounds=SLOW_ROUNDS, iterations=1, warmup_rounds=0)
    else:
        benchmark(call)
    if benchmark.stats is None:  # --benchmark-disable: the call ran once, untimed
        return
    median = benchmark.stats.stats.median
    if median > 0:
        benchmark.extra_info["gflops_per_s"] = flops / median / 1e9 if flops else None
        benchmark.extra_info["gbytes_per_s"] = moved / median / 1e9 if moved else None
