"""The command line: ``neurust compare``'s options, its run, and its exit status."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from neurust._progress import ProgressBar, progress_bar
from neurust.backends import KNOWN_BACKENDS
from neurust.compare.check import DTYPES
from neurust.compare.plot import write_plot
from neurust.compare.report import Settings, write_json
from neurust.compare.sweep import run_comparison
from neurust.compare.table import print_table
from neurust.compare.threads import available_cores, oversubscribed
from neurust.compare.timing import (
    DEFAULT_MIN_SAMPLE_S,
    DEFAULT_REPEAT,
    MAX_MIN_SAMPLE_S,
    QUICK_MIN_SAMPLE_S,
    QUICK_REPEAT,
)
from neurust.compare.workloads import WORKLOADS


class _Progress:
    """The sweep's progress (:class:`~neurust.compare.sweep.ProgressHook`) on the package's bar.

    The bar opens when the sweep announces its total, on standard error, and is
    gone when the sweep ends.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._bar: ProgressBar | None = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)

    def start(self, total: int) -> None:
        self._bar = self._stack.enter_context(
            progress_bar(total, "starting", transient=True, stderr=True)
        )

    def advance(self, description: str, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(description, steps)


MAX_THREADS = 4096
"""The most threads ``neurust.set_num_threads`` accepts (a count beyond is a typo)."""


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
        f"{DEFAULT_MIN_SAMPLE_S}, {QUICK_MIN_SAMPLE_S} with --quick; at most {MAX_MIN_SAMPLE_S:g})",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="run each backend in a worker process of its own, one after another, so that no "
        "other library's threads share the process (default: one process, interleaved rounds)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="write every measurement as JSON ('-': to standard output, the table to standard "
        "error)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write a log-log plot per workload (PNG when the name has no extension)",
    )
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
        if max(threads) > MAX_THREADS:
            parser.error(
                f"--threads: {max(threads)} is more than {MAX_THREADS}, the most "
                "set_num_threads accepts"
            )
    repeat = (
        args.repeat if args.repeat is not None else QUICK_REPEAT if args.quick else DEFAULT_REPEAT
    )
    if not 1 <= repeat <= MAX_REPEAT:
        parser.error(f"--repeat: {repeat} is not a positive integer up to {MAX_REPEAT}")
    min_time = args.min_time
    if min_time is None:
        min_time = QUICK_MIN_SAMPLE_S if args.quick else DEFAULT_MIN_SAMPLE_S
    if not 0 < min_time <= MAX_MIN_SAMPLE_S:  # also refuses nan
        parser.error(
            f"--min-time: {min_time} is not a positive number of seconds up to {MAX_MIN_SAMPLE_S:g}"
        )
    crowded = oversubscribed(threads)
    if crowded is not None:
        print(f"neurust compare: warning: {crowded}", file=sys.stderr)
    return Settings(
        backends=backends,
        workloads=workloads,
        sizes=_sizes_from_args(args.sizes, workloads, parser),
        dtypes=dtypes,
        threads=threads,
        repeat=repeat,
        min_sample_s=min_time,
        quick=args.quick,
        isolate=args.isolate,
    )


def _sizes_from_args(
    specs: Sequence[str], workloads: Sequence[str], parser: argparse.ArgumentParser
) -> dict[str, tuple[str, ...]]:
    """The sizes each ``--sizes`` option names, by workload; a bad one exits with status 2."""
    sizes: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        target, has_target, text = spec.rpartition("=")
        names = [target.strip()] if has_target else list(workloads)
        for name in names:
            if name not in WORKLOADS:
                parser.error(
                    f"--sizes: unknown workload {name!r}; valid choices: {', '.join(WORKLOADS)}"
                )
            if name not in workloads:
                parser.error(f"--sizes: workload {name!r} is not among --workloads")
            values = _split(text)
            if not values:
                parser.error(f"--sizes {spec!r}: no sizes given")
            try:
                read = WORKLOADS[name].read_sizes(values)
            except ValueError as error:
                parser.error(f"--sizes: {error} for {name}; expected {WORKLOADS[name].size_help}")
            sizes[name] = tuple(size.label for size in read)
    return sizes


def _output_path(
    parser: argparse.ArgumentParser, option: str, text: str | None, formats: Sequence[str] = ()
) -> Path | None:
    """The file ``option`` will write, checked before any measuring; a bad one exits with 2.

    With ``formats`` (a plot), a name without an extension gets ``.png``, as
    matplotlib would, and another extension must be one of ``formats``.
    """
    if text is None:
        return None
    if option == "--json" and text == "-":
        return STDOUT
    separators = tuple(sep for sep in (os.sep, os.altsep) if sep)
    if not text.strip() or text.endswith(separators) or Path(text).name in ("", ".", ".."):
        example = "out.png" if formats else "out.json"
        parser.error(f"{option}: {text!r} is not a file name; give one such as {example}")
    given = Path(text)
    if given.exists() and not given.is_file() and not given.is_dir():
        parser.error(f"{option}: {text!r} is not a regular file; give a file name")
    path = given
    if formats:
        extension = path.suffix[1:].lower()
        if not extension:
            path = path.with_name(path.name + ".png")
        elif extension not in formats:
            parser.error(
                f"{option}: {text!r} has the unsupported extension {path.suffix!r}; "
                f"supported: {', '.join(formats)}"
            )
    folder = path.parent
    if path.is_dir():
        parser.error(f"{option}: {str(path)!r} is a folder; give a file name")
    if path.exists() and not path.is_file():
        parser.error(f"{option}: {str(path)!r} is not a regular file; give a file name")
    if not folder.is_dir():
        parser.error(f"{option}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.error(f"{option}: {str(path)!r} cannot be written (permission denied)")
    return path


def _plot_formats(parser: argparse.ArgumentParser) -> list[str]:
    """The image formats matplotlib can write; exits with 2 when it is not installed."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        parser.error("--plot needs matplotlib: pip install 'neurust[compare]'")
    return sorted(FigureCanvasBase.get_supported_filetypes())


MAX_REPEAT = 1000
"""The most samples per point: more would only run for hours (the default takes 5)."""

STDOUT = Path("-")
"""``--json -``: the JSON goes to standard output (the table then goes to standard error)."""


def _write(what: str, path: Path, write: Callable[[], None], messages: Any) -> bool:
    """Write an output file; False, with one line on standard error, when that fails."""
    try:
        write()
    except (OSError, ValueError) as error:
        print(f"neurust compare: could not write {what} {str(path)!r}: {error}", file=sys.stderr)
        return False
    if path != STDOUT:
        print(f"wrote {path}", file=messages)
    return True


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``neurust compare`` with parsed options: the sweep, the table, JSON and plot.

    The output files are checked before any measuring; the table is printed
    before they are written, so a write that still fails loses nothing shown.

    Returns
    -------
    int
        0 when every backend that ran agreed with numpy; 1 when one failed or
        disagreed (the table shows which), when nothing could run at all, or
        when an output file could not be written; 130 when interrupted
        (Ctrl-C). Bad options exit with status 2.
    """
    settings = settings_from_args(args, parser)
    json_path = _output_path(parser, "--json", args.json)
    plot_path = None
    if args.plot is not None:
        plot_path = _output_path(parser, "--plot", args.plot, _plot_formats(parser))
    progress = None if args.no_progress else _Progress()
    try:
        with progress if progress is not None else contextlib.nullcontext():
            report = run_comparison(settings, progress=progress)
    except KeyboardInterrupt:
        print("neurust compare: interrupted", file=sys.stderr)
        return 130
    report.command = ["neurust", "compare", *getattr(args, "argv", [])]
    # With --json -, standard output carries the JSON alone.
    messages = sys.stderr if json_path == STDOUT else sys.stdout
    print_table(report, file=messages)
    written = True
    if json_path is not None:
        written &= _write("--json", json_path, lambda: write_json(report, json_path), messages)
    if plot_path is not None:
        written &= _write("--plot", plot_path, lambda: write_plot(report, plot_path), messages)
    if not any(m.timing is not None for m in report.measurements):
        print(
            "neurust compare: nothing could run: every backend was unavailable, skipped or "
            "failed (the reasons are above)",
            file=sys.stderr,
        )
        return 1
    return 1 if report.problems or not written else 0


def workloads_help() -> str:
    """The list of workloads for ``--help``: what each times, its sizes and their format."""
    lines = ["workloads (default sizes; --quick sizes; size format):"]
    for w in WORKLOADS.values():
        quick = ", ".join(w.quick_sizes) + ("" if w.in_quick else " (when named in --workloads)")
        lines.append(f"  {w.name}: {w.summary}")
        lines.append(f"      {', '.join(w.sizes)}; --quick: {quick}")
        lines.append(f"      size: {w.size_help}")
    lines.append(
        "\nexit status: 0; 1 when a backend failed or disagreed with numpy (the table shows "
        "which), when nothing could run, or when --json or --plot could not be written; 2 for "
        "a bad option; 130 when interrupted."
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
