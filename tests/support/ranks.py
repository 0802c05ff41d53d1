"""Ranks of a distributed fit as child processes on 127.0.0.1, started as torchrun would.

Each rank runs a script (usually the test file itself) with torchrun's environment
variables set by hand and gloo kept on the loopback interface. Every wait has a
timeout: a rank that overruns it is killed with the others and the test fails.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from support.children import environment


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(args: Sequence[str], world: int, group_timeout: float) -> list[subprocess.Popen[str]]:
    """``world`` ranks, each running ``python *args``; their collectives time out after
    ``group_timeout`` seconds. Skips the test where torch is missing."""
    pytest.importorskip("torch", reason="distributed training runs on torch.distributed")
    env = environment({
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(world),
        "NEURUST_DISTRIBUTED_TIMEOUT": str(group_timeout), "OMP_NUM_THREADS": "1",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    })  # fmt: skip
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # keep gloo's own connections on 127.0.0.1
    return [
        subprocess.Popen(
            [sys.executable, *args],
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(world)
    ]


def finish(children: list[subprocess.Popen[str]], timeout: float) -> list[tuple[int, str]]:
    """Each child's (exit status, stderr), killing every child if one overruns ``timeout``."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for child in children:
            _, stderr = child.communicate(timeout=max(0.1, deadline - time.monotonic()))
            results.append((child.returncode, stderr))
    except subprocess.TimeoutExpired:
        for child in children:
            child.kill()
        for child in children:
            child.communicate(timeout=30)
        pytest.fail(f"a rank did not finish within {timeout} s")
    return results


def run(args: Sequence[str], world: int, group_timeout: float, timeout: float) -> None:
    """Starts the ranks and waits for them, failing the test unless every one exits with 0."""
    for status, stderr in finish(start(args, world, group_timeout), timeout):
        assert status == 0, stderr
