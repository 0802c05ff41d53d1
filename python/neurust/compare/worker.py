"""``--isolate``: each backend's sweep in a worker process of its own, merged into one report.

In one process, the libraries share it: numpy's OpenBLAS threads spin after
each call, torch and JAX keep their pools, and a backend may run right after
another's pools were busy. A worker that loads a single backend (and numpy, for
the check) has no other library's threads beside it. The price: the backends
are timed one after another, not in interleaved rounds, so a slow period on a
shared machine lands on one of them only.

The worker is ``python -m neurust.compare.worker RESULT``: it reads pickled
:class:`~neurust.compare.report.Settings` on standard input, runs them, and
writes the pickled :class:`~neurust.compare.report.Report` to ``RESULT``.
This module is the worker's side; :func:`neurust.compare.sweep.run_worker`
starts it, knowing it only by its module name, so neither imports the other
both ways.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys

from neurust.compare.report import Settings
from neurust.compare.sweep import run_comparison


def main(argv: list[str] | None = None) -> int:
    """The worker: pickled settings on standard input, the pickled report to ``argv[0]``."""
    argv = sys.argv[1:] if argv is None else argv
    settings: Settings = pickle.loads(sys.stdin.buffer.read())
    try:
        report = run_comparison(dataclasses.replace(settings, isolate=False))
    except KeyboardInterrupt:
        return 130
    temporary = f"{argv[0]}.part"
    with open(temporary, "wb") as file:
        pickle.dump(report, file)
    os.replace(temporary, argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
