"""The work the comparison times: a small definition per workload, all in :data:`WORKLOADS`.

A workload (``weighted_sum``, ``relu``, ``linear``, ``fit`` ...) says how to read
a size, how to make its inputs, how to run it on one backend's native arrays,
and how many floating-point operations and bytes one call costs (see
:class:`Workload`). The vector workloads are in :mod:`.vector`, the network
ones in :mod:`.network`.
"""

from __future__ import annotations

from neurust.compare.workloads.base import Case, Inputs, Size, Workload, parse_count
from neurust.compare.workloads.network import NETWORK_WORKLOADS, learning_rate
from neurust.compare.workloads.vector import VECTOR_WORKLOADS

__all__ = [
    "WORKLOADS",
    "Case",
    "Inputs",
    "Size",
    "Workload",
    "learning_rate",
    "parse_count",
]

WORKLOADS: dict[str, Workload] = {
    workload.name: workload for workload in (*VECTOR_WORKLOADS, *NETWORK_WORKLOADS)
}
"""Every workload, by name, in the order the table shows them."""
