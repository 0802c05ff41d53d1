"""What a comparison runs (:class:`Settings`) and what it found (:class:`Report`), as JSON too."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neurust import _atomic
from neurust.backends import KNOWN_BACKENDS
from neurust.compare.check import TOLERANCE
from neurust.compare.threads import available_cores
from neurust.compare.timing import DEFAULT_MIN_SAMPLE_S, DEFAULT_REPEAT, Timing
from neurust.compare.workloads import WORKLOADS, Workload

JSON_SCHEMA_VERSION = "neurust-compare/1"


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
    isolate : bool
        Run each backend in a worker process of its own (``--isolate``).
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
    isolate: bool = False

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
    colors: dict[str, str] = field(default_factory=dict)
    """Each backend's plot colour (:attr:`neurust.backends.Backend.color`); not in the JSON."""

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
                "isolate": settings.isolate,
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


def write_json(report: Report, path: str | os.PathLike[str]) -> None:
    """Write every measurement, the settings, machine and software as JSON to ``path``.

    ``"-"`` writes to standard output; a file is replaced atomically (a failed
    write leaves the previous file as it was).
    """
    text = json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"
    if os.fspath(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    _atomic.write_bytes(path, text.encode())
