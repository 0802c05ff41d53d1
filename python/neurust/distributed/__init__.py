"""Data-parallel training of a :class:`~neurust.TwoLayerNet` on ``torch.distributed``.

Every rank holds its own rows. Each step every rank computes its gradients with
the net's backend into one flat buffer, one all-reduce sums that buffer (the
gradients and the loss) across the ranks, and every rank takes the same step,
so the parameters stay bit-identical everywhere. Launch the ranks with
``torchrun``; gloo carries the traffic for CPU backends, NCCL for torch-cuda.

The package holds one concern per module: :mod:`~neurust.distributed.group`
(joining the process group, its timeout, collectives that fail clearly),
:mod:`~neurust.distributed.sharding` (each rank's rows) and
:mod:`~neurust.distributed.fit` (``TwoLayerNet.fit(..., distributed=...)``, on
the training loop every Python fit shares).

``import neurust`` does not import torch: these modules import it on first use.
"""

from __future__ import annotations

from neurust.distributed.group import (
    DEFAULT_TIMEOUT_S,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    DistributedError,
    init,
)
from neurust.distributed.sharding import shard

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "MIN_TIMEOUT_S",
    "DistributedError",
    "init",
    "shard",
]
