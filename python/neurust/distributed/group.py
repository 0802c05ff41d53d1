"""The process group: joining it from torchrun's environment, its timeout, clear failures."""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "MIN_TIMEOUT_S",
    "DistributedError",
    "collective",
    "group_of",
    "init",
    "torch_distributed",
]

DEFAULT_TIMEOUT_S = 60.0
"""How long a collective waits for the other ranks before failing, unless
``NEURUST_DISTRIBUTED_TIMEOUT`` or :func:`init`'s ``timeout`` says otherwise
(torch's own default is 30 minutes)."""

# The variables torchrun sets for every rank; init_process_group's "env://" reads them.
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

_HOW_TO_START = (
    "start every rank with torchrun, for example `torchrun --nproc-per-node 2 train.py` on "
    "one machine, or call torch.distributed.init_process_group (or neurust.distributed.init) "
    "before fit"
)


class DistributedError(RuntimeError):
    """A collective failed: another rank died, was interrupted, raised, or fell behind."""


def torch_distributed() -> Any:
    try:
        import torch.distributed as dist
    except ImportError as error:
        raise ImportError(
            f"distributed training runs on torch.distributed: {error} "
            "(install it with: pip install 'neurust[torch]')"
        ) from error
    if not dist.is_available():
        raise RuntimeError("this build of torch has no torch.distributed support")
    return dist


MIN_TIMEOUT_S = 0.001
MAX_TIMEOUT_S = 30 * 24 * 3600.0
"""The timeouts accepted, from the variable and from :func:`init`: 1 ms to 30 days.
Below a millisecond torch rounds to "0ms"; far above a month its
``timedelta`` and C++ conversions overflow (at 1e10 s, 1e14 s, 1e300 s)."""


def _timeout(value: Any, name: str) -> float:
    """``value`` as seconds in ``[MIN_TIMEOUT_S, MAX_TIMEOUT_S]``, else a ValueError naming it."""
    expected = (
        f"{name} must be a number of seconds from {MIN_TIMEOUT_S:g} (1 ms) to "
        f"{MAX_TIMEOUT_S:g} (30 days), got {value!r}"
    )
    if isinstance(value, bool):
        raise TypeError(expected)
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        raise (ValueError if isinstance(value, str) else TypeError)(expected) from None
    if not MIN_TIMEOUT_S <= seconds <= MAX_TIMEOUT_S:  # also refuses nan
        raise ValueError(expected)
    return seconds


def _default_timeout() -> float:
    text = os.environ.get("NEURUST_DISTRIBUTED_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT_S
    return _timeout(text, "NEURUST_DISTRIBUTED_TIMEOUT")


def init(backend: str | None = None, timeout: float | None = None) -> ProcessGroup:
    """Join the default process group from torchrun's environment, unless already joined.

    Parameters
    ----------
    backend : str, optional
        ``"gloo"`` (the default, for CPU backends) or ``"nccl"`` (for the
        torch-cuda backend, one GPU per rank: ``LOCAL_RANK`` picks it).
    timeout : float, optional
        Seconds a collective waits for the other ranks before failing, from
        0.001 to 2,592,000 (30 days).
        Default: ``NEURUST_DISTRIBUTED_TIMEOUT`` or :data:`DEFAULT_TIMEOUT_S`.

    Returns
    -------
    ProcessGroup
        The default group (the one already initialised, if any; then
        ``backend`` and ``timeout`` are not applied).

    Raises
    ------
    RuntimeError
        If no group is initialised and torchrun's variables (``RANK``,
        ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) are not all set;
        the message says how to start the ranks.
    ValueError
        If ``timeout`` (or ``NEURUST_DISTRIBUTED_TIMEOUT``) is not from 1 ms
        to 30 days (:data:`MIN_TIMEOUT_S`, :data:`MAX_TIMEOUT_S`).
    TypeError
        If ``timeout`` is not a number.

    Examples
    --------
    >>> group = nr.distributed.init(timeout=30)  # doctest: +SKIP
    """
    dist = torch_distributed()
    if dist.is_initialized():
        return dist.group.WORLD
    seconds = _default_timeout() if timeout is None else _timeout(timeout, "timeout")
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"no torch.distributed process group is initialised and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; {_HOW_TO_START}"
        )
    backend = backend or "gloo"
    if backend == "nccl":
        import torch

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
    # A group left to the interpreter's exit can end the process with C++'s
    # "terminate called without an active exception" (its threads are still
    # joinable): close the group neurust opened while Python still runs.
    atexit.register(_close_group)
    return dist.group.WORLD


def _close_group() -> None:
    dist = torch_distributed()
    if dist.is_initialized():
        dist.destroy_process_group()


def group_of(distributed: Any, device: str) -> Any:
    """The group ``fit(..., distributed=...)`` names; True joins the default one (:func:`init`)."""
    dist = torch_distributed()
    if distributed is True:
        return init("nccl" if device == "cuda" else "gloo")
    if isinstance(distributed, dist.ProcessGroup):
        return distributed
    raise TypeError(
        f"distributed must be True or a torch.distributed.ProcessGroup, "
        f"got {type(distributed).__name__}"
    )


def collective(what: str, run: Callable[[], object]) -> None:
    """Run one collective; a failure names what it was doing and the likely cause."""
    try:
        run()
    except RuntimeError as error:  # DistBackendError and gloo's timeouts are RuntimeErrors
        raise DistributedError(
            f"{what} failed: another rank has stopped (it died, was interrupted or raised) "
            f"or fell behind by more than the group's timeout: {error}"
        ) from error
