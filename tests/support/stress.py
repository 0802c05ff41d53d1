"""Memory, threads and Ctrl-C, measured in child interpreters and threads (kernels and net).

The long variants run their full length under ``pytest --soak`` (see tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from support.children import Child, run_python

# How long SIGINT may take to stop a long call on this (shared, noisy) machine.
INTERRUPT_LIMIT_S = 2.0

THREADS = 8


def last_json(child: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON the child printed last; fails with its output if it died first."""
    assert child.returncode == 0, (
        f"child exited with {child.returncode}:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}"
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


MEMORY_CHILD = """
import gc, json, os, sys
import numpy as np, neurust as nr
from support.kernel_calls import CALL_KINDS, KERNELS, call_kind
from support.reference import public_kernel

page = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * page

{body}

calls = {calls}
run(max(calls // 10, 1000))  # warm-up: caches, thread pool, allocator arenas
gc.collect()
before, objects = rss(), len(gc.get_objects())
made = run(calls)
gc.collect()
print(json.dumps({{"calls": made, "rss_before": before, "rss_after": rss(),
                  "gc_objects_before": objects, "gc_objects_after": len(gc.get_objects())}}))
"""

# The case: weighted_sum and relu on small arrays, `n` times each.
SMALL_CALLS_BODY = """
def run(n):
    inputs, weights, x = np.ones((4, 3)), np.ones(3), np.ones(5)
    weighted_sum, relu = nr.weighted_sum, nr.relu
    for _ in range(n):
        weighted_sum(inputs, weights)
        weighted_sum(weights, weights)
        relu(x)
    return 3 * n
"""

# Every kernel, every kind of call (slow paths, out=, errors), about `n` calls in all.
EVERY_KIND_BODY = """
def run(n):
    cases = []
    for kernel in KERNELS:
        for kind in CALL_KINDS:
            arguments, keywords, error = call_kind(kernel, kind)
            cases.append((public_kernel(kernel), arguments, keywords))
    made = 0
    for _ in range(max(n // len(cases), 1)):
        for function, arguments, keywords in cases:
            try:
                function(*arguments, **keywords)
            except (ValueError, TypeError):
                pass
            made += 1
    return made
"""


def memory_run(body: str, calls: int) -> dict[str, Any]:
    """Runs ``body``'s ``run(calls)`` in a fresh interpreter after a warm-up; returns the
    resident memory and the number of gc-tracked objects before and after."""
    return last_json(run_python(MEMORY_CHILD.format(calls=calls, body=body), timeout=1800))


def assert_flat(counts: dict[str, Any], allowed_bytes: int) -> None:
    growth = counts["rss_after"] - counts["rss_before"]
    print(f"memory: {counts}, growth {growth / 2**20:.2f} MiB")
    assert growth <= allowed_bytes, f"resident memory grew {growth / 2**20:.2f} MiB: {counts}"
    assert counts["gc_objects_after"] - counts["gc_objects_before"] < 100, counts


def run_concurrently(task: Callable[[int], Any], count: int = THREADS) -> list[Any]:
    """Runs ``task(i)`` on ``count`` threads released together; returns results or raises."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = task(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


def assert_same_bits(actual: Any, expected: Any) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


INTERRUPT_CHILD = """
import json, sys, time
import numpy as np, neurust as nr
{setup}
print("ready", flush=True)
start = time.perf_counter()
try:
    {call}
    outcome = "completed"
except KeyboardInterrupt:
    outcome = "interrupted"
print(outcome, flush=True)  # the parent times the signal to this line
print(json.dumps({{"outcome": outcome, "seconds_in_call": time.perf_counter() - start,
                  {report}}}), flush=True)
"""


def interrupt_child(setup: str, call: str, report: str = "") -> tuple[dict[str, Any], float]:
    """Starts the child, sends SIGINT once it is inside ``call``; returns its report and
    the seconds from the signal until the call was left."""
    code = INTERRUPT_CHILD.format(
        setup=textwrap.dedent(setup).strip(), call=call, report=report or '"_": 0'
    )
    with Child(code, interruptible=True) as child:
        assert child.read_line(timeout=120, waiting_for='"ready"') == "ready"
        time.sleep(0.5)  # well inside the long call
        assert child.running(), "the call finished before the signal; make it longer"
        child.interrupt()
        sent = time.perf_counter()
        outcome = child.read_line(
            timeout=INTERRUPT_LIMIT_S,
            waiting_for="the end of the call after SIGINT: Ctrl-C was not honoured",
        )
        latency = time.perf_counter() - sent
        assert outcome == "interrupted", f"the call ended with {outcome!r} after SIGINT"
        report_line = child.read_line(timeout=300, waiting_for="the report")
        assert child.wait(timeout=60) == 0, child.stderr
    report_json = json.loads(report_line)
    print(f"SIGINT latency {latency * 1000:.0f} ms: {report_json}")
    return report_json, latency
