"""Thread control: the same thread count for every backend's pools, and JAX's fixed pool."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Sequence

import neurust


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
        before = neurust.get_num_threads()
        neurust.set_num_threads(threads)
        stack.callback(neurust.set_num_threads, before)
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
