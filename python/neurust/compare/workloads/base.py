"""What a workload is: how its sizes read, its prepared case on one backend, its definition."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurust.backends import Backend

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


def parse_dims(text: str, count: int, what: str) -> tuple[int, ...]:
    """Read ``count`` counts joined by ``x`` (``"1kx1k"``); ``what`` names the format in errors."""
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
        An interpreted backend (pure Python) runs only while ``x_value(size)`` is
        at most this.
    requires : type or None
        An optional backend capability the workload needs
        (:class:`neurust.backends.ReluInto`, ...); backends without it are skipped,
        with the reason they give.
    check : str
        ``"norm"``: errors relative to the largest magnitude of numpy's result;
        ``"elementwise"``: relative to each element (loss curves).
    tolerance_scale : float
        Multiplies :data:`TOLERANCE` (long training runs accumulate rounding).
    in_quick : bool
        Whether ``--quick`` runs this workload when ``--workloads`` is not given.
    memory : callable or None
        ``(Size, itemsize) -> float``: bytes of the inputs, intermediates and
        result of one call on one backend; None when :attr:`bytes_moved` is that.
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
    requires: type | None = None
    check: str = "norm"
    tolerance_scale: float = 1.0
    in_quick: bool = True
    memory: Callable[[Size, int], float] | None = None

    def read_sizes(self, texts: Iterable[str]) -> list[Size]:
        """Each size in ``texts``, read; one size written several ways (1k, 1K, 1024) once.

        Raises
        ------
        ValueError
            If a text is not a size of this workload.
        """
        sizes: dict[tuple[tuple[int, ...], int], Size] = {}
        for text in texts:
            size = self.parse_size(text)
            sizes.setdefault((size.dims, size.steps), size)
        return list(sizes.values())

    def memory_needed(self, size: Size, itemsize: int, backends: int) -> float:
        """Bytes a point of the sweep holds at once: numpy's inputs, and a copy per backend."""
        per_copy = self.memory if self.memory is not None else self.bytes_moved
        if per_copy is None:
            return 0.0
        # The inputs are drawn in float64 before the cast to the dtype.
        return per_copy(size, itemsize) * (1 + backends) + per_copy(size, 8)

    def throughput_of(self, size: Size, itemsize: int, seconds: float) -> float | None:
        """GFLOP/s or GB/s (as :attr:`throughput` says) of one call taking ``seconds``."""
        if seconds <= 0:
            return None
        if self.throughput == "GFLOP/s" and self.flops is not None:
            return self.flops(size) / seconds / 1e9
        if self.throughput == "GB/s" and self.bytes_moved is not None:
            return self.bytes_moved(size, itemsize) / seconds / 1e9
        return None


def as_numpy(backend: Backend, value: Any) -> np.ndarray:
    """A result of ``backend`` as a numpy array, for the check against numpy."""
    return np.asarray(backend.to_numpy(value))
