"""The backend comparison behind ``neurust compare``: the same work on every backend, timed fairly.

:func:`run_comparison` sweeps dtypes × thread counts × workloads × sizes ×
backends; for each point it checks every backend's result against numpy's and
times it, interleaving the backends (see :mod:`.sweep`). Every backend runs with
the same thread count: BLAS pools through threadpoolctl,
``torch.set_num_threads`` and ``neurust.set_num_threads``. JAX fixes its thread
pool when it starts, so it runs only at the thread count it started with.
Backends that queue work (torch on CUDA, JAX) are synchronised inside the timed
region after every call.

One concern per module: :mod:`.timing` (one call, timed), :mod:`.threads`,
:mod:`.workloads` (what is timed), :mod:`.check` (against numpy),
:mod:`.sweep`, :mod:`.report` (settings, measurements, JSON),
:mod:`.environment` (machine and software), :mod:`.table`, :mod:`.plot` and
:mod:`.cli` (``neurust compare``).
"""

from __future__ import annotations

from neurust.compare.check import DTYPES, TOLERANCE, max_error
from neurust.compare.cli import add_arguments as add_arguments
from neurust.compare.cli import main
from neurust.compare.cli import run_command as run_command
from neurust.compare.cli import settings_from_args as settings_from_args
from neurust.compare.environment import machine_info as machine_info
from neurust.compare.environment import software_info as software_info
from neurust.compare.plot import write_plot
from neurust.compare.report import JSON_SCHEMA_VERSION, Measurement, Report, Settings, write_json
from neurust.compare.sweep import ProgressHook as ProgressHook
from neurust.compare.sweep import load_backends as load_backends
from neurust.compare.sweep import run_comparison
from neurust.compare.sweep import skip_reason as skip_reason
from neurust.compare.sweep import sync_hook as sync_hook
from neurust.compare.table import format_ratio as format_ratio
from neurust.compare.table import format_seconds as format_seconds
from neurust.compare.table import print_table
from neurust.compare.threads import available_cores as available_cores
from neurust.compare.threads import configure_jax_threads as configure_jax_threads
from neurust.compare.threads import thread_limit as thread_limit
from neurust.compare.timing import Timer, Timing, measure
from neurust.compare.timing import measure_interleaved as measure_interleaved
from neurust.compare.workloads import WORKLOADS, Case, Size, Workload
from neurust.compare.workloads import learning_rate as learning_rate
from neurust.compare.workloads import parse_count as parse_count

# What users need. The helpers imported above with ``as`` stay importable from here, as
# they were before the comparison was split into modules (the benchmarks use some).
__all__ = [
    "DTYPES",
    "JSON_SCHEMA_VERSION",
    "TOLERANCE",
    "WORKLOADS",
    "Case",
    "Measurement",
    "Report",
    "Settings",
    "Size",
    "Timer",
    "Timing",
    "Workload",
    "main",
    "max_error",
    "measure",
    "print_table",
    "run_comparison",
    "write_json",
    "write_plot",
]
