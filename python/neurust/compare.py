"""The backend comparison behind ``neurust compare``: the same work on every backend, timed fairly.

A *workload* (``weighted_sum``, ``relu``, ``linear``, ``fit`` ...) is a small
definition in :data:`WORKLOADS`: how to read a size, how to make its inputs,
how to run it on one backend's native arrays, and how many floating-point
operations and bytes one call costs. :func:`run_comparison` sweeps
dtypes × thread counts × workloads × sizes × backends, and for each point

1. converts the inputs to every backend's native arrays, on its device, so
   that the timing measures compute and not conversion;
2. runs each backend once (the first warm-up call) and checks its result
   against numpy's; a mismatch is recorded and shown, never hidden;
3. calibrates how many calls make one sample, timeit-style, so that a call of
   a fraction of a microsecond is timed in batches and reported per call;
4. takes ``repeat`` samples, interleaving the backends so that drift on a
   noisy machine hits them all alike, and keeps the median and the
   interquartile range.

Every backend runs with the same thread count: BLAS pools through
threadpoolctl, ``torch.set_num_threads`` and ``neurust.set_num_threads``.
JAX fixes its thread pool when it starts, so it runs only at the thread count
it started with. Backends that queue work (torch on CUDA, JAX) are
synchronised inside the timed region after every call.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import itertools
import json
import math
import os
import platform
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

import neurust
from neurust import _core
from neurust.backends import KNOWN_BACKENDS, Backend, BackendUnavailableError, get_backend
from neurust.backends._base import BaseBackend

__all__ = [
    "DTYPES",
    "JSON_SCHEMA_VERSION",
    "TOLERANCE",
    "WORKLOADS",
    "Case",
    "Measurement",
    "ProgressHook",
    "Report",
    "Settings",
    "Size",
    "Timer",
    "Timing",
    "Workload",
    "add_arguments",
    "available_cores",
    "configure_jax_threads",
    "format_ratio",
    "format_seconds",
    "learning_rate",
    "load_backends",
    "machine_info",
    "main",
    "max_error",
    "measure",
    "measure_interleaved",
    "parse_count",
    "print_table",
    "run_command",
    "run_comparison",
    "settings_from_args",
    "skip_reason",
    "software_info",
    "sync_hook",
    "thread_limit",
    "write_json",
    "write_plot",
]

Clock = Callable[[], int]
"""A monotonic clock in integer nanoseconds, like :func:`time.perf_counter_ns`."""
Sync = Callable[[Any], None]
"""Blocks until the result of one call is computed (CUDA, JAX); None for eager backends."""

DTYPES = ("float64", "float32")

# Largest difference from numpy allowed, relative to the largest magnitude of
# numpy's result (or to each element, for workloads that check elementwise).
# Backends sum in different orders (blocked GEMM, pairwise, SIMD lanes), so the
# bound is many ulps, not one; a real bug is off by orders of magnitude more.
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}

DEFAULT_MIN_SAMPLE_S = 0.05
QUICK_MIN_SAMPLE_S = 0.01
DEFAULT_REPEAT = 5
QUICK_REPEAT = 3


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """The samples of one measurement, each the mean time of one call in a batch.

    Attributes
    ----------
    samples_ns : tuple of float
        Time per call of each sample, in nanoseconds.
    calls_per_sample : int
        How many calls each sample timed back to back.
    warmup_calls : int
        Calls made before the samples (warm-up, and calibration batches
        shorter than a sample).
    """

    samples_ns: tuple[float, ...]
    calls_per_sample: int
    warmup_calls: int

    @property
    def median_ns(self) -> float:
        """The median time per call, in nanoseconds."""
        return float(np.median(self.samples_ns))

    @property
    def q1_ns(self) -> float:
        """The first quartile of the time per call, in nanoseconds."""
        return float(np.percentile(self.samples_ns, 25))

    @property
    def q3_ns(self) -> float:
        """The third quartile of the time per call, in nanoseconds."""
        return float(np.percentile(self.samples_ns, 75))

    @property
    def iqr_ns(self) -> float:
        """The interquartile range of the time per call, in nanoseconds."""
        return self.q3_ns - self.q1_ns


class Timer:
    """Time one zero-argument call: warm-up, timeit-style calibration, samples.

    Parameters
    ----------
    call : callable
        The work to time, with its inputs already bound and on the device.
    sync : callable, optional
        Called with the result of every call, inside the timed region: it must
        block until that result is computed (``torch.cuda.synchronize``,
        ``jax.block_until_ready``). None for backends that compute eagerly.
    clock : callable, optional
        Integer nanoseconds; :func:`time.perf_counter_ns` unless a test injects
        a fake one.
    min_sample_ns : float, optional
        Calibration grows the number of calls per sample until one sample lasts
        at least this long, so that the clock's resolution and the loop's
        overhead stay small against what is measured.
    max_calls_per_sample : int, optional
        Upper bound for calibration (a guard against a call that takes no time).
    max_sample_factor : float, optional
        A sample stops early, between tenths of its batch, once it has lasted
        this many times ``min_sample_ns``: when a shared machine gets busy
        after calibration, a batch sized for a fast call would otherwise run
        for minutes.

    Examples
    --------
    >>> timer = Timer(lambda: sum(range(100)))
    >>> _ = timer.warm_up()
    >>> timer.calibrate() >= 1
    True
    >>> timer.sample() > 0
    True
    """

    def __init__(
        self,
        call: Callable[[], Any],
        *,
        sync: Sync | None = None,
        clock: Clock = time.perf_counter_ns,
        min_sample_ns: float = DEFAULT_MIN_SAMPLE_S * 1e9,
        max_calls_per_sample: int = 10_000_000,
        max_sample_factor: float = 20.0,
    ) -> None:
        self.call = call
        self.sync = sync
        self.clock = clock
        self.min_sample_ns = min_sample_ns
        self.max_calls_per_sample = max_calls_per_sample
        self.max_sample_ns = max_sample_factor * min_sample_ns
        self.calls_per_sample = 1
        self.warmup_calls = 0
        self._first_sample: float | None = None

    def _time_batch(self, calls: int) -> int:
        """Nanoseconds that ``calls`` back-to-back calls take, synchronised."""
        call, sync, clock = self.call, self.sync, self.clock
        # Two loops rather than a branch inside one: at 0.2 µs a call, the
        # loop's own cost is part of what is measured and must stay minimal.
        if sync is None:
            start = clock()
            for _ in itertools.repeat(None, calls):
                call()
            return clock() - start
        start = clock()
        for _ in itertools.repeat(None, calls):
            sync(call())
        return clock() - start

    def warm_up(self, calls: int = 1) -> Any:
        """Make ``calls`` calls (at least one) and return the first one's result.

        The first call of a backend may compile (JAX), create a CUDA context,
        start threads or fault in memory; none of that belongs in a sample.
        """
        result = self.call()
        if self.sync is not None:
            self.sync(result)
        if calls > 1:
            self._time_batch(calls - 1)
        self.warmup_calls += max(calls, 1)
        return result

    def calibrate(self) -> int:
        """Choose how many calls make one sample (1, 2, 5, 10, 20, 50, ...).

        The last batch timed here already has the chosen length and follows
        the warm-up, so it is kept as the first sample: a call of seconds is
        then made once fewer.

        Returns
        -------
        int
            The number of calls per sample, also kept in ``calls_per_sample``.
        """
        calls = 1
        for factor in itertools.cycle((2, 2.5, 2)):
            elapsed = self._time_batch(calls)
            if elapsed >= self.min_sample_ns or calls >= self.max_calls_per_sample:
                break
            self.warmup_calls += calls
            calls = min(int(calls * factor), self.max_calls_per_sample)
        self.calls_per_sample = calls
        self._first_sample = elapsed / calls
        return calls

    def sample(self) -> float:
        """Time one batch of ``calls_per_sample`` calls; return nanoseconds per call.

        The batch runs in tenths, and stops after the tenth that takes it past
        ``max_sample_ns``; the per-call time is then over the calls made.
        """
        if self._first_sample is not None:
            sample, self._first_sample = self._first_sample, None
            return sample
        total = self.calls_per_sample
        chunk = max(1, total // 10)
        elapsed = done = 0
        while done < total and elapsed <= self.max_sample_ns:
            calls = min(chunk, total - done)
            elapsed += self._time_batch(calls)
            done += calls
        return elapsed / done

    def timing(self, samples: Sequence[float]) -> Timing:
        """Wrap samples taken with this timer into a :class:`Timing`."""
        return Timing(tuple(samples), self.calls_per_sample, self.warmup_calls)


def measure(
    call: Callable[[], Any],
    *,
    repeat: int = DEFAULT_REPEAT,
    warmup: int = 1,
    sync: Sync | None = None,
    clock: Clock = time.perf_counter_ns,
    min_sample_ns: float = DEFAULT_MIN_SAMPLE_S * 1e9,
) -> Timing:
    """Time a call: ``warmup`` calls, calibration, then ``repeat`` samples.

    Parameters
    ----------
    call : callable
        The work to time (no arguments).
    repeat : int
        The number of samples; the median and quartiles are taken over them.
    warmup : int
        Calls before calibration, not timed.
    sync, clock, min_sample_ns
        As for :class:`Timer`.

    Returns
    -------
    Timing
        The per-call time of each sample.

    Examples
    --------
    >>> timing = measure(lambda: None, repeat=3, min_sample_ns=1e5)
    >>> len(timing.samples_ns)
    3
    """
    timer = Timer(call, sync=sync, clock=clock, min_sample_ns=min_sample_ns)
    timer.warm_up(warmup)
    timer.calibrate()
    return timer.timing([timer.sample() for _ in range(repeat)])


def measure_interleaved(
    timers: Mapping[str, Timer],
    repeat: int,
    on_sample: Callable[[str], None] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> dict[str, Timing]:
    """Take ``repeat`` samples of each (warmed-up, calibrated) timer, in rounds.

    Each round samples every timer once, so a slow period on a shared machine
    lands on all of them instead of on whichever ran then.

    Parameters
    ----------
    timers : mapping of str to Timer
        Calibrated timers, by name.
    repeat : int
        The number of rounds.
    on_sample : callable, optional
        Called with the name after each sample (progress reporting).
    on_error : callable, optional
        Called with the name and the exception when a timed call raises; that
        timer takes no more samples and is left out of the result. Without
        it, the exception propagates.

    Returns
    -------
    dict of str to Timing
        The timing of each timer that finished, by name.
    """
    samples: dict[str, list[float]] = {name: [] for name in timers}
    running = dict(timers)
    for _ in range(repeat):
        for name, timer in list(running.items()):
            try:
                samples[name].append(timer.sample())
            except Exception as error:
                if on_error is None:
                    raise
                on_error(name, error)
                del running[name]
            if on_sample is not None:
                on_sample(name)
    return {name: timer.timing(samples[name]) for name, timer in running.items()}


# --------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------


def available_cores() -> int:
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _jax_thread_count() -> int:
    """The size of XLA's CPU thread pool, as fixed by XLA_FLAGS when JAX starts."""
    flags = os.environ.get("XLA_FLAGS", "")
    match = re.search(r"intra_op_parallelism_threads=(\d+)", flags)
    if match and "--xla_cpu_multi_thread_eigen=false" in flags:
        return int(match.group(1))
    return available_cores()


def configure_jax_threads(threads: Sequence[int]) -> int:
    """Before JAX starts, ask XLA for one thread when only one thread is compared.

    XLA reads its thread pool size from ``XLA_FLAGS`` once, when JAX starts,
    and offers no way to change it afterwards.

    Returns
    -------
    int
        The thread count JAX will run with.
    """
    if "jax" not in sys.modules and set(threads) == {1}:
        flags = os.environ.get("XLA_FLAGS", "")
        single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{flags} {single}".strip()
    return _jax_thread_count()


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[list[str]]:
    """Run every backend's thread pools with ``threads`` threads, then restore them.

    Sets neurust's pool (:func:`neurust.set_num_threads`), torch's intra-op pool
    (when torch is imported) and, through threadpoolctl, every BLAS and OpenMP
    pool loaded in the process (numpy's OpenBLAS or MKL among them).

    Yields
    ------
    list of str
        Notes on pools that could not be limited (empty when all were).
    """
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        before = _core.get_num_threads()
        _core.set_num_threads(threads)
        stack.callback(_core.set_num_threads, before)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch_before = torch.get_num_threads()
            torch.set_num_threads(threads)
            stack.callback(torch.set_num_threads, torch_before)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            notes.append(
                "threadpoolctl is not installed: numpy's BLAS threads were not limited "
                "(pip install threadpoolctl)"
            )
        else:
            stack.enter_context(threadpool_limits(limits=threads))
        yield notes


# --------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------

_COUNT = re.compile(r"^(\d+)([kKmMgG]?)$")
_SUFFIX = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_count(text: str) -> int:
    """Read a positive count: ``"4"``, ``"1k"`` (1024), ``"16M"`` (16·2²⁰).

    Raises
    ------
    ValueError
        If ``text`` is not a positive integer with an optional k/M/G suffix.
    """
    match = _COUNT.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a positive count such as 4, 1k or 16M")
    return int(match.group(1)) * _SUFFIX[match.group(2).lower()]


def _parse_dims(text: str, count: int, what: str) -> tuple[int, ...]:
    parts = text.lower().split("x")
    if len(parts) != count:
        raise ValueError(f"{text!r} is not {what}")
    return tuple(parse_count(part) for part in parts)


@dataclass(frozen=True)
class Size:
    """One size of a workload, as written on the command line.

    Attributes
    ----------
    label : str
        The size as the user wrote it (``"1M"``, ``"128x1000x100x1:500"``).
    dims : tuple of int
        The dimensions it stands for.
    steps : int
        Training steps per call (``fit``), 1 otherwise.
    """

    label: str
    dims: tuple[int, ...]
    steps: int = 1


@dataclass
class Case:
    """One workload at one size on one backend, with its inputs on the device.

    Attributes
    ----------
    call : callable
        The timed work, with no arguments.
    result : callable
        Turns what ``call`` returned into a numpy array for the check against numpy.
    """

    call: Callable[[], Any]
    result: Callable[[Any], np.ndarray]


Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Workload:
    """A small definition of one kind of work to compare.

    Attributes
    ----------
    name, summary : str
        The name on the command line and one line saying what is timed.
    size_help : str
        The size syntax, for error messages and ``--help``.
    x_label : str
        What the plot's x axis (:attr:`x_value`) counts.
    sizes, quick_sizes : tuple of str
        The default sweep, and the one ``--quick`` runs.
    parse_size : callable
        ``str -> Size``; raises ValueError for text that is not a size.
    make_inputs : callable
        ``(Size, numpy dtype, Generator) -> dict of ndarrays``: the same
        inputs for every backend.
    prepare : callable
        ``(Backend, inputs, Size) -> Case``: converts the inputs to the
        backend's native arrays and binds the timed call.
    x_value : callable
        ``Size -> float``: where the size sits on the plot's x axis.
    flops : callable or None
        ``Size -> float``: floating-point operations per call.
    bytes_moved : callable or None
        ``(Size, itemsize) -> float``: bytes read and written per call, at least.
    throughput : str
        ``"GFLOP/s"`` or ``"GB/s"``: the figure the table shows.
    python_limit : float
        The pure-Python backend runs only while ``x_value(size)`` is at most this.
    unsupported : mapping of str to str
        Backends that cannot run this workload, with the reason.
    check : str
        ``"norm"``: errors relative to the largest magnitude of numpy's result;
        ``"elementwise"``: relative to each element (loss curves).
    tolerance_scale : float
        Multiplies :data:`TOLERANCE` (long training runs accumulate rounding).
    in_quick : bool
        Whether ``--quick`` runs this workload when ``--workloads`` is not given.
    """

    name: str
    summary: str
    size_help: str
    x_label: str
    sizes: tuple[str, ...]
    quick_sizes: tuple[str, ...]
    parse_size: Callable[[str], Size]
    make_inputs: Callable[[Size, np.dtype, np.random.Generator], Inputs]
    prepare: Callable[[Backend, Inputs, Size], Case]
    x_value: Callable[[Size], float]
    flops: Callable[[Size], float] | None
    bytes_moved: Callable[[Size, int], float] | None
    throughput: str
    python_limit: float
    unsupported: Mapping[str, str] = field(default_factory=dict)
    check: str = "norm"
    tolerance_scale: float = 1.0
    in_quick: bool = True

    def throughput_of(self, size: Size, itemsize: int, seconds: float) -> float | None:
        """GFLOP/s or GB/s (as :attr:`throughput` says) of one call taking ``seconds``."""
        if seconds <= 0:
            return None
        if self.throughput == "GFLOP/s" and self.flops is not None:
            return self.flops(size) / seconds / 1e9
        if self.throughput == "GB/s" and self.bytes_moved is not None:
            return self.bytes_moved(size, itemsize) / seconds / 1e9
        return None


WORKLOADS: dict[str, Workload] = {}
"""Every workload, by name, in the order the table shows them."""


def _register(workload: Workload) -> Workload:
    WORKLOADS[workload.name] = workload
    return workload


def _same(backend: Backend, value: Any) -> np.ndarray:
    return np.asarray(backend.to_numpy(value))


# The seeds' data: a game's toes, win/loss record and fans, four games, three weights.
TOES_INPUTS = np.array(
    [[8.5, 0.65, 1.2], [9.5, 0.8, 1.3], [9.9, 0.8, 0.5], [9.0, 0.9, 1.0]], dtype=np.float64
)
TOES_WEIGHTS = np.array([0.1, 0.2, 0.0], dtype=np.float64)


# weighted_sum ---------------------------------------------------------------------------


def _weighted_sum_size(text: str) -> Size:
    if text.lower() == "toes":
        return Size("toes", TOES_INPUTS.shape)
    return Size(text, _parse_dims(text, 2, "ROWSxCOLS (e.g. 1kx1k) or 'toes'"))


def _weighted_sum_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    if size.label == "toes":
        return {"inputs": TOES_INPUTS.astype(dtype), "weights": TOES_WEIGHTS.astype(dtype)}
    rows, cols = size.dims
    return {
        "inputs": rng.standard_normal((rows, cols)).astype(dtype),
        "weights": rng.standard_normal(cols).astype(dtype),
    }


def _weighted_sum_prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
    matrix = backend.from_numpy(inputs["inputs"])
    weights = backend.from_numpy(inputs["weights"])
    kernel = backend.weighted_sum
    return Case(lambda: kernel(matrix, weights), lambda out: _same(backend, out))


_register(
    Workload(
        name="weighted_sum",
        summary="a layer of neurons: matrix · weight vector (the seeds' toes data first)",
        size_help="ROWSxCOLS, e.g. 4x3 or 1kx1k, or 'toes' (the seeds' 4x3 data)",
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
)


# elementwise: relu, sigmoid, relu with out=, copy ---------------------------------------


def _elements_size(text: str) -> Size:
    return Size(text, (parse_count(text),))


def _elements_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    return {"x": rng.standard_normal(size.dims[0]).astype(dtype)}


def _elementwise_prepare(kernel_name: str) -> Callable[[Backend, Inputs, Size], Case]:
    def prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
        x = backend.from_numpy(inputs["x"])
        kernel = getattr(backend, kernel_name)
        return Case(lambda: kernel(x), lambda out: _same(backend, out))

    return prepare


def _relu_into(backend: Backend) -> Callable[[Any, Any], Any]:
    """relu of x written into out, for the backends whose arrays can be written."""
    if backend.name == "rust":
        return lambda x, out: _core.relu(x, out=out)
    if backend.name == "numpy":
        return lambda x, out: np.maximum(x, 0, out=out)
    if backend.name in ("torch", "torch-cuda"):
        import torch

        return lambda x, out: torch.clamp_min(x, 0, out=out)
    raise NotImplementedError(f"{backend.name} has no out= for relu")


def _copy_into(backend: Backend) -> Callable[[Any, Any], Any]:
    """x copied into out: the bandwidth an elementwise kernel with out= can reach."""
    if backend.name == "numpy":
        return lambda x, out: np.copyto(out, x)
    if backend.name in ("torch", "torch-cuda"):
        return lambda x, out: out.copy_(x)
    raise NotImplementedError(f"{backend.name} has no copy kernel")


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

        return Case(call, lambda written: _same(backend, written))

    return prepare


_ELEMENT_SIZES = ("4", "1k", "64k", "1M", "16M")
_NO_OUT = {
    "python": "nested lists have no out= (they are rebuilt on every call)",
    "jax": "jax arrays are immutable: no out=",
}


def _elementwise(
    name: str,
    summary: str,
    prepare: Callable[[Backend, Inputs, Size], Case],
    *,
    quick: tuple[str, ...],
    flops_per_element: float | None,
    unsupported: Mapping[str, str] | None = None,
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
        unsupported=unsupported or {},
        in_quick=in_quick,
    )


_register(
    _elementwise(
        "relu",
        "max(x, 0) of a vector, into a new array",
        _elementwise_prepare("relu"),
        quick=("4", "64k", "1M"),
        flops_per_element=1,
    )
)
_register(
    _elementwise(
        "sigmoid",
        "1 / (1 + exp(-x)) of a vector, into a new array",
        _elementwise_prepare("sigmoid"),
        quick=("4", "64k"),
        flops_per_element=4,
    )
)
_register(
    _elementwise(
        "relu_out",
        "max(x, 0) into a preallocated array (out=): the bandwidth-bound case",
        _into_prepare(_relu_into),
        quick=("16M",),
        flops_per_element=1,
        unsupported=_NO_OUT,
        in_quick=False,
    )
)
_register(
    _elementwise(
        "copy",
        "copy into a preallocated array: the memory-bandwidth ceiling for relu_out",
        _into_prepare(_copy_into),
        quick=("16M",),
        flops_per_element=None,
        unsupported={
            **_NO_OUT,
            "rust": "neurust has no copy kernel: numpy's copy is the ceiling for its relu_out",
        },
        in_quick=False,
    )
)


# linear ---------------------------------------------------------------------------------


def _linear_size(text: str) -> Size:
    if "x" not in text.lower():
        side = parse_count(text)
        return Size(text, (side, side, side))
    return Size(text, _parse_dims(text, 3, "N or MxKxN (x: M×K, weights: K×N)"))


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
    return Case(lambda: kernel(x, weights, bias), lambda out: _same(backend, out))


_register(
    Workload(
        name="linear",
        summary="a dense layer x @ W + b (GEMM)",
        size_help="N (an N×N·N×N product) or MxKxN, e.g. 512 or 128x1000x100",
        x_label="m·k·n (multiply-adds)",
        sizes=("4", "32", "256", "1k", "4k"),
        quick_sizes=("64", "512"),
        parse_size=_linear_size,
        make_inputs=_linear_inputs,
        prepare=_linear_prepare,
        x_value=lambda size: float(math.prod(size.dims)),
        flops=lambda size: 2.0 * math.prod(size.dims) + size.dims[0] * size.dims[2],
        bytes_moved=lambda size, item: float(
            item
            * (
                size.dims[0] * size.dims[1]
                + size.dims[1] * size.dims[2]
                + size.dims[0] * size.dims[2]
            )
        ),
        throughput="GFLOP/s",
        python_limit=1 << 18,
    )
)


# two-layer network: one training step, and the whole training loop ---------------------
#
# Both run the backends' own network (``mlp_*`` of the Backend protocol) on
# native arrays: a bias-free 2-layer ReLU net trained on the summed squared
# error, as in the seed. Each call continues from the parameters the previous
# call left (the Rust loop updates its arrays in place; the others return new
# ones), so every call does the same work; the first call starts from the same
# weights on every backend, and its result is what is checked against numpy.


def _net_size(text: str, *, with_steps: bool) -> Size:
    shape, _, steps = text.partition(":")
    what = "BATCHxINxHIDDENxOUT" + (":STEPS" if with_steps else "")
    example = "128x1000x100x1" + (":500" if with_steps else "")
    dims = _parse_dims(shape, 4, f"{what} (e.g. {example})")
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


# Learning rates for the sizes the sweep names: the seed's own 1e-6 (at the edge
# of stability: 3e-6 diverges), and for the others about a third of the
# largest rate that stayed finite over three random draws in numpy.
_LEARNING_RATES = {
    (4, 3, 8, 1): 1e-3,
    (64, 16, 32, 1): 3e-5,
    (128, 1000, 100, 1): 1e-6,
    (1024, 1024, 1024, 10): 3e-9,
}


def learning_rate(size: Size) -> float:
    """The learning rate ``fit`` and ``train_step`` use for a network of ``size``.

    The seed's 128×1000→100→1 net trains at its own 1e-6 on the summed squared
    error. Other sizes not in the table scale that rate inversely with batch ×
    inputs × hidden (the gradient grows about so), with a tenfold margin,
    capped at 1e-3.
    """
    known = _LEARNING_RATES.get(size.dims)
    if known is not None:
        return known
    batch, inputs, hidden, _ = size.dims
    return min(1e-3, 1e-7 * (128 * 1000 * 100) / (batch * inputs * hidden))


def _net_inputs(size: Size, dtype: np.dtype, rng: np.random.Generator) -> Inputs:
    batch, inputs, hidden, outputs = size.dims
    # Standard-normal data, targets and weights, no biases: the seed's set-up.
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
    return np.concatenate([_same(backend, params[name]).ravel() for name in ("w1", "w2")])


def _train_step_prepare(backend: Backend, inputs: Inputs, size: Size) -> Case:
    x, y, params = _net_native(backend, inputs)
    lr = learning_rate(size)
    state = {"params": params}
    train_step = getattr(backend, "mlp_train_step", None)  # a backend may fuse (JAX compiles)

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

_register(
    Workload(
        name="train_step",
        summary="one gradient-descent step of a 2-layer ReLU net: forward, backward, update",
        size_help="BATCHxINxHIDDENxOUT, e.g. 128x1000x100x1 (the seed's net)",
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
    )
)
_register(
    Workload(
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
        # The loss curve, step by step: relative to each loss, since it falls
        # by orders of magnitude (down to the dtype's rounding floor), and
        # thousands of steps compound the rounding.
        check="elementwise",
        tolerance_scale=100.0,
    )
)


# --------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What one comparison runs.

    Attributes
    ----------
    backends, workloads : tuple of str
        Names from :data:`neurust.backends.KNOWN_BACKENDS` and :data:`WORKLOADS`.
    sizes : mapping of str to tuple of str
        Sizes per workload; a workload not in it runs its default sweep
        (``quick_sizes`` when ``quick``).
    dtypes : tuple of str
        ``"float64"`` and/or ``"float32"``.
    threads : tuple of int
        Thread counts; every backend runs with each in turn.
    repeat : int
        Samples per measurement (the median and quartiles are over these).
    warmup : int
        Calls before calibration, the first of which is checked against numpy.
    min_sample_s : float
        Calibration makes each sample last at least this long.
    quick : bool
        Whether the quick sweep (``--quick``) was asked for.
    seed : int
        Seeds the inputs, which are the same for every backend.
    """

    backends: tuple[str, ...] = KNOWN_BACKENDS
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    sizes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dtypes: tuple[str, ...] = ("float64",)
    threads: tuple[int, ...] = field(default_factory=lambda: (available_cores(),))
    repeat: int = DEFAULT_REPEAT
    warmup: int = 1
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S
    quick: bool = False
    seed: int = 0

    def sizes_of(self, workload: Workload) -> tuple[str, ...]:
        """The sizes to run ``workload`` at."""
        if workload.name in self.sizes:
            return self.sizes[workload.name]
        return workload.quick_sizes if self.quick else workload.sizes


@dataclass
class Measurement:
    """One backend on one workload, size, dtype and thread count.

    ``status`` is ``"ok"``, ``"mismatch"`` (timed, but its result differs from
    numpy's by more than the tolerance), ``"skipped"`` or ``"error"`` (the
    reason says why); ``timing`` is None unless the backend was timed.
    """

    workload: str
    size: str
    x: float
    dtype: str
    threads: int
    backend: str
    status: str
    reason: str | None = None
    timing: Timing | None = None
    max_error: float | None = None
    flops: float | None = None
    bytes: float | None = None
    throughput: float | None = None
    throughput_unit: str | None = None
    speedup_vs_numpy: float | None = None
    winner: bool = False

    @property
    def median_s(self) -> float | None:
        """The median time per call in seconds, or None if not timed."""
        return None if self.timing is None else self.timing.median_ns * 1e-9

    def to_json(self) -> dict[str, Any]:
        """The measurement as plain JSON values (times in seconds)."""
        timing = self.timing
        return {
            "workload": self.workload,
            "size": self.size,
            "x": self.x,
            "dtype": self.dtype,
            "threads": self.threads,
            "backend": self.backend,
            "status": self.status,
            "reason": self.reason,
            "median_s": None if timing is None else timing.median_ns * 1e-9,
            "q1_s": None if timing is None else timing.q1_ns * 1e-9,
            "q3_s": None if timing is None else timing.q3_ns * 1e-9,
            "iqr_s": None if timing is None else timing.iqr_ns * 1e-9,
            "samples_s": None if timing is None else [ns * 1e-9 for ns in timing.samples_ns],
            "calls_per_sample": None if timing is None else timing.calls_per_sample,
            "warmup_calls": None if timing is None else timing.warmup_calls,
            "max_error": _finite_or_none(self.max_error),
            "flops": self.flops,
            "bytes": self.bytes,
            "throughput": self.throughput,
            "throughput_unit": self.throughput_unit,
            "gflops_per_s": self._rate(self.flops),
            "gbytes_per_s": self._rate(self.bytes),
            "speedup_vs_numpy": self.speedup_vs_numpy,
            "winner": self.winner,
        }

    def _rate(self, amount: float | None) -> float | None:
        seconds = self.median_s
        if amount is None or not seconds:
            return None
        return amount / seconds / 1e9


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass
class Report:
    """Everything one comparison measured, with the machine and software it ran on."""

    settings: Settings
    measurements: list[Measurement]
    unavailable: dict[str, str]
    notes: list[str]
    machine: dict[str, Any]
    software: dict[str, Any]
    started: str
    duration_s: float
    command: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values; see :data:`JSON_SCHEMA_VERSION`."""
        settings = self.settings
        return {
            "schema": JSON_SCHEMA_VERSION,
            "started": self.started,
            "duration_s": self.duration_s,
            "command": self.command,
            "settings": {
                "backends": list(settings.backends),
                "workloads": list(settings.workloads),
                "sizes": {
                    name: list(settings.sizes_of(WORKLOADS[name])) for name in settings.workloads
                },
                "dtypes": list(settings.dtypes),
                "threads": list(settings.threads),
                "repeat": settings.repeat,
                "warmup": settings.warmup,
                "min_sample_s": settings.min_sample_s,
                "quick": settings.quick,
                "seed": settings.seed,
                "tolerance": {dtype: TOLERANCE[dtype] for dtype in settings.dtypes},
            },
            "machine": self.machine,
            "software": self.software,
            "unavailable_backends": self.unavailable,
            "notes": self.notes,
            "results": [measurement.to_json() for measurement in self.measurements],
        }

    @property
    def problems(self) -> list[Measurement]:
        """Measurements whose backend failed or disagreed with numpy."""
        return [m for m in self.measurements if m.status in ("mismatch", "error")]


JSON_SCHEMA_VERSION = "neurust-compare/1"


class ProgressHook(Protocol):
    """Receives the sweep's progress: a total once, then advances."""

    def start(self, total: int) -> None:
        """The sweep has ``total`` steps."""

    def advance(self, description: str, steps: int = 1) -> None:
        """``steps`` more steps are done; ``description`` says what runs now."""


def load_backends(names: Sequence[str]) -> tuple[dict[str, Backend], dict[str, str]]:
    """Create the named backends; those that cannot run here come back with the reason.

    Returns
    -------
    (dict of str to Backend, dict of str to str)
        The backends that loaded, and the reason for each that did not.
    """
    loaded: dict[str, Backend] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            loaded[name] = get_backend(name)
        except BackendUnavailableError as error:
            unavailable[name] = str(error)
        except Exception as error:  # a broken install must not stop the other backends
            unavailable[name] = f"backend {name!r} failed to load: {_describe(error)}"
    return loaded, unavailable


def _describe(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= 200 else text[:197] + "..."


def sync_hook(backend: Backend) -> Sync | None:
    """The backend's synchronize, unless it is the no-op of an eager CPU backend."""
    if getattr(type(backend), "synchronize", None) is BaseBackend.synchronize:
        return None
    return backend.synchronize


def _input_seed(seed: int, workload: str, size: str, dtype: str) -> int:
    return zlib.crc32(f"{seed}/{workload}/{size}/{dtype}".encode())


def max_error(got: Any, expected: np.ndarray, mode: str = "norm", *, floor: float = 0.0) -> float:
    """How far ``got`` is from ``expected``: the largest difference, relatively.

    Parameters
    ----------
    got, expected : array_like
        The backend's result and numpy's. NaN matches NaN.
    mode : str
        ``"norm"``: relative to the largest finite magnitude of ``expected``
        (right for sums, whose rounding scales with their terms);
        ``"elementwise"``: relative to each element of ``expected`` (right
        for a loss curve that falls by orders of magnitude).
    floor : float
        In ``"elementwise"`` mode, no element counts as smaller than ``floor``
        times the largest magnitude: pass the dtype's epsilon, below which
        values are rounding noise.

    Returns
    -------
    float
        0 for an exact match, ``inf`` for a different shape or a NaN or
        infinity on one side only.

    Examples
    --------
    >>> max_error([1.0, 3.0], np.array([1.0, 4.0]))
    0.25
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return math.inf
    if got.size == 0:
        return 0.0
    same = (got == expected) | (np.isnan(got) & np.isnan(expected))
    if same.all():
        return 0.0
    if not (np.isfinite(got[~same]).all() and np.isfinite(expected[~same]).all()):
        return math.inf
    difference = np.abs(got - expected)
    difference[same] = 0.0
    tiny = np.finfo(np.float64).tiny
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(float(finite.max()) if finite.size else 0.0, tiny)
    if mode == "elementwise":
        return float(np.max(difference / np.maximum(np.abs(expected), max(floor * scale, tiny))))
    return float(difference.max() / scale)


def skip_reason(
    workload: Workload, size: Size, dtype: str, threads: int, backend: Backend, jax_threads: int
) -> str | None:
    """Why ``backend`` does not run ``workload`` at this point of the sweep, or None.

    A backend is skipped when it cannot run the workload at all (no ``out=``
    for immutable arrays), does not compute the dtype natively, is pure Python
    above the workload's size limit, or is JAX at a thread count other than
    the one it started with (``jax_threads``).
    """
    name = backend.name
    if name in workload.unsupported:
        return workload.unsupported[name]
    if dtype not in backend.dtypes:
        return f"{name} computes only {' and '.join(backend.dtypes)}"
    if name == "python" and workload.x_value(size) > workload.python_limit:
        return (
            f"pure Python runs {workload.name} only up to {workload.python_limit:,.0f} "
            f"{workload.x_label}; larger sizes would take minutes"
        )
    if name == "jax" and threads != jax_threads:
        return (
            f"JAX fixed its thread pool at {jax_threads} when it started; "
            f"compare it with --threads {jax_threads} (or 1, set before JAX starts)"
        )
    return None


def _measure_point(
    workload: Workload,
    size: Size,
    dtype: str,
    threads: int,
    backends: Mapping[str, Backend],
    reference_backend: Backend,
    settings: Settings,
    jax_threads: int,
    clock: Clock,
    advance: Callable[[str, int], None],
) -> list[Measurement]:
    """Check and time every backend at one point of the sweep (interleaved samples)."""
    rng = np.random.default_rng(_input_seed(settings.seed, workload.name, size.label, dtype))
    inputs = workload.make_inputs(size, np.dtype(dtype), rng)
    itemsize = np.dtype(dtype).itemsize
    label = f"{workload.name} {size.label} {dtype} ×{threads}"
    per_backend = 1 + settings.repeat

    def new(name: str, status: str, reason: str | None = None) -> Measurement:
        return Measurement(
            workload=workload.name,
            size=size.label,
            x=workload.x_value(size),
            dtype=dtype,
            threads=threads,
            backend=name,
            status=status,
            reason=reason,
            flops=workload.flops(size) if workload.flops else None,
            bytes=workload.bytes_moved(size, itemsize) if workload.bytes_moved else None,
            throughput_unit=workload.throughput,
        )

    results: dict[str, Measurement] = {}
    timers: dict[str, Timer] = {}
    firsts: dict[str, np.ndarray] = {}
    # numpy first: its first result is the reference the others are checked against.
    order = sorted(backends, key=lambda name: name != "numpy")
    for name in order:
        backend = backends[name]
        reason = skip_reason(workload, size, dtype, threads, backend, jax_threads)
        if reason is not None:
            results[name] = new(name, "skipped", reason)
            advance(f"{label}: {name} skipped", per_backend)
            continue
        advance(f"{label}: {name} warm-up", 0)
        try:
            case = workload.prepare(backend, inputs, size)
            timer = Timer(
                case.call,
                sync=sync_hook(backend),
                clock=clock,
                min_sample_ns=settings.min_sample_s * 1e9,
            )
            firsts[name] = case.result(timer.warm_up(settings.warmup))
            timer.calibrate()
        except Exception as error:
            results[name] = new(name, "error", _describe(error))
            advance(f"{label}: {name} failed", per_backend)
            continue
        results[name] = new(name, "ok")
        timers[name] = timer
        advance(f"{label}: {name}", 1)

    reference = firsts.get("numpy")
    if reference is None:
        try:
            case = workload.prepare(reference_backend, inputs, size)
            reference = case.result(case.call())
        except Exception as error:
            for name in firsts:
                results[name].reason = f"no numpy reference to check against: {_describe(error)}"
    tolerance = TOLERANCE[dtype] * workload.tolerance_scale
    if reference is not None:
        for name, first in firsts.items():
            error = max_error(first, reference, workload.check, floor=float(np.finfo(dtype).eps))
            result = results[name]
            result.max_error = error
            if not error <= tolerance:
                result.status = "mismatch"
                result.reason = (
                    f"differs from numpy by {error:.2g} (relative; tolerance {tolerance:.0e})"
                )
    del firsts

    def failed(name: str, error: Exception) -> None:
        results[name].status = "error"
        results[name].reason = f"failed while timed: {_describe(error)}"

    timings = measure_interleaved(
        timers,
        settings.repeat,
        on_sample=lambda name: advance(f"{label}: {name}", 1),
        on_error=failed,
    )
    for name, timing in timings.items():
        result = results[name]
        result.timing = timing
        result.throughput = workload.throughput_of(size, itemsize, timing.median_ns * 1e-9)
    numpy_result = results.get("numpy")
    numpy_median = numpy_result.median_s if numpy_result is not None else None
    timed = [m for m in results.values() if m.timing is not None]
    for result in timed:
        if numpy_median and result.median_s and numpy_result.status == "ok":
            result.speedup_vs_numpy = numpy_median / result.median_s
    eligible = [m for m in timed if m.status == "ok"]
    if eligible:
        min(eligible, key=lambda m: m.timing.median_ns).winner = True
    return [results[name] for name in backends]


def run_comparison(
    settings: Settings,
    *,
    progress: ProgressHook | None = None,
    clock: Clock = time.perf_counter_ns,
) -> Report:
    """Run the sweep that ``settings`` describes and return every measurement.

    Parameters
    ----------
    settings : Settings
        Backends, workloads, sizes, dtypes, thread counts and repeats.
    progress : ProgressHook, optional
        Told the total number of steps, then each step as it finishes.
    clock : callable, optional
        Nanosecond clock for the timers (tests inject a fake one).

    Returns
    -------
    Report
        The measurements (skipped and failed ones included, with the reason),
        the backends that could not run here, and the machine and software.

    Raises
    ------
    ValueError
        If a workload, backend, dtype or size is unknown or malformed.

    Examples
    --------
    >>> report = run_comparison(Settings(backends=("numpy", "rust"), workloads=("relu",),
    ...                                  sizes={"relu": ("4",)}, repeat=1, min_sample_s=1e-4))
    >>> [m.backend for m in report.measurements]
    ['numpy', 'rust']
    """
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    begin = time.perf_counter()
    for name in settings.backends:
        if name not in KNOWN_BACKENDS:
            raise ValueError(
                f"unknown backend {name!r}; valid choices: {', '.join(KNOWN_BACKENDS)}"
            )
    for name in settings.workloads:
        if name not in WORKLOADS:
            raise ValueError(f"unknown workload {name!r}; valid choices: {', '.join(WORKLOADS)}")
    for dtype in settings.dtypes:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; valid choices: {', '.join(DTYPES)}")
    workloads = [WORKLOADS[name] for name in settings.workloads]
    points = [
        (workload, [workload.parse_size(text) for text in settings.sizes_of(workload)])
        for workload in workloads
    ]

    jax_threads = (
        configure_jax_threads(settings.threads) if "jax" in settings.backends else available_cores()
    )
    backends, unavailable = load_backends(settings.backends)
    reference_backend = backends.get("numpy") or get_backend("numpy")
    notes: list[str] = []
    if "jax" in backends and any(threads != jax_threads for threads in settings.threads):
        notes.append(
            f"JAX runs with the {jax_threads} thread(s) it started with, so it is timed only at "
            f"--threads {jax_threads}"
        )

    total = (
        len(settings.dtypes)
        * len(settings.threads)
        * sum(len(sizes) for _, sizes in points)
        * len(backends)
        * (1 + settings.repeat)
    )
    if progress is not None:
        progress.start(total)

    def advance(description: str, steps: int) -> None:
        if progress is not None:
            progress.advance(description, steps)

    measurements: list[Measurement] = []
    for dtype in settings.dtypes:
        for threads in settings.threads:
            with thread_limit(threads) as thread_notes:
                for note in thread_notes:
                    if note not in notes:
                        notes.append(note)
                for workload, sizes in points:
                    for size in sizes:
                        measurements += _measure_point(
                            workload,
                            size,
                            dtype,
                            threads,
                            backends,
                            reference_backend,
                            settings,
                            jax_threads,
                            clock,
                            advance,
                        )
    software = software_info()
    if software["neurust"].get("profile") not in (None, "release"):
        notes.append(
            f"neurust is a {software['neurust']['profile']} build: its timings are meaningless "
            "(rebuild with maturin develop --release)"
        )
    return Report(
        settings=settings,
        measurements=measurements,
        unavailable=unavailable,
        notes=notes,
        machine=machine_info(),
        software=software,
        started=started,
        duration_s=time.perf_counter() - begin,
    )


# --------------------------------------------------------------------------------------
# Machine and software
# --------------------------------------------------------------------------------------

_SIMD_FLAGS = (
    "sse2",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "asimd",
    "sve",
    "sve2",
)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def machine_info() -> dict[str, Any]:
    """Describe the machine: CPU model, cores, SIMD features, memory, GPUs.

    Returns
    -------
    dict
        ``cpu_model``, ``logical_cores``, ``usable_cores`` (this process's
        affinity), ``simd`` (the vector extensions the CPU reports),
        ``memory_gib``, ``platform`` and ``gpus`` (CUDA devices torch sees,
        when torch is imported).
    """
    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    model = cpu.get("model name") or platform.processor() or platform.machine()
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / (1 << 20), 1)
    gpus: list[str] = []
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():
                gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": available_cores(),
        "simd": [flag for flag in _SIMD_FLAGS if flag in flags],
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "gpus": gpus,
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _threadpools() -> list[dict[str, Any]]:
    """The BLAS and OpenMP libraries loaded in this process, through threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        config: Any = None
        with contextlib.suppress(Exception):
            config = np.show_config(mode="dicts")
        blas = ((config or {}).get("Build Dependencies") or {}).get("blas") or {}
        return [{"user_api": "blas", **blas}] if blas else []
    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer")
    libraries = []
    for library in threadpool_info():
        entry = {key: library.get(key) for key in keys}
        entry["num_threads"] = library.get("num_threads")
        path = library.get("filepath") or ""
        entry["file"] = os.path.basename(path)
        # numpy's wheels keep their BLAS in numpy.libs (numpy/.dylibs on
        # macOS); neurust's own OpenBLAS is another BLAS entry.
        entry["numpy"] = "numpy" in path
        libraries.append(entry)
    return libraries


def software_info() -> dict[str, Any]:
    """Describe the software: Python, numpy and its BLAS, torch, jax, neurust's build.

    Returns
    -------
    dict
        Versions (None for what is not installed), ``threadpools`` (the BLAS
        and OpenMP libraries loaded, with their thread counts; numpy's BLAS is
        the ``"blas"`` entry whose ``numpy`` is true) and ``neurust``
        (its version and :func:`neurust.build_info`: build profile, SIMD
        kernels, GEMM).
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "threadpools": _threadpools(),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "threadpoolctl": _version("threadpoolctl"),
        "rich": _version("rich"),
        "matplotlib": _version("matplotlib"),
        "neurust": {"version": neurust.__version__, **_core.build_info()},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_cuda"] = torch.version.cuda
        with contextlib.suppress(Exception):
            info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


# --------------------------------------------------------------------------------------
# Output: table, JSON, plot
# --------------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """Three significant digits in ns, µs, ms or s: ``format_seconds(2.7e-7) == '270 ns'``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def format_ratio(ratio: float) -> str:
    """A speed-up: two decimals (``'1.36×'``), two significant digits below 0.1 (``'0.0011×'``)."""
    return f"{ratio:.2f}×" if ratio >= 0.095 else f"{ratio:.2g}×"


def _format_rate(value: float | None, unit: str | None) -> str:
    if value is None or unit is None:
        return ""
    return f"{value:.3g} {unit}"


def _groups(report: Report) -> list[tuple[str, int, list[tuple[str, str]]]]:
    """(dtype, threads, [(workload, size), ...]) in the order they were measured."""
    groups: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for m in report.measurements:
        rows = groups.setdefault((m.dtype, m.threads), [])
        if (m.workload, m.size) not in rows:
            rows.append((m.workload, m.size))
    return [(dtype, threads, rows) for (dtype, threads), rows in groups.items()]


def _header_line(report: Report) -> str:
    machine, software = report.machine, report.software
    build = software["neurust"]
    blases = [lib for lib in software["threadpools"] if lib.get("user_api") == "blas"]
    blas = next((lib for lib in blases if lib.get("numpy")), blases[0] if blases else None)
    blas_text = f" ({blas.get('internal_api')} {blas.get('version')})" if blas else ""
    gpu = f", {', '.join(machine['gpus'])}" if machine["gpus"] else ", no GPU"
    parts = [
        f"{machine['cpu_model']}, {machine['usable_cores']} cores{gpu}",
        f"SIMD {' '.join(machine['simd']) or 'unknown'}",
        f"numpy {software['numpy']}{blas_text}",
        f"neurust {build.get('version')} {build.get('profile')} ({build.get('gemm', '?')})",
    ]
    return " · ".join(parts)


@dataclass
class _Table:
    """One table to print, renderer-neutral (cells may hold rich markup when ``rich``)."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)


def _escape(text: str, rich: bool) -> str:
    return text.replace("[", "\\[") if rich else text


class _Cells:
    """The cells of one comparison table, numbering skip, error and mismatch reasons."""

    def __init__(self, rich: bool) -> None:
        self.rich = rich
        self.footnotes: dict[str, int] = {}

    def _note(self, m: Measurement) -> str:
        number = self.footnotes.setdefault(f"{m.backend}: {m.reason}", len(self.footnotes) + 1)
        return _escape(f"[{number}]", self.rich)

    def cell(self, m: Measurement | None) -> str:
        if m is None:
            return ""
        rich = self.rich
        if m.status in ("skipped", "error"):
            text = f"{m.status} {self._note(m)}"
            if not rich:
                return text
            return f"[dim]{text}[/]" if m.status == "skipped" else f"[bold red]{text}[/]"
        assert m.timing is not None
        median = m.timing.median_ns * 1e-9
        spread = 100 * m.timing.iqr_ns / m.timing.median_ns if m.timing.median_ns else 0.0
        time_text = f"{format_seconds(median)} ±{spread:.0f}%"
        speedup = "" if m.speedup_vs_numpy is None else format_ratio(m.speedup_vs_numpy)
        if m.status == "mismatch":
            flag = f"MISMATCH {self._note(m)}"
            return f"{time_text}\n[bold red]{flag}[/]" if rich else f"{time_text} {flag}"
        if not rich:
            return f"{time_text} {speedup}".strip()
        if m.winner:
            return f"[bold]{time_text}[/]\n[bold green]{speedup}[/]"
        return f"{time_text}\n[dim]{speedup}[/]"


def _shown_backends(report: Report) -> list[str]:
    return [name for name in report.settings.backends if name not in report.unavailable]


def _comparison_tables(report: Report, rich: bool) -> list[_Table]:
    """One table per dtype and thread count: a row per workload and size."""
    backends = _shown_backends(report)
    tables = []
    for dtype, threads, rows in _groups(report):
        index = {
            (m.workload, m.size, m.backend): m
            for m in report.measurements
            if m.dtype == dtype and m.threads == threads
        }
        cells = _Cells(rich)
        table = _Table(
            title=f"{dtype}, {threads} thread{'s' if threads != 1 else ''} · "
            "median time per call ±IQR, speed-up vs numpy",
            columns=["workload", "size", *backends, "winner", "best"],
        )
        previous = None
        for workload, size in rows:
            found = [index.get((workload, size, name)) for name in backends]
            winner = next((m for m in found if m is not None and m.winner), None)
            table.rows.append(
                [
                    workload if workload != previous or not rich else "",
                    size,
                    *(cells.cell(m) for m in found),
                    winner.backend if winner else "",
                    _format_rate(winner.throughput, winner.throughput_unit) if winner else "",
                ]
            )
            previous = workload
        table.footnotes = [
            f"{_escape(f'[{number}]', rich)} {_escape(reason, rich)}"
            for reason, number in cells.footnotes.items()
        ]
        tables.append(table)
    return tables


def _scaling_tables(report: Report) -> list[_Table]:
    """With several thread counts: each backend's speed-up from the fewest threads to the most."""
    counts = sorted({m.threads for m in report.measurements})
    if len(counts) < 2:
        return []
    fewest, most = counts[0], counts[-1]
    backends = _shown_backends(report)
    medians = {
        (m.dtype, m.threads, m.workload, m.size, m.backend): m.median_s
        for m in report.measurements
        if m.timing is not None
    }
    tables = []
    for dtype in dict.fromkeys(m.dtype for m in report.measurements):
        table = _Table(
            title=f"{dtype} · speed-up of {most} threads over {fewest}",
            columns=["workload", "size", *backends],
        )
        rows = dict.fromkeys((m.workload, m.size) for m in report.measurements if m.dtype == dtype)
        for workload, size in rows:
            cells = []
            for name in backends:
                slow = medians.get((dtype, fewest, workload, size, name))
                fast = medians.get((dtype, most, workload, size, name))
                cells.append(format_ratio(slow / fast) if slow and fast else "")
            table.rows.append([workload, size, *cells])
        tables.append(table)
    return tables


def print_table(report: Report, file: Any = None) -> None:
    """Print the comparison: one table per dtype and thread count, then the footnotes.

    Each cell holds a backend's median time per call with its interquartile
    range (as a share of the median) and its speed-up over numpy; the last
    columns name the winner and its throughput. With several thread counts, a
    last table gives each backend's speed-up from the fewest threads to the
    most. Uses rich when it is installed, plain text otherwise.

    Parameters
    ----------
    report : Report
        What :func:`run_comparison` returned.
    file : file object, optional
        Where to print; standard output by default.
    """
    file = file if file is not None else sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = Table = None

    rich = Console is not None
    tables = _comparison_tables(report, rich) + _scaling_tables(report)
    if not rich:
        print(f"neurust compare · {_header_line(report)}", file=file)
        for table in tables:
            print(f"\n{table.title}", file=file)
            lines = [table.columns, *table.rows]
            widths = [max(len(line[i]) for line in lines) for i in range(len(table.columns))]
            for line in lines:
                cells = (text.ljust(width) for text, width in zip(line, widths, strict=True))
                print("  ".join(cells).rstrip(), file=file)
            for footnote in table.footnotes:
                print(footnote, file=file)
        _print_trailer(report, lambda text: print(text, file=file))
        return

    # Not a terminal (a pipe, a file, the README): wide enough for six backends.
    console = Console(file=file, width=None if file.isatty() else 160, highlight=False)
    console.print(
        f"[bold]neurust compare[/] · {_escape(_header_line(report), True)}", soft_wrap=True
    )
    for spec in tables:
        table = Table(title=spec.title, title_justify="left")
        for index, column in enumerate(spec.columns):
            table.add_column(
                column,
                justify="left" if index < 2 or column == "winner" else "right",
                style="bold" if index == 0 else ("bold green" if column == "winner" else None),
            )
        for row in spec.rows:
            table.add_row(*row)
        console.print(table)
        for footnote in spec.footnotes:
            console.print(f"  {footnote}", style="dim", soft_wrap=True)
    _print_trailer(report, lambda text: console.print(text, markup=False, soft_wrap=True))


def _print_trailer(report: Report, say: Callable[[str], None]) -> None:
    for name, reason in report.unavailable.items():
        say(f"skipped backend {name}: {reason}")
    for note in report.notes:
        say(f"note: {note}")
    for m in report.problems:
        say(f"{m.status}: {m.backend} on {m.workload} {m.size} {m.dtype}: {m.reason}")
    say(f"{len(report.measurements)} measurements in {report.duration_s:.1f} s")


def write_json(report: Report, path: str | os.PathLike[str]) -> None:
    """Write every measurement, the settings, machine and software as JSON to ``path``."""
    Path(path).write_text(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")


_COLORS = {
    "python": "#7f7f7f",
    "numpy": "#1f77b4",
    "torch": "#ff7f0e",
    "torch-cuda": "#d62728",
    "jax": "#2ca02c",
    "rust": "#b7410e",
}


def write_plot(report: Report, path: str | os.PathLike[str]) -> None:
    """Plot time per call against size, log-log: one panel per workload, one line per backend.

    Lines for float32 are dashed; several thread counts get different markers.
    The shaded band around each line is the interquartile range. Crossovers
    (where one backend overtakes another as the size grows) show as crossing
    lines.

    Parameters
    ----------
    report : Report
        What :func:`run_comparison` returned.
    path : path-like
        The image to write (PNG, or any format matplotlib infers from the name).

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    from matplotlib.figure import Figure

    timed = [m for m in report.measurements if m.timing is not None]
    workloads = list(dict.fromkeys(m.workload for m in timed)) or ["(nothing timed)"]
    columns = min(3, len(workloads))
    rows = math.ceil(len(workloads) / columns)
    figure = Figure(figsize=(5.2 * columns, 4.0 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    several_threads = len({m.threads for m in timed}) > 1
    several_dtypes = len({m.dtype for m in timed}) > 1
    markers = "osD^v<>"
    thread_counts = sorted({m.threads for m in timed})
    for axis, name in zip(axes, workloads, strict=False):
        series: dict[tuple[str, str, int], list[Measurement]] = {}
        for m in timed:
            if m.workload == name:
                series.setdefault((m.backend, m.dtype, m.threads), []).append(m)
        for (backend, dtype, threads), points in series.items():
            points.sort(key=lambda m: m.x)
            x = [m.x for m in points]
            median = [m.timing.median_ns * 1e-9 for m in points]
            label = backend
            if several_dtypes:
                label += f" {dtype}"
            if several_threads:
                label += f" ×{threads}"
            if any(m.status == "mismatch" for m in points):
                label += " (mismatch)"
            color = _COLORS.get(backend)
            axis.plot(
                x,
                median,
                marker=markers[thread_counts.index(threads) % len(markers)],
                linestyle="--" if dtype == "float32" else "-",
                color=color,
                label=label,
            )
            axis.fill_between(
                x,
                [m.timing.q1_ns * 1e-9 for m in points],
                [m.timing.q3_ns * 1e-9 for m in points],
                color=color,
                alpha=0.2,
                linewidth=0,
            )
        workload = WORKLOADS.get(name)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(name)
        axis.set_xlabel(workload.x_label if workload else "")
        axis.set_ylabel("median time per call (s)")
        axis.grid(True, which="major", alpha=0.3)
        if series:
            axis.legend(fontsize="small")
    for axis in axes[len(workloads) :]:
        axis.set_visible(False)
    figure.suptitle(f"neurust compare: {_header_line(report)}", fontsize="small")
    figure.savefig(path, dpi=110)


# --------------------------------------------------------------------------------------
# The command line: `neurust compare`
# --------------------------------------------------------------------------------------


class _RichProgress:
    """A rich progress bar on standard error, gone when the sweep ends."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> _RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: int) -> None:
        self._task = self._progress.add_task("starting", total=total)

    def advance(self, description: str, steps: int = 1) -> None:
        self._progress.update(self._task, advance=steps, description=description)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``neurust compare`` to ``parser``."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short sweep (about a minute on 2 cores): fewer sizes, repeats and workloads",
    )
    parser.add_argument(
        "--backends",
        metavar="LIST",
        help=f"comma-separated, from: {', '.join(KNOWN_BACKENDS)} (default: all)",
    )
    parser.add_argument(
        "--workloads",
        metavar="LIST",
        help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--sizes",
        metavar="[WORKLOAD=]LIST",
        action="append",
        default=[],
        help="comma-separated sizes for one workload (WORKLOAD=LIST; repeatable), or for every "
        "selected workload (LIST); the formats are listed below",
    )
    parser.add_argument(
        "--repeat",
        metavar="N",
        type=int,
        help=f"samples per measurement (default {DEFAULT_REPEAT}, {QUICK_REPEAT} with --quick)",
    )
    parser.add_argument(
        "--threads",
        metavar="LIST",
        help=f"comma-separated thread counts, each applied to every backend "
        f"(default: the {available_cores()} usable cores)",
    )
    parser.add_argument(
        "--dtype",
        metavar="LIST",
        default="float64",
        help=f"comma-separated, from: {', '.join(DTYPES)} (default: float64)",
    )
    parser.add_argument(
        "--min-time",
        metavar="SECONDS",
        type=float,
        help=f"shortest sample; short calls are repeated in batches to reach it (default "
        f"{DEFAULT_MIN_SAMPLE_S}, {QUICK_MIN_SAMPLE_S} with --quick)",
    )
    parser.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="write a log-log plot per workload")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _choices(
    parser: argparse.ArgumentParser, option: str, text: str | None, valid: Sequence[str]
) -> tuple[str, ...]:
    if text is None or text == "all":
        return tuple(valid)
    names = _split(text)
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        parser.error(
            f"{option}: unknown {', '.join(map(repr, unknown)) or 'empty list'}; "
            f"valid choices: {', '.join(valid)}"
        )
    return tuple(dict.fromkeys(names))


def settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Settings:
    """Validate the parsed options; a bad one exits with status 2 naming the valid choices."""
    backends = _choices(parser, "--backends", args.backends, KNOWN_BACKENDS)
    default_workloads = [w.name for w in WORKLOADS.values() if w.in_quick or not args.quick]
    workloads = _choices(parser, "--workloads", args.workloads, list(WORKLOADS))
    if args.workloads is None:
        workloads = tuple(default_workloads)
    dtypes = _choices(parser, "--dtype", args.dtype, DTYPES)

    threads: tuple[int, ...] = (available_cores(),)
    if args.threads is not None:
        try:
            threads = tuple(dict.fromkeys(int(part) for part in _split(args.threads)))
        except ValueError:
            threads = ()
        if not threads or min(threads) < 1:
            parser.error(f"--threads: {args.threads!r} is not a list of positive integers")
    repeat = (
        args.repeat if args.repeat is not None else QUICK_REPEAT if args.quick else DEFAULT_REPEAT
    )
    if repeat < 1:
        parser.error(f"--repeat: {repeat} is not a positive integer")
    min_time = args.min_time
    if min_time is None:
        min_time = QUICK_MIN_SAMPLE_S if args.quick else DEFAULT_MIN_SAMPLE_S
    if not min_time > 0:
        parser.error(f"--min-time: {min_time} is not a positive number of seconds")

    sizes: dict[str, tuple[str, ...]] = {}
    for spec in args.sizes:
        target, has_target, text = spec.rpartition("=")
        names = [target.strip()] if has_target else list(workloads)
        for name in names:
            if name not in WORKLOADS:
                parser.error(
                    f"--sizes: unknown workload {name!r}; valid choices: {', '.join(WORKLOADS)}"
                )
            if name not in workloads:
                parser.error(f"--sizes: workload {name!r} is not among --workloads")
            values = tuple(_split(text))
            if not values:
                parser.error(f"--sizes {spec!r}: no sizes given")
            for value in values:
                try:
                    WORKLOADS[name].parse_size(value)
                except ValueError as error:
                    parser.error(
                        f"--sizes: {error} for {name}; expected {WORKLOADS[name].size_help}"
                    )
            sizes[name] = values
    return Settings(
        backends=backends,
        workloads=workloads,
        sizes=sizes,
        dtypes=dtypes,
        threads=threads,
        repeat=repeat,
        min_sample_s=min_time,
        quick=args.quick,
    )


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``neurust compare`` with parsed options: the sweep, the table, JSON and plot.

    Returns
    -------
    int
        0 when every backend that ran agreed with numpy, 1 when one failed or
        disagreed (the table shows which), 130 when interrupted (Ctrl-C). Bad
        options exit with status 2.
    """
    settings = settings_from_args(args, parser)
    if args.plot:
        try:
            import matplotlib  # noqa: F401 - only checking that --plot can work
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'neurust[compare]'")
    progress: Any = None
    if not args.no_progress:
        with contextlib.suppress(ImportError):
            progress = _RichProgress()
    try:
        with progress if progress is not None else contextlib.nullcontext():
            report = run_comparison(settings, progress=progress)
    except KeyboardInterrupt:
        print("neurust compare: interrupted", file=sys.stderr)
        return 130
    report.command = ["neurust", "compare", *getattr(args, "argv", [])]
    print_table(report)
    if args.json:
        write_json(report, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        write_plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 1 if report.problems else 0


def workloads_help() -> str:
    """The list of workloads for ``--help``: what each times, its sizes and their format."""
    lines = ["workloads (default sizes; --quick sizes; size format):"]
    for w in WORKLOADS.values():
        quick = ", ".join(w.quick_sizes) + ("" if w.in_quick else " (when named in --workloads)")
        lines.append(f"  {w.name}: {w.summary}")
        lines.append(f"      {', '.join(w.sizes)}; --quick: {quick}")
        lines.append(f"      size: {w.size_help}")
    lines.append(
        "\nexit status: 0, or 1 when a backend failed or disagreed with numpy (the table shows "
        "which), or 2 for a bad option."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``neurust compare``; ``argv`` are the arguments after ``compare``.

    Returns
    -------
    int
        The exit status (see :func:`run_command`); bad options exit with status 2.
    """
    parser = argparse.ArgumentParser(
        prog="neurust compare",
        description="Time the same work on every backend (pure Python, numpy, torch, "
        "torch on CUDA, JAX, Rust), check each result against numpy, and show who wins where.",
        epilog=workloads_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    return run_command(args, parser)


if __name__ == "__main__":
    sys.exit(main())
