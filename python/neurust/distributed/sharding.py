"""Each rank's share of the rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from neurust.distributed.group import init, torch_distributed

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = ["shard"]


def shard(
    X: Any,
    Y: Any = None,
    *,
    group: ProcessGroup | None = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> Any:
    """This rank's contiguous share of the rows of ``X`` (and ``Y``).

    Rank ``r`` of ``w`` gets rows ``r * n // w`` up to ``(r + 1) * n // w``:
    shares differ by at most one row, and the ranks' shares in rank order
    are the whole array. Slicing keeps views (a memory-mapped file reads
    only this rank's rows).

    Parameters
    ----------
    X : array_like, shape (n, ...)
    Y : array_like, shape (n, ...), optional
    group : ProcessGroup, optional
        Whose rank and size to use; default: the default group, joined
        from torchrun's environment when needed (see :func:`init`).
    rank, world_size : int, optional
        Give both to shard without a process group.

    Returns
    -------
    ndarray or tuple of ndarray
        ``X``'s rows, or ``(X_rows, Y_rows)`` when ``Y`` is given.

    Raises
    ------
    ValueError
        If ``X`` and ``Y`` have different row counts, or ``rank`` is not in
        ``range(world_size)``.

    Examples
    --------
    >>> X, Y = np.arange(10.0).reshape(5, 2), np.arange(5.0)
    >>> nr.distributed.shard(X, Y, rank=1, world_size=2)[1]
    array([2., 3., 4.])
    """
    if (rank is None) != (world_size is None):
        raise ValueError("give both rank and world_size, or neither")
    if rank is None or world_size is None:
        dist = torch_distributed()
        group = group if group is not None else init()
        rank, world_size = dist.get_rank(group), dist.get_world_size(group)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in range(world_size={world_size}), got {rank}")
    x = X if hasattr(X, "shape") else np.asarray(X)
    rows = x.shape[0]
    start, end = rank * rows // world_size, (rank + 1) * rows // world_size
    if Y is None:
        return x[start:end]
    y = Y if hasattr(Y, "shape") else np.asarray(Y)
    if y.shape[0] != rows:
        raise ValueError(f"Y has {y.shape[0]} rows, but X has {rows}; they must match")
    return x[start:end], y[start:end]
