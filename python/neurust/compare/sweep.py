"""The sweep: every backend at every point (dtype × threads × workload × size), checked and timed.

For each point it

1. converts the inputs to every backend's native arrays, on its device, so
   that the timing measures compute and not conversion;
2. runs each backend once (the first warm-up call) and checks its result
   against numpy's; a mismatch is recorded and shown, never hidden;
3. calibrates how many calls make one sample, timeit-style, so that a call of
   a fraction of a microsecond is timed in batches and reported per call;
4. takes ``repeat`` samples, interleaving the backends so that drift on a
   noisy machine hits them all alike (each round starting one backend later),
   and keeps the median and the interquartile range.

Before each backend's calibration and each sample it waits until the thread
pools of whatever ran before are idle (:func:`.threads.wait_until_idle`):
numpy's OpenBLAS keeps its threads spinning for a while after a call, and
the next backend would otherwise share a core with them. With
``Settings.isolate`` each backend runs in a worker process of its own
(:mod:`.worker`) and no other library's threads exist beside it.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import pickle
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from neurust.backends import (
    KNOWN_BACKENDS,
    Backend,
    BackendUnavailableError,
    capability,
    get_backend,
    missing_capability,
)
from neurust.compare.check import DTYPES, TOLERANCE, max_error
from neurust.compare.environment import available_memory, machine_info, software_info
from neurust.compare.report import Measurement, Report, Settings
from neurust.compare.threads import (
    available_cores,
    configure_jax_threads,
    oversubscribed,
    thread_limit,
    wait_until_idle,
)
from neurust.compare.timing import Clock, Sync, Timer, measure_interleaved
from neurust.compare.workloads import WORKLOADS, Inputs, Size, Workload


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
    """The backend's synchronize, or None for a backend that computes eagerly."""
    return backend.synchronize if backend.asynchronous else None


def _input_seed(seed: int, workload: str, size: str, dtype: str) -> int:
    return zlib.crc32(f"{seed}/{workload}/{size}/{dtype}".encode())


def skip_reason(
    workload: Workload, size: Size, dtype: str, threads: int, backend: Backend, jax_threads: int
) -> str | None:
    """Why ``backend`` does not run ``workload`` at this point of the sweep, or None.

    A backend is skipped when it lacks a capability the workload requires (no
    ``out=`` for immutable arrays), does not compute the dtype natively, is
    interpreted (pure Python) above the workload's size limit, or fixed its
    thread pool when it started (JAX) at a count other than ``threads``
    (``jax_threads``).
    """
    name = backend.name
    if workload.requires is not None and capability(backend, workload.requires) is None:
        return missing_capability(backend, workload.requires)
    if dtype not in backend.dtypes:
        return f"{name} computes only {' and '.join(backend.dtypes)}"
    if backend.interpreted and workload.x_value(size) > workload.python_limit:
        return (
            f"pure Python runs {workload.name} only up to {workload.python_limit:,.0f} "
            f"{workload.x_label}; larger sizes would take minutes"
        )
    if backend.threads_fixed_at_start and threads != jax_threads:
        return (
            f"JAX fixed its thread pool at {jax_threads} when it started; "
            f"compare it with --threads {jax_threads} (or 1, set before JAX starts)"
        )
    return None


class _Settle:
    """Waits for idle pools before a sample, counting the waits that timed out."""

    def __init__(self) -> None:
        self.timeouts = 0

    def __call__(self) -> None:
        if not wait_until_idle():
            self.timeouts += 1


@dataclass(frozen=True)
class _Sweep:
    """What every point of one sweep shares."""

    settings: Settings
    backends: Mapping[str, Backend]
    reference_backend: Backend  # numpy, loaded even when not compared
    jax_threads: int
    clock: Clock
    progress: ProgressHook | None
    settle: _Settle = field(default_factory=_Settle)

    def start(self, points: list[tuple[Workload, list[Size]]]) -> None:
        """Tell the progress hook how many steps the sweep over ``points`` takes."""
        if self.progress is not None:
            settings = self.settings
            sizes = sum(len(sizes) for _, sizes in points)
            per_size = len(self.backends) * (1 + settings.repeat)
            self.progress.start(len(settings.dtypes) * len(settings.threads) * sizes * per_size)

    def advance(self, description: str, steps: int) -> None:
        """``steps`` more steps are done; ``description`` says what runs now."""
        if self.progress is not None:
            self.progress.advance(description, steps)


@dataclass(frozen=True)
class _Point:
    """One point of the sweep: a workload at one size, dtype and thread count."""

    workload: Workload
    size: Size
    dtype: str
    threads: int

    @property
    def label(self) -> str:
        return f"{self.workload.name} {self.size.label} {self.dtype} ×{self.threads}"

    def measurement(self, backend: str, status: str, reason: str | None = None) -> Measurement:
        """A measurement of ``backend`` at this point, not yet timed."""
        workload, size = self.workload, self.size
        itemsize = np.dtype(self.dtype).itemsize
        return Measurement(
            workload=workload.name,
            size=size.label,
            x=workload.x_value(size),
            dtype=self.dtype,
            threads=self.threads,
            backend=backend,
            status=status,
            reason=reason,
            flops=workload.flops(size) if workload.flops else None,
            bytes=workload.bytes_moved(size, itemsize) if workload.bytes_moved else None,
            throughput_unit=workload.throughput,
        )


def _memory_reason(point: _Point, backends: int) -> str | None:
    """Why the point cannot fit in the memory available now, or None when it can (or is unknown)."""
    available = available_memory()
    if available is None:
        return None
    itemsize = np.dtype(point.dtype).itemsize
    needed = point.workload.memory_needed(point.size, itemsize, backends)
    if needed <= available:
        return None
    return (
        f"{point.workload.name} {point.size.label} needs about {needed / 2**30:,.1f} GiB; "
        f"{available / 2**30:,.1f} GiB of memory is available"
    )


def _skip_all(sweep: _Sweep, point: _Point, reason: str) -> list[Measurement]:
    sweep.advance(f"{point.label}: skipped", len(sweep.backends) * (1 + sweep.settings.repeat))
    return [point.measurement(name, "skipped", reason) for name in sweep.backends]


def _measure_point(sweep: _Sweep, point: _Point) -> list[Measurement]:
    """Check and time every backend at one point of the sweep (interleaved samples)."""
    reason = _memory_reason(point, len(sweep.backends))
    if reason is not None:
        return _skip_all(sweep, point, reason)
    seed = _input_seed(sweep.settings.seed, point.workload.name, point.size.label, point.dtype)
    try:
        inputs = point.workload.make_inputs(
            point.size, np.dtype(point.dtype), np.random.default_rng(seed)
        )
    except MemoryError:
        return _skip_all(sweep, point, f"out of memory making the inputs of {point.label}")
    results, timers, firsts = _warm_up(sweep, point, inputs)
    _check_against_numpy(sweep, point, inputs, results, firsts)
    del firsts  # large results need not stay in memory while the others are timed
    _time(sweep, point, results, timers)
    _rank(results)
    return [results[name] for name in sweep.backends]


def _warm_up(
    sweep: _Sweep, point: _Point, inputs: Inputs
) -> tuple[dict[str, Measurement], dict[str, Timer], dict[str, np.ndarray]]:
    """Prepare, warm up and calibrate each backend; return its measurement, timer, first result."""
    settings, label = sweep.settings, point.label
    per_backend = 1 + settings.repeat
    results: dict[str, Measurement] = {}
    timers: dict[str, Timer] = {}
    firsts: dict[str, np.ndarray] = {}
    # numpy first: its first result is the reference the others are checked against.
    for name in sorted(sweep.backends, key=lambda name: name != "numpy"):
        backend = sweep.backends[name]
        reason = skip_reason(
            point.workload, point.size, point.dtype, point.threads, backend, sweep.jax_threads
        )
        if reason is not None:
            results[name] = point.measurement(name, "skipped", reason)
            sweep.advance(f"{label}: {name} skipped", per_backend)
            continue
        sweep.advance(f"{label}: {name} warm-up", 0)
        try:
            case = point.workload.prepare(backend, inputs, point.size)
            timer = Timer(
                case.call,
                sync=sync_hook(backend),
                clock=sweep.clock,
                min_sample_ns=settings.min_sample_s * 1e9,
            )
            firsts[name] = case.result(timer.warm_up(settings.warmup))
            sweep.settle()
            timer.calibrate()
        except Exception as error:
            results[name] = point.measurement(name, "error", _describe(error))
            sweep.advance(f"{label}: {name} failed", per_backend)
            continue
        results[name] = point.measurement(name, "ok")
        timers[name] = timer
        sweep.advance(f"{label}: {name}", 1)
    return results, timers, firsts


def _check_against_numpy(
    sweep: _Sweep,
    point: _Point,
    inputs: Inputs,
    results: dict[str, Measurement],
    firsts: dict[str, np.ndarray],
) -> None:
    """Mark each first result further from numpy's than the tolerance as a mismatch."""
    reference = firsts.get("numpy")
    if reference is None:
        try:
            case = point.workload.prepare(sweep.reference_backend, inputs, point.size)
            reference = case.result(case.call())
        except Exception as error:
            for name in firsts:
                results[name].reason = f"no numpy reference to check against: {_describe(error)}"
            return
    tolerance = TOLERANCE[point.dtype] * point.workload.tolerance_scale
    floor = float(np.finfo(point.dtype).eps)
    for name, first in firsts.items():
        difference = max_error(first, reference, point.workload.check, floor=floor)
        result = results[name]
        result.max_error = difference
        if not difference <= tolerance:
            result.status = "mismatch"
            result.reason = (
                f"differs from numpy by {difference:.2g} (relative; tolerance {tolerance:.0e})"
            )


def _time(
    sweep: _Sweep, point: _Point, results: dict[str, Measurement], timers: dict[str, Timer]
) -> None:
    """Take the samples, a round over every backend at a time; a backend that raises stops."""

    def failed(name: str, error: Exception) -> None:
        results[name].status = "error"
        results[name].reason = f"failed while timed: {_describe(error)}"

    timings = measure_interleaved(
        timers,
        sweep.settings.repeat,
        on_sample=lambda name: sweep.advance(f"{point.label}: {name}", 1),
        on_error=failed,
        settle=sweep.settle,
    )
    itemsize = np.dtype(point.dtype).itemsize
    for name, timing in timings.items():
        result = results[name]
        result.timing = timing
        result.throughput = point.workload.throughput_of(
            point.size, itemsize, timing.median_ns * 1e-9
        )


def _rank(results: dict[str, Measurement]) -> None:
    """Each timed backend's speed-up over numpy, and the fastest that agreed with numpy."""
    numpy_result = results.get("numpy")
    numpy_ok = numpy_result is not None and numpy_result.status == "ok"
    numpy_median = numpy_result.median_s if numpy_result is not None and numpy_ok else None
    timed = [m for m in results.values() if m.timing is not None]
    for result in timed:
        if numpy_median and result.median_s:
            result.speedup_vs_numpy = numpy_median / result.median_s
    eligible = [m for m in timed if m.status == "ok"]
    if eligible:
        min(eligible, key=lambda m: m.timing.median_ns if m.timing else math.inf).winner = True


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
    points = _points(settings)
    if settings.isolate:
        return _run_isolated(settings, points, progress, started, begin)
    jax_threads = (
        configure_jax_threads(settings.threads) if "jax" in settings.backends else available_cores()
    )
    backends, unavailable = load_backends(settings.backends)
    reference_backend = backends.get("numpy") or get_backend("numpy")
    notes: list[str] = []
    crowded = oversubscribed(settings.threads)
    if crowded is not None:
        notes.append(crowded)
    fixed = [backend for backend in backends.values() if backend.threads_fixed_at_start]
    if fixed and any(threads != jax_threads for threads in settings.threads):
        notes.append(
            f"JAX runs with the {jax_threads} thread(s) it started with, so it is timed only at "
            f"--threads {jax_threads}"
        )
    sweep = _Sweep(settings, backends, reference_backend, jax_threads, clock, progress)
    sweep.start(points)
    measurements = _run_points(sweep, points, notes)
    if sweep.settle.timeouts:
        notes.append(
            f"{sweep.settle.timeouts} sample(s) started while another thread pool was still "
            "busy after a second's wait (a pool set to spin, such as OMP_WAIT_POLICY=active?)"
        )
    software = software_info()
    profile = software["neurust"].get("profile")
    if profile not in (None, "release"):
        notes.append(
            f"neurust is a {profile} build: its timings are meaningless "
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
        colors={name: backend.color for name, backend in backends.items()},
    )


# The most one backend's sweep may take in its worker before it is stopped; the
# default sweep takes about 7 minutes for every backend together on 2 cores.
WORKER_TIMEOUT_S = 3600.0


def run_worker(settings: Settings, timeout_s: float = WORKER_TIMEOUT_S) -> Report | str:
    """Run ``settings`` (one backend) in a fresh interpreter; its report, or why it failed.

    The interpreter runs :mod:`neurust.compare.worker`.
    """
    with tempfile.TemporaryDirectory(prefix="neurust-compare-") as folder:
        result = Path(folder) / "report.pickle"
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "neurust.compare.worker", str(result)],
                input=pickle.dumps(settings),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"its worker process did not finish within {timeout_s:.0f} s"
        if completed.returncode == 130:
            raise KeyboardInterrupt
        if completed.returncode != 0 or not result.exists():
            lines = completed.stderr.decode(errors="replace").strip().splitlines()
            last = lines[-1] if lines else "no message"
            return f"its worker process exited with status {completed.returncode}: {last}"
        with result.open("rb") as file:
            report: Report = pickle.load(file)
        return report


def _run_isolated(
    settings: Settings,
    points: list[tuple[Workload, list[Size]]],
    progress: ProgressHook | None,
    started: str,
    begin: float,
) -> Report:
    """Each backend's sweep in a worker process of its own, merged and ranked here."""
    sizes = sum(len(sizes) for _, sizes in points)
    per_backend = len(settings.dtypes) * len(settings.threads) * sizes * (1 + settings.repeat)
    if progress is not None:
        progress.start(per_backend * len(settings.backends))
    reports: dict[str, Report | str] = {}
    for name in settings.backends:
        if progress is not None:
            progress.advance(f"{name}, in a process of its own", 0)
        reports[name] = run_worker(dataclasses.replace(settings, backends=(name,), isolate=False))
        if progress is not None:
            progress.advance(f"{name} done", per_backend)
    unavailable: dict[str, str] = {}
    notes: list[str] = []
    found: dict[tuple[str, str, str, int, str], Measurement] = {}
    colors: dict[str, str] = {}
    for report in reports.values():
        if isinstance(report, Report):
            unavailable.update(report.unavailable)
            notes += [note for note in report.notes if note not in notes]
            colors.update(report.colors)
            for m in report.measurements:
                found[(m.workload, m.size, m.dtype, m.threads, m.backend)] = m
    measurements: list[Measurement] = []
    for _, group in _in_order(settings, points):
        for point in group:
            results: dict[str, Measurement] = {}
            for name, report in reports.items():
                if isinstance(report, str):
                    results[name] = point.measurement(name, "error", report)
                    continue
                key = (point.workload.name, point.size.label, point.dtype, point.threads, name)
                if (isolated := found.get(key)) is not None:
                    # ranked here, among all backends
                    isolated.winner, isolated.speedup_vs_numpy = False, None
                    results[name] = isolated
            _rank(results)
            measurements += results.values()
    return Report(
        settings=settings,
        measurements=measurements,
        unavailable=unavailable,
        notes=notes,
        machine=machine_info(),
        software=software_info(),
        started=started,
        duration_s=time.perf_counter() - begin,
        colors=colors,
    )


def _points(settings: Settings) -> list[tuple[Workload, list[Size]]]:
    """Each workload with its sizes, read; ValueError for an unknown name or a bad size."""
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
    return [(workload, workload.read_sizes(settings.sizes_of(workload))) for workload in workloads]


def _run_points(
    sweep: _Sweep, points: list[tuple[Workload, list[Size]]], notes: list[str]
) -> list[Measurement]:
    """Measure every point, dtype by dtype and thread count by thread count."""
    measurements: list[Measurement] = []
    for threads, group in _in_order(sweep.settings, points):
        with thread_limit(threads) as thread_notes:
            for note in thread_notes:
                if note not in notes:
                    notes.append(note)
            for point in group:
                measurements += _measure_point(sweep, point)
    return measurements


def _in_order(
    settings: Settings, points: list[tuple[Workload, list[Size]]]
) -> Iterator[tuple[int, list[_Point]]]:
    """The points in the sweep's one order: dtype by dtype, thread count by thread count.

    Yields each thread count with its points, every workload and size; the
    sweep in one process and the merge of ``--isolate``'s workers both walk it.
    """
    for dtype in settings.dtypes:
        for threads in settings.threads:
            yield (
                threads,
                [_Point(w, size, dtype, threads) for w, sizes in points for size in sizes],
            )
