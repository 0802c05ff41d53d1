"""Data-parallel training: 1 process against 2 ranks of neurust and of torch's DDP.

The tutorial's net at 8x its rows (1024x1000->100->1, ReLU, no biases, float64),
every process on one thread, the same total rows in every run:

- ``1 process (fused)``: the Rust backend's ``fit``, one compiled loop;
- ``1 process (fused), 2 threads``: the same on both cores, the alternative to
  two processes on one machine;
- ``1 process (loop)``: ``fit(distributed=...)`` in a group of one, so the
  Python loop over ``mlp_gradients``, the copy into the flat buffer and the
  in-place update (a group of one skips the all-reduce);
- ``2 processes``: ``fit(distributed=True)``, half the rows on each rank;
- ``2 processes (torch backend)``: the same, with torch's kernels in place
  of Rust's, which separates the loop's cost from the kernels';
- ``2 processes, torch DDP``: ``DistributedDataParallel`` over the same
  model in torch, SGD, the same rows per rank;
- ``all-reduce alone``: the one all-reduce a step sends (the gradients and the
  loss), timed by itself between the two ranks.

Two ranks, started by this script as torchrun starts them (its environment
variables, on 127.0.0.1), take the runs in turn, ``--rounds`` times, so that
each run meets the same load from elsewhere; rank 1 waits while rank 0 runs
alone. The script prints a Markdown table of the median time per step::

    python benches/distributed.py --steps 100 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

ROWS, INPUTS, HIDDEN, OUTPUTS = 1024, 1000, 100, 1
LR = 1e-7
CHILD_TIMEOUT_S = 600


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((ROWS, INPUTS)), rng.standard_normal((ROWS, OUTPUTS))


def _seconds_per_step(run: Any, steps: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, every thread) per step of ``run()``."""
    start, cpu_start = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu_start) / steps


def _child(steps: int, rounds: int) -> dict[str, float]:
    """Every run in turn, ``rounds`` times, so that each meets the same load from elsewhere."""
    import torch
    import torch.distributed as dist

    import neurust as nr

    nr.set_num_threads(1)
    torch.set_num_threads(1)
    rank = dist.get_rank()
    alone = dist.new_group([0])  # rank 0 by itself: the distributed loop without a peer
    x, y = nr.distributed.shard(*_data())
    all_x, all_y = _data()
    net = nr.TwoLayerNet(INPUTS, HIDDEN, OUTPUTS, seed=0)
    torch_net = nr.TwoLayerNet(INPUTS, HIDDEN, OUTPUTS, seed=0, backend="torch")
    buffer = torch.zeros(INPUTS * HIDDEN + HIDDEN * OUTPUTS + 1, dtype=torch.float64)

    def all_reduce() -> None:
        for _ in range(steps):
            dist.all_reduce(buffer)

    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, HIDDEN, bias=False),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, OUTPUTS, bias=False),
    ).double()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=LR)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def ddp_train() -> None:
        for _ in range(steps):
            optimizer.zero_grad()
            loss = ((ddp(inputs) - targets) ** 2).sum()
            loss.backward()
            optimizer.step()
            loss.item()  # the loss history, as neurust keeps it

    def fused_on_two_threads() -> None:
        nr.set_num_threads(2)
        try:
            net.fit(all_x, all_y, steps=steps, lr=LR)
        finally:
            nr.set_num_threads(1)

    runs: dict[str, Any] = {
        "fused": lambda: net.fit(all_x, all_y, steps=steps, lr=LR),
        "fused_two_threads": fused_on_two_threads,
        "loop": lambda: net.fit(all_x, all_y, steps=steps, lr=LR, distributed=alone),
        "two": lambda: net.fit(x, y, steps=steps, lr=LR, distributed=True),
        "two_torch": lambda: torch_net.fit(x, y, steps=steps, lr=LR, distributed=True),
        "ddp": ddp_train,
        "all_reduce": all_reduce,
    }
    alone_runs = ("fused", "fused_two_threads", "loop")  # rank 1 waits at the barrier meanwhile
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for round_ in range(rounds + 1):  # round 0 warms up
        for name, run in runs.items():
            dist.barrier()
            if name in alone_runs and rank != 0:
                continue
            seconds = _seconds_per_step(run, steps)
            if round_ > 0:
                times[name].append(seconds)
    result = {}
    for name, values in times.items():
        if values:  # rank 1 has none of the runs rank 0 takes alone
            result[name] = statistics.median(wall for wall, _ in values)
            result[f"{name}_cpu"] = statistics.median(cpu for _, cpu in values)
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _launch(world: int, steps: int, rounds: int) -> dict[str, float]:
    """Run ``world`` ranks; return rank 0's figures."""
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    env.update(WORLD_SIZE=str(world), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.path.exists("/sys/class/net/lo"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, __file__, "--child", "--steps", str(steps), "--rounds", str(rounds)]
    children = [
        subprocess.Popen(
            command, env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)), stdout=subprocess.PIPE
        )
        for rank in range(world)
    ]
    outputs = []
    try:
        for child in children:
            outputs.append(child.communicate(timeout=CHILD_TIMEOUT_S)[0])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=30)
    if any(child.returncode != 0 for child in children):
        raise SystemExit("a rank failed")
    return json.loads(outputs[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per timed fit")
    parser.add_argument("--rounds", type=int, default=5, help="timed fits of each run (median)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import datetime

        import torch.distributed as dist

        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=CHILD_TIMEOUT_S))
        result = _child(args.steps, args.rounds)
        dist.destroy_process_group()
        print(json.dumps(result))
        return
    result = _launch(2, args.steps, args.rounds)
    fused = result["fused"]
    rows = [
        ("1 process x 1 thread (fused Rust loop)", "fused"),
        ("1 process x 2 threads (fused Rust loop)", "fused_two_threads"),
        ("1 process x 1 thread (distributed loop, group of 1)", "loop"),
        ("2 processes x 1 thread (neurust)", "two"),
        ("2 processes x 1 thread (neurust on its torch backend)", "two_torch"),
        ("2 processes x 1 thread (torch DDP)", "ddp"),
    ]
    print(f"{ROWS}x{INPUTS}->{HIDDEN}->{OUTPUTS} float64, {args.steps} steps per fit, "
          f"median of {args.rounds} fits")  # fmt: skip
    print(f"cores this process may use: {len(os.sched_getaffinity(0))}, "
          f"load average: {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| run | ms per step | speed-up over 1 process (fused) | CPU ms per step, rank 0 |")
    print("|---|---:|---:|---:|")
    for name, key in rows:
        seconds, cpu = result[key], result[f"{key}_cpu"]
        print(f"| {name} | {seconds * 1e3:.2f} | {fused / seconds:.2f}x | {cpu * 1e3:.2f} |")
    share = result["all_reduce"] / result["two"]
    print(f"| all-reduce alone, 2 processes ({INPUTS * HIDDEN + HIDDEN * OUTPUTS + 1} float64) "
          f"| {result['all_reduce'] * 1e3:.2f} | {share:.0%} of the 2-process step |")  # fmt: skip


if __name__ == "__main__":
    main()
