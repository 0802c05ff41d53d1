"""Train the tutorial's two-layer network data-parallel, one share of the rows per process.

On one machine, two processes::

    torchrun --standalone --nproc-per-node 2 examples/train_distributed.py

Every rank draws the same full data set here (standing in for a file every
rank can read), keeps its own contiguous share of the rows, and trains with
the others; rank 0 prints the loss and saves the net.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch.distributed as dist

import neurust as nr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024, help="rows across all ranks")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=1e-7)
    parser.add_argument("--backend", default="rust", help="rust, numpy, torch, torch-cuda, jax")
    parser.add_argument("--threads", type=int, default=1, help="neurust's threads per rank")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a rank")
    parser.add_argument("--save", help="where rank 0 writes the trained net (.npz)")
    args = parser.parse_args()

    nr.set_num_threads(args.threads)  # one rank per core by default: no oversubscription
    backend = "nccl" if args.backend == "torch-cuda" else "gloo"
    nr.distributed.init(backend, timeout=args.timeout)
    rank, world_size = dist.get_rank(), dist.get_world_size()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 1000))
    Y = rng.standard_normal((args.rows, 1))
    x, y = nr.distributed.shard(X, Y)  # this rank's rows

    net = nr.TwoLayerNet(1000, 100, 1, seed=0, backend=args.backend)
    history = net.fit(x, y, steps=args.steps, lr=args.lr, distributed=True, progress=True)
    if rank == 0:
        print(f"{world_size} ranks, {len(x)} of {args.rows} rows on rank 0")
        print(f"loss before the first step {history[0]:.6g}, before the last {history[-1]:.6g}")
        if args.save:
            net.save(args.save)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
