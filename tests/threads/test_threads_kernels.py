"""Eight threads calling every kernel get the bits of the same work done one after another;
SIGINT (Ctrl-C) stops a large ``linear`` promptly."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support.kernel_calls import (
    ELEMENTWISE,
    KERNELS,
    LARGE,
    SMALL,
)
from support.reference import public_kernel
from support.stress import (
    INTERRUPT_LIMIT_S,
    assert_same_bits,
    interrupt_child,
    run_concurrently,
)

# --- threads -------------------------------------------------------------------------------


def kernel_workload() -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """Every kernel at both sizes and dtypes, with fixed inputs."""
    work = []
    for seed, kernel in enumerate(KERNELS):
        for size in (SMALL, LARGE):
            for dtype in (np.float64, np.float32):
                work.append((kernel, KERNELS[kernel](size, dtype, 10 * seed)))
    return work


@pytest.mark.soak
def test_eight_threads_calling_every_kernel_at_once_match_sequential_results(soak: bool) -> None:
    work = kernel_workload()
    sequential = [public_kernel(kernel)(*arguments) for kernel, arguments in work]
    rounds = 20 if soak else 3

    def task(i: int) -> list[Any]:
        order = work[i:] + work[:i]  # each thread starts on a different kernel
        results = []
        for _ in range(rounds):
            results.append([public_kernel(kernel)(*arguments) for kernel, arguments in order])
        return results

    for i, per_thread in enumerate(run_concurrently(task)):
        expected = sequential[i:] + sequential[:i]
        for results in per_thread:
            for actual, wanted in zip(results, expected, strict=True):
                assert_same_bits(actual, wanted)


def test_eight_threads_writing_to_their_own_out_arrays_match_sequential_results() -> None:
    inputs = {kernel: KERNELS[kernel](LARGE, np.float64, 20) for kernel in ELEMENTWISE}
    sequential = {kernel: public_kernel(kernel)(*inputs[kernel]) for kernel in ELEMENTWISE}

    def task(i: int) -> dict[str, np.ndarray]:
        outs = {}
        for kernel in ELEMENTWISE[i % 5 :] + ELEMENTWISE[: i % 5]:
            outs[kernel] = np.empty(LARGE)
            public_kernel(kernel)(*inputs[kernel], out=outs[kernel])
        return outs

    for outs in run_concurrently(task):
        for kernel in ELEMENTWISE:
            assert_same_bits(outs[kernel], sequential[kernel])


def test_changing_the_thread_count_while_kernels_run_changes_no_result(
    restore_threads: None,
) -> None:
    work = kernel_workload()
    sequential = [public_kernel(kernel)(*arguments) for kernel, arguments in work]
    stop = threading.Event()
    swapping = threading.Event()

    def task(i: int) -> Any:
        if i == 0:  # one thread keeps swapping the pool under the others
            count = 0
            while not stop.is_set():
                nr.set_num_threads(1 + count % 3)
                count += 1
                swapping.set()
            return count
        try:
            # The kernels start once the pool is being swapped, however the threads are scheduled.
            assert swapping.wait(timeout=60), "the swapping thread never ran"
            return [
                public_kernel(kernel)(*arguments) for _ in range(2) for kernel, arguments in work
            ]
        finally:
            if i == 1:
                stop.set()

    results = run_concurrently(task, 4)
    assert results[0] > 0
    for per_thread in results[1:]:
        for actual, wanted in zip(per_thread, sequential * 2, strict=True):
            assert_same_bits(actual, wanted)


# --- interrupts ----------------------------------------------------------------------------


def test_ctrl_c_stops_a_large_linear_promptly() -> None:
    # 6144² · 6144² in float32: 0.46 TFLOP, many seconds on this machine, ~0.5 GB in all
    report, latency = interrupt_child(
        setup="""
        x = np.ones((6144, 6144), np.float32)
        weights = np.ones((6144, 6144), np.float32)
        """,
        call="nr.linear(x, weights)",
    )
    assert report["outcome"] == "interrupted"
    assert latency < INTERRUPT_LIMIT_S
