"""A forked child (multiprocessing's "fork" workers, torch's DataLoader) gets a working pool.

``fork`` copies only the calling thread: the parent's pool threads do not
exist in the child. neurust notices the fork and builds a new pool there, so
kernels in the child run on the configured threads, and memory stays flat
over many calls (jobs handed to the vanished threads were never run nor freed).
"""

from __future__ import annotations

import json
import os

import pytest

from support.children import run_python

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")

FORKED_WORKER = """
    import json, multiprocessing, os
    import numpy as np
    import neurust as nr

    nr.set_num_threads({threads})
    x = np.random.default_rng(0).standard_normal(1 << 16)  # split over the pool
    out = np.empty_like(x)
    nr.relu(x, out=out)  # the parent's pool is running before the fork

    def resident_bytes():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def neurust_threads():
        names = []
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{{task}}/comm") as comm:
                names.append(comm.read().strip())
        return sum(name.startswith("neurust") for name in names)

    def work(calls):
        for _ in range(2000):
            nr.relu(x, out=out)
        before = resident_bytes()
        for _ in range(calls):
            nr.relu(x, out=out)
        growth = resident_bytes() - before  # before numpy's own first uses below
        right = bool(np.array_equal(out, np.maximum(x, 0)))
        return [growth, neurust_threads(), nr.get_num_threads(), right]

    with multiprocessing.get_context("fork").Pool(1) as pool:
        print(json.dumps(pool.apply_async(work, ({calls},)).get(timeout=120)))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")
@pytest.mark.parametrize("threads", [2, 3])
def test_a_forked_worker_runs_kernels_on_a_new_pool_with_flat_memory(threads: int) -> None:
    done = run_python(FORKED_WORKER.format(threads=threads, calls=50_000), timeout=180)
    assert done.returncode == 0, done.stderr
    growth, pool_threads, configured, right = json.loads(done.stdout.splitlines()[-1])
    assert right
    assert configured == threads
    # The calling thread plus threads - 1 pool threads share the work.
    assert pool_threads >= threads - 1, f"{pool_threads} neurust threads in the forked child"
    # Before the fix each call left its job queued for a thread that did not exist:
    # about 130 bytes a call, 6.5 MB over these calls.
    assert growth < 2 * 2**20, f"resident memory grew by {growth} bytes over 50,000 calls"


def test_a_child_forked_by_os_fork_computes_the_same_bits() -> None:
    done = run_python(
        """
        import os, sys
        import numpy as np
        import neurust as nr
        nr.set_num_threads(2)
        x = np.random.default_rng(1).standard_normal((300, 400))
        w = np.random.default_rng(2).standard_normal((400, 200))
        expected = nr.linear(x, w)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            same = np.array_equal(nr.linear(x, w), expected) and np.array_equal(
                nr.sigmoid(x), nr.sigmoid(x.copy()))
            os.write(writer, b"same" if same else b"different")
            os._exit(0)
        os.close(writer)
        print(os.read(reader, 64).decode())
        os.waitpid(pid, 0)
        """,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"
