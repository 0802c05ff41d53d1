"""Reliability: inputs stay untouched, memory stays flat, threads and Ctrl-C are safe.

What the tests prove (issue 6), each section one promise:

- inputs are never modified, except ``out=`` (which may alias an input) and a model's own
  parameters; a bad ``out=`` raises ``ValueError`` and is left as it was;
- resident memory is flat over many calls and fits, and reference counts do not move;
- an impossible allocation raises ``MemoryError`` or ``ValueError``, never aborts (checked
  in a child interpreter with a capped address space, so nothing large is ever allocated);
- eight threads calling every kernel at once, or fitting eight networks at once, give the
  same bits as the same work done one after another; one network shared by two threads is
  never corrupted;
- SIGINT (Ctrl-C) stops a large ``linear`` and a long ``fit`` promptly;
- sigmoid never overflows, huge values give inf rather than a crash, float32 agrees with
  float64.

The long variants run their full length under ``pytest --soak`` (see tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support.children import Child, run_python
from support.reference import ELEMENTWISE as REFERENCE_ELEMENTWISE
from support.reference import RTOL, with_layout

# Sizes: SMALL keeps the GIL and one thread; LARGE is past the GIL-release (32k elements)
# and the sigmoid's threading (64k) cut-offs and not a multiple of any chunk length.
SMALL = 7
LARGE = 200_003

# Calls in the memory soak: the CI run, and --soak (the 1,000,000).
CALLS = 100_000
SOAK_CALLS = 1_000_000

# How long SIGINT may take to stop a long call on this (shared, noisy) machine.
INTERRUPT_LIMIT_S = 2.0


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def normal(shape: int | tuple[int, ...], dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    return rng(seed).normal(0.0, 3.0, size=shape).astype(dtype)


# Every kernel with arguments of a given size: name -> builder(size, dtype, seed) -> args.
def _elementwise(arity: int) -> Callable[[int, Any, int], tuple[np.ndarray, ...]]:
    return lambda n, dtype, seed: tuple(normal(n, dtype, seed + i) for i in range(arity))


def _weighted_sum(n: int, dtype: Any, seed: int) -> tuple[np.ndarray, ...]:
    columns = 64 if n > SMALL else 3
    return normal((max(n // columns, 1), columns), dtype, seed), normal(columns, dtype, seed + 1)


def _linear(n: int, dtype: Any, seed: int) -> tuple[np.ndarray, ...]:
    side = 97 if n > SMALL else 3
    return (
        normal((side, side), dtype, seed),
        normal((side, side + 1), dtype, seed + 1),
        normal(side + 1, dtype, seed + 2),
    )


KERNELS: dict[str, Callable[[int, Any, int], tuple[np.ndarray, ...]]] = {
    "weighted_sum": _weighted_sum,
    "linear": _linear,
    "relu": _elementwise(1),
    "sigmoid": _elementwise(1),
    "step": _elementwise(1),
    "relu_grad": _elementwise(2),
    "sigmoid_grad": _elementwise(2),
}
UNARY = ["relu", "sigmoid", "step"]
GRADIENTS = ["relu_grad", "sigmoid_grad"]
ELEMENTWISE = UNARY + GRADIENTS


def last_json(child: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON the child printed last; fails with its output if it died first."""
    assert child.returncode == 0, (
        f"child exited with {child.returncode}:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}"
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


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
    getattr(nr, kernel)(*arguments)
    assert [(a.tobytes(), a.strides, a.flags.writeable) for a in arguments] == before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", GRADIENTS)
def test_gradient_kernel_with_out_leaves_x_and_grad_unchanged(kernel: str, size: int) -> None:
    x, grad = KERNELS[kernel](size, np.float64, 2)
    x_before, grad_before = x.copy(), grad.copy()
    getattr(nr, kernel)(x, grad, out=np.empty_like(x))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(grad, grad_before)


# --- out= may alias an input; a bad out= is refused and left alone --------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", UNARY)
def test_out_may_be_the_input_itself(kernel: str, size: int, dtype: Any) -> None:
    x = normal(size, dtype, 3)
    expected = getattr(nr, kernel)(x.copy())
    result = getattr(nr, kernel)(x, out=x)
    assert result is x
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("target", ["x", "grad"])
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
@pytest.mark.parametrize("kernel", GRADIENTS)
def test_gradient_out_may_be_x_or_grad(kernel: str, size: int, target: str) -> None:
    x, grad = KERNELS[kernel](size, np.float64, 4)
    expected = getattr(nr, kernel)(x.copy(), grad.copy())
    out = x if target == "x" else grad
    assert getattr(nr, kernel)(x, grad, out=out) is out
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
    expected = getattr(nr, kernel)(*(a.copy() for a in arguments))
    getattr(nr, kernel)(*arguments, out=out)
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
        getattr(nr, kernel)(*arguments, out=out)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_out_is_not_written_when_an_input_is_refused(kernel: str) -> None:
    arguments = list(KERNELS[kernel](SMALL, np.float64, 7))
    arguments[-1] = np.array(["a"] * SMALL)
    out = np.full(SMALL, 7.0)
    with pytest.raises(TypeError):
        getattr(nr, kernel)(*arguments, out=out)
    np.testing.assert_array_equal(out, 7.0)


# --- reference counts and resident memory --------------------------------------------------

# One call of each kind, by name: fast path, slow path (lists, ints, strided), out=, errors.
CALL_KINDS = ["fast", "list", "int", "strided", "float32", "out", "shape-error", "type-error"]


def _call_kind(kernel: str, kind: str) -> tuple[tuple[Any, ...], dict[str, Any], Any]:
    """Arguments for ``kernel`` of one kind, and the error expected (or None)."""
    arguments: list[Any] = list(KERNELS[kernel](SMALL, np.float64, 8))
    keywords: dict[str, Any] = {}
    error: Any = None
    if kind == "list":
        arguments[0] = arguments[0].tolist()
    elif kind == "int":
        arguments[0] = arguments[0].astype(np.int64)
    elif kind == "strided":
        arguments[0] = with_layout(arguments[0], "strided")
    elif kind == "float32":
        arguments = [a.astype(np.float32) for a in arguments]
    elif kind == "out":
        if kernel not in ELEMENTWISE:
            return _call_kind(kernel, "fast")
        keywords["out"] = np.empty_like(arguments[0])
    elif kind == "shape-error":
        if kernel in UNARY:
            keywords["out"] = np.empty(SMALL + 2)
        else:
            arguments[-1] = np.ones(SMALL + 2)
        error = ValueError
    elif kind == "type-error":
        arguments[-1] = np.array(["a"] * SMALL)
        error = TypeError
    return tuple(arguments), keywords, error


@pytest.mark.parametrize("kind", CALL_KINDS)
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_call_leaves_reference_counts_of_its_arguments_unchanged(kernel: str, kind: str) -> None:
    arguments, keywords, error = _call_kind(kernel, kind)
    objects = [*arguments, *keywords.values()]
    function = getattr(nr, kernel)
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


MEMORY_CHILD = """
import gc, json, os, sys
import numpy as np, neurust as nr
from test_reliability import CALL_KINDS, KERNELS, _call_kind

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
            arguments, keywords, error = _call_kind(kernel, kind)
            cases.append((getattr(nr, kernel), arguments, keywords))
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


@pytest.mark.soak
def test_resident_memory_stays_flat_over_many_small_weighted_sum_and_relu_calls(
    soak: bool,
) -> None:
    calls = SOAK_CALLS if soak else CALLS
    counts = memory_run(SMALL_CALLS_BODY, calls)
    assert counts["calls"] == 3 * calls
    # 2 MiB over 300,000+ calls is under 7 bytes a call: any leaked object would show.
    assert_flat(counts, 2 * 2**20)


@pytest.mark.soak
def test_resident_memory_stays_flat_over_every_kind_of_call_and_error(soak: bool) -> None:
    calls = SOAK_CALLS if soak else CALLS // 2
    counts = memory_run(EVERY_KIND_BODY, calls)
    assert counts["calls"] >= calls * 0.9
    assert_flat(counts, 2 * 2**20)


# --- impossible allocations ----------------------------------------------------------------

# Each runs in a child whose address space is capped (RLIMIT_AS), so an allocation far beyond
# memory fails at once instead of being granted lazily and touched; nothing large is ever
# really allocated on this machine.
IMPOSSIBLE = {
    # results of 8 TiB, from inputs of a few bytes (zero-length inner dimension)
    "weighted_sum-8TiB-result": "nr.weighted_sum(np.empty((2**40, 0)), np.empty(0))",
    "linear-8TiB-result": "nr.linear(np.empty((2**20, 0)), np.empty((0, 2**20)))",
    "linear-float32-4TiB-result": (
        "nr.linear(np.empty((2**20, 0), np.float32), np.empty((0, 2**20), np.float32))"
    ),
    # a result whose element count overflows 64 bits
    "linear-overflowing-result": "nr.linear(np.empty((2**40, 0)), np.empty((0, 2**40)))",
    # broadcast (zero-stride) inputs that must be copied to 8 TiB to be made contiguous
    "relu-broadcast-input": "nr.relu(np.broadcast_to(1.0, (2**20, 2**20)))",
    "relu_grad-broadcast-input": (
        "nr.relu_grad(np.broadcast_to(1.0, (2**20, 2**20)), np.broadcast_to(1.0, (2**20, 2**20)))"
    ),
    "weighted_sum-broadcast-input": (
        "nr.weighted_sum(np.broadcast_to(1.0, (2**20, 2**20)), np.ones(2**20))"
    ),
    "linear-broadcast-weights": (
        "nr.linear(np.ones((2, 2**20)), np.broadcast_to(1.0, (2**20, 2**20)))"
    ),
    # a network whose hidden layer for this batch would be 32 TiB
    "TwoLayerNet-fit-huge-workspace": (
        "net = nr.TwoLayerNet(1, 2**22, 1, seed=0); "
        "net.fit(np.ones((2**20, 1)), np.ones((2**20, 1)), 1, 0.0)"
    ),
    "TwoLayerNet-forward-huge-hidden-layer": (
        "nr.TwoLayerNet(1, 2**22, 1, seed=0)(np.ones((2**20, 1)))"
    ),
    "TwoLayerNet-loss-huge-hidden-layer": (
        "nr.TwoLayerNet(1, 2**22, 1, seed=0).loss(np.ones((2**20, 1)), np.ones((2**20, 1)))"
    ),
    "TwoLayerNet-gradients-huge-hidden-layer": (
        "nr.TwoLayerNet(1, 2**22, 1, seed=0).gradients(np.ones((2**20, 1)), np.ones((2**20, 1)))"
    ),
    # a loss history of 8 TB
    "TwoLayerNet-fit-10**12-steps": (
        "nr.TwoLayerNet(2, 2, 1, seed=0).fit(np.ones((1, 2)), np.ones((1, 1)), 10**12, 0.0)"
    ),
    # weights of 8 TiB, and weights whose element count overflows
    "TwoLayerNet-huge-weights": "nr.TwoLayerNet(2**20, 2**20, 1)",
    "TwoLayerNet-overflowing-weights": "nr.TwoLayerNet(2**40, 2**40, 1)",
}
ADDRESS_SPACE_LIMIT = 6 * 2**30

IMPOSSIBLE_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import numpy as np, neurust as nr
try:
    {call}
    outcome = "returned"
except BaseException as error:
    outcome = f"{{type(error).__module__}}.{{type(error).__name__}}: {{error}}"
    if isinstance(error, (MemoryError, ValueError)):
        outcome = "ok"
print(json.dumps({{"outcome": outcome}}))
"""


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_impossible_allocation_raises_memory_error_or_value_error(case: str) -> None:
    code = IMPOSSIBLE_CHILD.format(limit=ADDRESS_SPACE_LIMIT, call=IMPOSSIBLE[case])
    child = run_python(code, env={"RUST_BACKTRACE": "0"})
    assert child.returncode == 0, f"the interpreter died ({child.returncode}):\n{child.stderr}"
    assert last_json(child)["outcome"] == "ok", child.stdout + child.stderr[-2000:]


def test_set_num_threads_refuses_an_absurd_thread_count_and_keeps_the_old_one(
    restore_threads: None,
) -> None:
    nr.set_num_threads(2)
    for absurd in (10**9, 2**64):
        with pytest.raises(ValueError, match=r"\bn\b"):
            nr.set_num_threads(absurd)
    assert nr.get_num_threads() == 2
    assert nr.weighted_sum(np.ones(1_000_003), np.ones(1_000_003)) == 1_000_003.0


# --- threads -------------------------------------------------------------------------------

THREADS = 8


def kernel_workload() -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """Every kernel at both sizes and dtypes, with fixed inputs."""
    work = []
    for seed, kernel in enumerate(KERNELS):
        for size in (SMALL, LARGE):
            for dtype in (np.float64, np.float32):
                work.append((kernel, KERNELS[kernel](size, dtype, 10 * seed)))
    return work


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


@pytest.mark.soak
def test_eight_threads_calling_every_kernel_at_once_match_sequential_results(soak: bool) -> None:
    work = kernel_workload()
    sequential = [getattr(nr, kernel)(*arguments) for kernel, arguments in work]
    rounds = 20 if soak else 3

    def task(i: int) -> list[Any]:
        order = work[i:] + work[:i]  # each thread starts on a different kernel
        results = []
        for _ in range(rounds):
            results.append([getattr(nr, kernel)(*arguments) for kernel, arguments in order])
        return results

    for i, per_thread in enumerate(run_concurrently(task)):
        expected = sequential[i:] + sequential[:i]
        for results in per_thread:
            for actual, wanted in zip(results, expected, strict=True):
                assert_same_bits(actual, wanted)


def test_eight_threads_writing_to_their_own_out_arrays_match_sequential_results() -> None:
    inputs = {kernel: KERNELS[kernel](LARGE, np.float64, 20) for kernel in ELEMENTWISE}
    sequential = {kernel: getattr(nr, kernel)(*inputs[kernel]) for kernel in ELEMENTWISE}

    def task(i: int) -> dict[str, np.ndarray]:
        outs = {}
        for kernel in ELEMENTWISE[i % 5 :] + ELEMENTWISE[: i % 5]:
            outs[kernel] = np.empty(LARGE)
            getattr(nr, kernel)(*inputs[kernel], out=outs[kernel])
        return outs

    for outs in run_concurrently(task):
        for kernel in ELEMENTWISE:
            assert_same_bits(outs[kernel], sequential[kernel])


def test_changing_the_thread_count_while_kernels_run_changes_no_result(
    restore_threads: None,
) -> None:
    work = kernel_workload()
    sequential = [getattr(nr, kernel)(*arguments) for kernel, arguments in work]
    stop = threading.Event()

    def task(i: int) -> Any:
        if i == 0:  # one thread keeps swapping the pool under the others
            count = 0
            while not stop.is_set():
                nr.set_num_threads(1 + count % 3)
                count += 1
            return count
        try:
            return [getattr(nr, kernel)(*arguments) for _ in range(2) for kernel, arguments in work]
        finally:
            if i == 1:
                stop.set()

    results = run_concurrently(task, 4)
    assert results[0] > 0
    for per_thread in results[1:]:
        for actual, wanted in zip(per_thread, sequential * 2, strict=True):
            assert_same_bits(actual, wanted)


# --- interrupts ----------------------------------------------------------------------------

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


# --- numerics ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_sigmoid_never_overflows_for_large_negative_inputs(dtype: Any) -> None:
    info = np.finfo(dtype)
    x = np.array([-info.max, -1e4, -800, -745, -120, -88, -30, -np.inf], dtype)
    with np.errstate(all="raise"):
        s = nr.sigmoid(x)
        grad = nr.sigmoid_grad(x, np.ones_like(x))
    assert np.all(np.isfinite(s)) and np.all(s >= 0) and np.all(s <= 1)
    assert np.all(np.isfinite(grad)) and np.all(grad >= 0)
    # where exp(x) is representable, sigmoid(x) ≈ exp(x) with full relative precision
    normal_range = np.exp(x.astype(np.float64)) > info.smallest_normal
    expected = np.exp(x.astype(np.float64))[normal_range]
    np.testing.assert_allclose(s[normal_range], expected, rtol=RTOL[np.dtype(dtype)] * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_sigmoid_saturates_exactly_at_the_extremes(dtype: Any) -> None:
    info = np.finfo(dtype)
    s = nr.sigmoid(np.array([-np.inf, -info.max, 0.0, info.max, np.inf], dtype))
    np.testing.assert_array_equal(s, np.array([0.0, 0.0, 0.5, 1.0, 1.0], dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_sums_of_huge_values_are_inf_not_a_crash(dtype: Any) -> None:
    huge = np.finfo(dtype).max
    assert nr.weighted_sum(np.full(3, huge, dtype), np.full(3, 10, dtype)) == np.inf
    assert nr.weighted_sum(np.full((2, 3), huge, dtype), np.full(3, -2, dtype)).tolist() == [
        -np.inf,
        -np.inf,
    ]
    assert np.all(nr.linear(np.full((2, 3), huge, dtype), np.full((3, 2), 4, dtype)) == np.inf)
    large = nr.linear(np.full((300, 300), huge, dtype), np.full((300, 300), 4, dtype))
    assert np.all(large == np.inf)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_float32_and_float64_agree_within_float32_tolerance(kernel: str) -> None:
    wide = KERNELS[kernel](LARGE, np.float64, 30)
    narrow = tuple(a.astype(np.float32) for a in wide)
    expected = np.asarray(getattr(nr, kernel)(*(a.astype(np.float64) for a in narrow)))
    actual = np.asarray(getattr(nr, kernel)(*narrow))
    assert actual.dtype == np.float32
    scale = np.abs(expected).max() if kernel in ("weighted_sum", "linear") else 1.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL[np.dtype(np.float32)], atol=1e-5 * scale)


def special(size: int, dtype: Any, seed: int) -> np.ndarray:
    """Normal values with NaN, ±inf, ±0, subnormals and the extremes sprinkled in."""
    info = np.finfo(dtype)
    values = normal(size, dtype, seed)
    specials = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, info.smallest_subnormal, info.max, -info.max, -800],
        dtype,
    )
    picks = rng(seed + 100).integers(0, size, size // 10)
    values[picks] = specials[np.arange(picks.size) % specials.size]
    return values


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("kernel", ELEMENTWISE)
def test_elementwise_kernel_on_large_input_with_special_values_matches_numpy(
    kernel: str, dtype: Any
) -> None:
    arguments = [special(LARGE, dtype, seed) for seed in range(2 if kernel in GRADIENTS else 1)]
    reference, _ = REFERENCE_ELEMENTWISE[kernel]
    with np.errstate(all="ignore"):
        expected = reference(*arguments).astype(dtype)
    actual = getattr(nr, kernel)(*arguments)
    if kernel in ("relu", "step", "relu_grad"):
        np.testing.assert_array_equal(actual, expected)  # exact, NaN where numpy has NaN
    else:
        scale = 1.0 if kernel == "sigmoid" else np.abs(arguments[1][np.isfinite(arguments[1])])
        atol = RTOL[np.dtype(dtype)] * (scale if np.isscalar(scale) else scale.max())
        finite = np.isfinite(expected)
        np.testing.assert_allclose(actual[finite], expected[finite], RTOL[np.dtype(dtype)], atol)
        assert np.array_equal(np.isnan(actual), np.isnan(expected) | (~finite & np.isnan(actual)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
def test_weighted_sum_of_large_rows_with_special_values_propagates_nan_and_inf(
    dtype: Any,
) -> None:
    inputs = special(64 * 4096, dtype, 1).reshape(4096, 64)
    weights = normal(64, dtype, 2)
    actual = nr.weighted_sum(inputs, weights)
    with np.errstate(all="ignore"):
        terms = inputs.astype(np.longdouble) * weights
    nan_rows = np.isnan(terms).any(1) | (np.isposinf(terms).any(1) & np.isneginf(terms).any(1))
    assert np.isnan(actual[nan_rows]).all()
    # rows whose finite terms cannot overflow in any order: the infinite term decides
    finite_part = np.where(np.isfinite(terms), np.abs(terms), 0).sum(1)
    inf_rows = ~nan_rows & np.isinf(terms).any(1) & (finite_part <= np.finfo(dtype).max / 2)
    assert inf_rows.sum() > 100
    np.testing.assert_array_equal(actual[inf_rows], terms[inf_rows].sum(1).astype(dtype))


def test_kernels_leave_subnormal_arithmetic_working_for_the_caller() -> None:
    # a kernel (or the GEMM crate) that set flush-to-zero on the calling thread would make
    # numpy, and the next call, round subnormals to zero
    nr.linear(normal((300, 300)), normal((300, 300)))
    nr.sigmoid(normal(LARGE))
    tiny = np.float64(5e-324)
    assert tiny * np.float64(1.0) == tiny
    assert nr.weighted_sum(np.array([tiny]), np.array([1.0])) == tiny
    assert nr.relu_grad(np.array([1.0]), np.array([tiny]))[0] == tiny


# --- the network ---------------------------------------------------------------------------


def problem(
    seed: int = 0, rows: int = 64, sizes: tuple[int, int, int] = (40, 16, 2), dtype: Any = "float64"
) -> tuple[np.ndarray, np.ndarray]:
    X = rng(seed).normal(size=(rows, sizes[0])).astype(dtype)
    Y = rng(seed + 1).normal(size=(rows, sizes[2])).astype(dtype)
    return X, Y


def network(seed: int = 0, **keywords: Any) -> nr.TwoLayerNet:
    keywords = {"bias": True, "init": "he", **keywords}
    return nr.TwoLayerNet(40, 16, 2, seed=seed, **keywords)


def assert_same_parameters(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert_same_bits(actual[name], expected[name])


@pytest.mark.parametrize("layout", ["C", "F", "strided", "reversed", "unaligned"])
@pytest.mark.parametrize("method", ["__call__", "loss", "gradients", "fit"])
def test_network_methods_leave_x_and_y_unchanged(method: str, layout: str) -> None:
    net = network()
    X, Y = (with_layout(a, layout) for a in problem())
    before = [(a.tobytes(), a.strides) for a in (X, Y)]
    if method == "__call__":
        net(X)
    elif method == "fit":
        net.fit(X, Y, steps=3, lr=1e-3)
    else:
        getattr(net, method)(X, Y)
    assert [(a.tobytes(), a.strides) for a in (X, Y)] == before


@pytest.mark.parametrize("method", ["__call__", "loss", "gradients"])
def test_network_methods_that_only_read_leave_the_parameters_unchanged(method: str) -> None:
    net = network()
    X, Y = problem()
    before = net.parameters()
    getattr(net, method)(X, Y) if method != "__call__" else net(X)
    assert_same_parameters(net.parameters(), before)


def test_network_step_leaves_the_gradients_unchanged() -> None:
    net = network()
    grads = net.gradients(*problem())
    copies = {name: value.copy() for name, value in grads.items()}
    net.step(grads, lr=1e-3)
    assert_same_parameters(grads, copies)


def test_network_parameters_are_copies_the_caller_may_change() -> None:
    net = network()
    params = net.parameters()
    for value in params.values():
        value[...] = np.nan
    assert all(np.isfinite(value).all() for value in net.parameters().values())


def test_network_keeps_its_own_copy_of_loaded_parameters() -> None:
    net, donor = network(), network(seed=5)
    params = donor.parameters()
    net.load_parameters(params)
    for value in params.values():
        value[...] = np.nan
    assert_same_parameters(net.parameters(), donor.parameters())


def test_network_fit_changes_only_the_networks_own_parameters() -> None:
    net = network()
    X, Y = problem()
    earlier = net.parameters()
    earlier_copies = {name: value.copy() for name, value in earlier.items()}
    net.fit(X, Y, steps=5, lr=1e-3)
    assert_same_parameters(earlier, earlier_copies)
    assert any(not np.array_equal(net.parameters()[name], earlier[name]) for name in earlier), (
        "fit changed no parameter"
    )


@pytest.mark.parametrize("method", ["__call__", "loss", "gradients", "fit"])
def test_network_methods_leave_reference_counts_of_x_and_y_unchanged(method: str) -> None:
    net = network()
    X, Y = problem()
    call = {
        "__call__": lambda: net(X),
        "loss": lambda: net.loss(X, Y),
        "gradients": lambda: net.gradients(X, Y),
        "fit": lambda: net.fit(X, Y, steps=2, lr=1e-4),
    }[method]
    call()
    before = (sys.getrefcount(X), sys.getrefcount(Y))
    for _ in range(50):
        call()
    assert (sys.getrefcount(X), sys.getrefcount(Y)) == before


FITS_BODY = """
def run(n):
    X = np.random.default_rng(0).normal(size=(32, 20))
    Y = np.random.default_rng(1).normal(size=(32, 1))
    for i in range(n):
        net = nr.TwoLayerNet(20, 10, 1, bias=i % 2 == 0, dtype=("float64", "float32")[i % 2],
                             seed=i % 7, init="he")
        net.fit(X, Y, steps=20, lr=1e-3)
        net(X), net.loss(X, Y), net.gradients(X, Y)
        try:
            net.fit(X, Y[:3], steps=20, lr=1e-3)
        except ValueError:
            pass
    return n
"""

FITS = 200
SOAK_FITS = 1_000


@pytest.mark.soak
def test_resident_memory_stays_flat_over_many_short_fits(soak: bool) -> None:
    fits = SOAK_FITS if soak else FITS
    counts = memory_run(FITS_BODY, fits)
    assert counts["calls"] == fits
    assert_flat(counts, 2 * 2**20)


def fit_problem(seed: int) -> tuple[nr.TwoLayerNet, np.ndarray, np.ndarray]:
    """A fit big enough to run without the GIL for a while (tens of milliseconds)."""
    net = nr.TwoLayerNet(200, 64, 4, bias=True, seed=seed, init="he")
    X, Y = problem(seed, rows=256, sizes=(200, 64, 4))
    return net, X, Y


def test_eight_networks_fitted_concurrently_match_the_same_fits_one_after_another() -> None:
    sequential = []
    for seed in range(THREADS):
        net, X, Y = fit_problem(seed)
        history = net.fit(X, Y, steps=40, lr=1e-4)
        sequential.append((history, net.parameters()))

    def task(i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        net, X, Y = fit_problem(i)
        return net.fit(X, Y, steps=40, lr=1e-4), net.parameters()

    for (history, params), (expected_history, expected_params) in zip(
        run_concurrently(task), sequential, strict=True
    ):
        assert_same_bits(history, expected_history)
        assert_same_parameters(params, expected_params)


# What a second thread does to a network that the first is fitting.
SHARED_USES: dict[str, Callable[[nr.TwoLayerNet, np.ndarray, np.ndarray], Any]] = {
    "fit": lambda net, X, Y: net.fit(X, Y, steps=150, lr=1e-4),
    "step": lambda net, X, Y: net.step(
        {name: np.ones_like(value) for name, value in net.parameters().items()}, lr=1e-3
    ),
    "load_parameters": lambda net, X, Y: net.load_parameters(fit_problem(99)[0].parameters()),
}


@pytest.mark.parametrize("second", list(SHARED_USES))
def test_one_network_used_by_two_threads_takes_turns_or_raises_runtime_error(
    second: str,
) -> None:
    """The outcome must be one of the serial orders (or one call refused with RuntimeError)."""
    first = SHARED_USES["fit"]
    use = SHARED_USES[second]

    def serial(order: str) -> dict[str, np.ndarray]:
        net, X, Y = fit_problem(0)
        for who in order:
            (first if who == "1" else use)(net, X, Y)
        return net.parameters()

    candidates = {order: serial(order) for order in ("12", "21", "1", "2")}
    # the second thread starts at the same time as the fit, or a little later, so that its
    # call lands before, at the start of, and in the middle of the fit
    for attempt, delay in enumerate([0.0, 0.002, 0.01, 0.03, 0.06]):
        net, X, Y = fit_problem(0)
        outcomes: list[str] = ["", ""]

        def task(i: int) -> None:
            if i == 1:
                time.sleep(delay)  # noqa: B023
            try:
                (first if i == 0 else use)(net, X, Y)  # noqa: B023
                outcomes[i] = "done"  # noqa: B023
            except RuntimeError:
                outcomes[i] = "refused"  # noqa: B023

        run_concurrently(task, 2)
        params = net.parameters()
        assert all(np.isfinite(value).all() for value in params.values())
        matches = [
            order
            for order, expected in candidates.items()
            if all(np.array_equal(params[k], expected[k]) for k in expected)
        ]
        done = "".join(str(i + 1) for i in range(2) if outcomes[i] == "done")
        assert matches, f"attempt {attempt}: parameters match no serial order ({outcomes})"
        assert any(sorted(order) == sorted(done) for order in matches), (outcomes, matches)


FIT_INTERRUPT_SETUP = """
X = np.random.default_rng(0).normal(size=(128, 1000))
Y = np.random.default_rng(1).normal(size=(128, 1))
net = nr.TwoLayerNet(1000, 100, 1, seed=0)

def steps_done():
    return -1 if net.history_ is None else len(net.history_)

def finite():
    return all(bool(np.isfinite(value).all()) for value in net.parameters().values())

def replayed():
    # a fresh net fitted for the completed steps must reach exactly the same parameters
    if steps_done() < 1:
        return None
    twin = nr.TwoLayerNet(1000, 100, 1, seed=0)
    twin.fit(X, Y, steps=steps_done(), lr=1e-7)
    return all(np.array_equal(twin.parameters()[k], v) for k, v in net.parameters().items())
"""


def test_ctrl_c_stops_a_long_fit_promptly_keeping_the_parameters_of_the_last_step() -> None:
    report, latency = interrupt_child(
        setup=FIT_INTERRUPT_SETUP,
        call="net.fit(X, Y, steps=10**7, lr=1e-7)",
        report='"steps_done": steps_done(), "finite": finite(), "replayed": replayed()',
    )
    assert report["outcome"] == "interrupted"
    assert latency < INTERRUPT_LIMIT_S
    assert report["steps_done"] > 0 and report["finite"]
    # the parameters are exactly those of a fit of the completed steps
    assert report["replayed"] is True


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loss_of_huge_values_is_inf_not_a_crash(dtype: str) -> None:
    net = network(dtype=dtype)
    X, Y = problem(dtype=dtype)
    largest = np.finfo(dtype).max
    # targets near the largest float: each squared error overflows
    assert net.loss(X, np.full_like(Y, largest / 2)) == np.inf
    # inputs near its square root: finite predictions whose squares overflow
    assert net.loss(X * np.sqrt(largest) / 10, Y) == np.inf
    gradients = net.gradients(X, np.full_like(Y, largest / 2))
    assert all(value.dtype == np.dtype(dtype) for value in gradients.values())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_on_huge_values_raises_floating_point_error_keeping_the_parameters(dtype: str) -> None:
    net = network(dtype=dtype)
    X, Y = problem(dtype=dtype)
    before = net.parameters()
    with pytest.raises(FloatingPointError, match=r"\bstep\b"):
        with np.errstate(over="ignore"):
            huge = X * np.finfo(dtype).max
        net.fit(huge, Y, steps=5, lr=1e-3)
    assert_same_parameters(net.parameters(), before)


def test_network_float32_and_float64_agree_within_float32_tolerance() -> None:
    X, Y = problem()
    wide, narrow = network(), network(dtype="float32")
    np.testing.assert_allclose(narrow(X.astype(np.float32)), wide(X), rtol=1e-4, atol=1e-4)
    history32 = narrow.fit(X.astype(np.float32), Y.astype(np.float32), steps=20, lr=1e-3)
    history64 = wide.fit(X, Y, steps=20, lr=1e-3)
    assert history32.dtype == np.float32
    np.testing.assert_allclose(history32, history64, rtol=1e-4)
