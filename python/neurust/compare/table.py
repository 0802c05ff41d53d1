"""The comparison as tables: one per dtype and thread count, then the thread scaling."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neurust.compare.environment import summary_line
from neurust.compare.report import Measurement, Report


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
        import rich.table  # noqa: F401 - only checking that rich is installed
    except ImportError:
        _print_plain(report, _comparison_tables(report, False) + _scaling_tables(report), file)
    else:
        _print_rich(report, _comparison_tables(report, True) + _scaling_tables(report), file)


def _print_plain(report: Report, tables: list[_Table], file: Any) -> None:
    print(f"neurust compare · {summary_line(report.machine, report.software)}", file=file)
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


def _print_rich(report: Report, tables: list[_Table], file: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    # Not a terminal (a pipe, a file, the README): wide enough for six backends.
    console = Console(file=file, width=None if file.isatty() else 160, highlight=False)
    header = _escape(summary_line(report.machine, report.software), True)
    console.print(f"[bold]neurust compare[/] · {header}", soft_wrap=True)
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
    timed = sum(m.timing is not None for m in report.measurements)
    untimed = len(report.measurements) - timed
    rest = f" ({untimed} cell{'s' if untimed != 1 else ''} skipped or failed)" if untimed else ""
    say(f"{timed} measurements{rest} in {report.duration_s:.1f} s")
