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
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

from neurust.compare.report import Report, Settings

# The most one backend's sweep may take in its worker before it is stopped; the
# default sweep takes about 7 minutes for every backend together on 2 cores.
WORKER_TIMEOUT_S = 3600.0


def run_worker(settings: Settings, timeout_s: float = WORKER_TIMEOUT_S) -> Report | str:
    """Run ``settings`` (one backend) in a fresh interpreter; its report, or why it failed."""
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


def main(argv: list[str] | None = None) -> int:
    """The worker: pickled settings on standard input, the pickled report to ``argv[0]``."""
    from neurust.compare.sweep import run_comparison

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
