"""Thread control: the same thread count for every backend's pools, and JAX's fixed pool."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
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
    pool loaded in the process (numpy's OpenBLAS or MKL among them) but
    neurust's own OpenBLAS, which neurust keeps on one thread a call.

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
            limit = _limit_other_pools(threads)
        except ImportError:
            notes.append(
                "threadpoolctl is not installed: numpy's BLAS threads were not limited "
                "(pip install threadpoolctl)"
            )
        else:
            stack.enter_context(limit)
        yield notes


def _limit_other_pools(threads: int) -> contextlib.AbstractContextManager[object]:
    """threadpoolctl's limit on every pool in the process but neurust's own OpenBLAS.

    Raising that one starts an OpenBLAS worker that spins on the second core
    for up to a second, while neurust sets the count back to one at its next
    call, and slows the next neurust call on 2 threads (``linear`` 512;
    docs/performance.md has the figures).
    """
    from threadpoolctl import ThreadpoolController

    from neurust._openblas import _library_path

    own = _library_path()
    own_file = os.path.realpath(own) if own is not None else None
    controller = ThreadpoolController()
    others = [
        info["filepath"]
        for info in controller.info()
        if os.path.realpath(info["filepath"]) != own_file
    ]
    return controller.select(filepath=others).limit(limits=threads)


# How long a pool may take to go idle before a sample starts anyway. OpenBLAS's
# workers spin for 2**28 cycles after each call by default (``python
# benches/order_bias.py``; docs/performance.md has what they cost).
IDLE_TIMEOUT_S = 1.0
# The other threads count as idle after this many windows in a row in which they
# ran for less than a tenth of the window: one window alone could fall in a
# time slice in which a spinning thread happened to be descheduled.
_IDLE_SHARE = 0.1
_IDLE_WINDOW_S = 0.005
_IDLE_WINDOWS = 2


def _thread_cpu_clock(tid: int) -> int:
    """Linux's CPU-time clock of thread ``tid`` (the kernel's MAKE_THREAD_CPUCLOCK)."""
    return ((~tid) << 3) | 6


def _other_threads_cpu_ns(me: int) -> int | None:
    """CPU time used so far by this process's threads other than ``me``; None if unknown."""
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    total = 0
    for text in tids:
        tid = int(text)
        if tid != me:
            # A thread may end between the listing and the read.
            with contextlib.suppress(OSError):
                total += time.clock_gettime_ns(_thread_cpu_clock(tid))
    return total


def wait_until_idle(timeout_s: float = IDLE_TIMEOUT_S) -> bool:
    """Wait until this process's other threads stop using the CPU (spinning BLAS/OpenMP pools).

    After a call, numpy's OpenBLAS and torch's OpenMP threads keep spinning on
    the cores for a while, waiting for more work; whatever runs next then
    shares a core with them. Waiting for them to go idle before a sample keeps
    one backend's pools out of another's time. Where per-thread CPU clocks are
    not available (outside Linux), it waits ``0.1 * timeout_s`` instead.

    Returns
    -------
    bool
        True when the other threads went idle, False when ``timeout_s`` passed first.
    """
    me = threading.get_native_id()
    deadline = time.perf_counter() + timeout_s
    before = _other_threads_cpu_ns(me)
    if before is None:
        time.sleep(0.1 * timeout_s)
        return True
    start, quiet = time.perf_counter(), 0
    while True:
        time.sleep(_IDLE_WINDOW_S)
        used, now = _other_threads_cpu_ns(me), time.perf_counter()
        if used is None:
            return True
        quiet = quiet + 1 if used - before <= _IDLE_SHARE * (now - start) * 1e9 else 0
        if quiet >= _IDLE_WINDOWS:
            return True
        if now >= deadline:
            return False
        before, start = used, now


def oversubscribed(threads: Sequence[int]) -> str | None:
    """A warning when a thread count exceeds the usable cores, else None."""
    cores = available_cores()
    over = max(threads, default=0)
    if over <= cores:
        return None
    return (
        f"{over} threads on {cores} usable core{'s' if cores != 1 else ''}: the threads "
        "share cores (oversubscribed), so timings at that count measure contention"
    )
