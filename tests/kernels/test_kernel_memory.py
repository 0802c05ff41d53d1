"""Resident memory stays flat over many kernel calls; impossible allocations raise.

An impossible allocation raises ``MemoryError`` or ``ValueError``, never aborts (checked in a
child interpreter with a capped address space, so nothing large is ever allocated). The long
variants run their full length under ``pytest --soak`` (see tests/conftest.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import neurust as nr
from support.children import run_python
from support.stress import (
    EVERY_KIND_BODY,
    SMALL_CALLS_BODY,
    assert_flat,
    last_json,
    memory_run,
)

# Calls in the memory soak: the CI run, and --soak (the 1,000,000).
CALLS = 100_000
SOAK_CALLS = 1_000_000


@pytest.mark.soak
def test_resident_memory_stays_flat_over_many_small_weighted_sum_and_relu_calls(
    soak: bool,
) -> None:
    calls = SOAK_CALLS if soak else CALLS
    counts = memory_run(SMALL_CALLS_BODY, calls)
    assert counts["calls"] == 3 * calls
    # 2 MiB over 300,000+ calls is under 7 bytes a call: any leaked object would show.
    assert_flat(counts, 2 * 2**20)


@pytest.mark.soak
def test_resident_memory_stays_flat_over_every_kind_of_call_and_error(soak: bool) -> None:
    calls = SOAK_CALLS if soak else CALLS // 2
    counts = memory_run(EVERY_KIND_BODY, calls)
    assert counts["calls"] >= calls * 0.9
    assert_flat(counts, 2 * 2**20)


# --- impossible allocations ----------------------------------------------------------------

# Each runs in a child whose address space is capped (RLIMIT_AS), so an allocation far beyond
# memory fails at once instead of being granted lazily and touched; nothing large is ever
# really allocated on this machine.
IMPOSSIBLE = {
    # results of 8 TiB, from inputs of a few bytes (zero-length inner dimension)
    "weighted_sum-8TiB-result": "nr.weighted_sum(np.empty((2**40, 0)), np.empty(0))",
    "linear-8TiB-result": "nr.linear(np.empty((2**20, 0)), np.empty((0, 2**20)))",
    "linear-float32-4TiB-result": (
        "nr.linear(np.empty((2**20, 0), np.float32), np.empty((0, 2**20), np.float32))"
    ),
    # a result whose element count overflows 64 bits
    "linear-overflowing-result": "nr.linear(np.empty((2**40, 0)), np.empty((0, 2**40)))",
    # broadcast (zero-stride) inputs that must be copied to 8 TiB to be made contiguous
    "relu-broadcast-input": "nr.relu(np.broadcast_to(1.0, (2**20, 2**20)))",
    "relu_grad-broadcast-input": (
        "nr.relu_grad(np.broadcast_to(1.0, (2**20, 2**20)), np.broadcast_to(1.0, (2**20, 2**20)))"
    ),
    "weighted_sum-broadcast-input": (
        "nr.weighted_sum(np.broadcast_to(1.0, (2**20, 2**20)), np.ones(2**20))"
    ),
    "linear-broadcast-weights": (
        "nr.linear(np.ones((2, 2**20)), np.broadcast_to(1.0, (2**20, 2**20)))"
    ),
    # a network whose hidden layer for this batch would be 32 TiB
    "TwoLayerNet-fit-huge-workspace": (
        "net = nr.TwoLayerNet(1, 2**22, 1, seed=0); "
        "net.fit(np.ones((2**20, 1)), np.ones((2**20, 1)), 1, 0.0)"
    ),
    "TwoLayerNet-forward-huge-hidden-layer": (
        "nr.TwoLayerNet(1, 2**22, 1, seed=0)(np.ones((2**20, 1)))"
    ),
    "TwoLayerNet-loss-huge-hidden-layer": (
        "nr.TwoLayerNet(1, 2**22, 1, seed=0).loss(np.ones((2**20, 1)), np.ones((2**20, 1)))"
    ),
    "TwoLayerNet-gradients-huge-hidden-layer": (
        "nr.TwoLayerNet(1, 2**22, 1, seed=0).gradients(np.ones((2**20, 1)), np.ones((2**20, 1)))"
    ),
    # a loss history of 8 TB
    "TwoLayerNet-fit-10**12-steps": (
        "nr.TwoLayerNet(2, 2, 1, seed=0).fit(np.ones((1, 2)), np.ones((1, 1)), 10**12, 0.0)"
    ),
    # weights of 8 TiB, and weights whose element count overflows
    "TwoLayerNet-huge-weights": "nr.TwoLayerNet(2**20, 2**20, 1)",
    "TwoLayerNet-overflowing-weights": "nr.TwoLayerNet(2**40, 2**40, 1)",
}
ADDRESS_SPACE_LIMIT = 6 * 2**30

IMPOSSIBLE_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import numpy as np, neurust as nr
try:
    {call}
    outcome = "returned"
except BaseException as error:
    outcome = f"{{type(error).__module__}}.{{type(error).__name__}}: {{error}}"
    if isinstance(error, (MemoryError, ValueError)):
        outcome = "ok"
print(json.dumps({{"outcome": outcome}}))
"""


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_impossible_allocation_raises_memory_error_or_value_error(case: str) -> None:
    code = IMPOSSIBLE_CHILD.format(limit=ADDRESS_SPACE_LIMIT, call=IMPOSSIBLE[case])
    child = run_python(code, env={"RUST_BACKTRACE": "0"})
    assert child.returncode == 0, f"the interpreter died ({child.returncode}):\n{child.stderr}"
    assert last_json(child)["outcome"] == "ok", child.stdout + child.stderr[-2000:]


def test_set_num_threads_refuses_an_absurd_thread_count_and_keeps_the_old_one(
    restore_threads: None,
) -> None:
    nr.set_num_threads(2)
    for absurd in (10**9, 2**64):
        with pytest.raises(ValueError, match=r"\bn\b"):
            nr.set_num_threads(absurd)
    assert nr.get_num_threads() == 2
    assert nr.weighted_sum(np.ones(1_000_003), np.ones(1_000_003)) == 1_000_003.0
