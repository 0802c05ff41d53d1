"""The comparison as a log-log plot: time per call against size, a panel per workload."""

from __future__ import annotations

import math
import os
import textwrap
from typing import Any

from neurust import _atomic
from neurust.compare.environment import summary_line
from neurust.compare.report import Measurement, Report
from neurust.compare.workloads import WORKLOADS

_MARKERS = "osD^v<>"

# The header's font size in points, and the width of one of its characters as a fraction of
# it: about 0.6 for DejaVu Sans, matplotlib's default, so the wrap errs on the narrow side.
_HEADER_POINTS = 8.0
_CHAR_WIDTH = 0.6


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
    figure = _figure(report)
    extension = os.path.splitext(os.fspath(path))[1][1:].lower() or "png"
    with _atomic.replacing(path) as file:
        figure.savefig(file, format=extension, dpi=110)


def _figure(report: Report) -> Any:
    """The plot as a matplotlib ``Figure``, header wrapped to its width, not yet drawn."""
    from matplotlib.figure import Figure

    timed = [m for m in report.measurements if m.timing is not None]
    workloads = list(dict.fromkeys(m.workload for m in timed)) or ["(nothing timed)"]
    columns = min(3, len(workloads))
    rows = math.ceil(len(workloads) / columns)
    width_inches = 5.2 * columns
    characters = int(width_inches * 72 / (_HEADER_POINTS * _CHAR_WIDTH))
    header = wrap_header(
        f"neurust compare: {summary_line(report.machine, report.software)}", characters
    )
    header_inches = (header.count("\n") + 1) * _HEADER_POINTS * 1.4 / 72
    figure = Figure(figsize=(width_inches, 4.0 * rows + 0.3 + header_inches), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis, name in zip(axes, workloads, strict=False):
        _plot_workload(axis, name, timed, report.colors)
    for axis in axes[len(workloads) :]:
        axis.set_visible(False)
    figure.suptitle(header, fontsize=_HEADER_POINTS)
    return figure


def wrap_header(header: str, width: int) -> str:
    """``header`` in lines of at most ``width`` characters, broken at its `` · `` separators.

    Each part (CPU, SIMD flags, numpy, neurust) starts on the line that still has room for
    it; a part longer than a line (a long SIMD flag list) is broken between words.

    >>> print(wrap_header("neurust compare: Xeon · SIMD avx2 avx512f · numpy 2", 24))
    neurust compare: Xeon ·
    SIMD avx2 avx512f ·
    numpy 2
    """
    width = max(width, 10)
    lines: list[str] = []
    parts = header.split(" · ")
    for index, part in enumerate(parts):
        text = part if index == len(parts) - 1 else f"{part} ·"
        if lines and len(lines[-1]) + 1 + len(text) <= width:
            lines[-1] += f" {text}"
        else:
            lines.extend(textwrap.wrap(text, width, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def _plot_workload(axis: Any, name: str, timed: list[Measurement], colors: dict[str, str]) -> None:
    """One panel: a line per backend, dtype and thread count, with its IQR band."""
    several_threads = len({m.threads for m in timed}) > 1
    several_dtypes = len({m.dtype for m in timed}) > 1
    thread_counts = sorted({m.threads for m in timed})
    series: dict[tuple[str, str, int], list[Measurement]] = {}
    for m in timed:
        if m.workload == name:
            series.setdefault((m.backend, m.dtype, m.threads), []).append(m)
    for (backend, dtype, threads), points in series.items():
        points.sort(key=lambda m: m.x)
        x = [m.x for m in points]
        timings = [m.timing for m in points if m.timing is not None]  # all of them: timed
        median = [timing.median_ns * 1e-9 for timing in timings]
        label = backend
        if several_dtypes:
            label += f" {dtype}"
        if several_threads:
            label += f" ×{threads}"
        if any(m.status == "mismatch" for m in points):
            label += " (mismatch)"
        color = colors.get(backend)
        axis.plot(
            x,
            median,
            marker=_MARKERS[thread_counts.index(threads) % len(_MARKERS)],
            linestyle="--" if dtype == "float32" else "-",
            color=color,
            label=label,
        )
        axis.fill_between(
            x,
            [timing.q1_ns * 1e-9 for timing in timings],
            [timing.q3_ns * 1e-9 for timing in timings],
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
