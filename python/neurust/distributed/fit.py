"""Data-parallel training of a :class:`~neurust.TwoLayerNet` on ``torch.distributed``.

Every rank holds its own rows. Each step every rank computes its gradients with
the net's backend into one flat buffer, one all-reduce sums that buffer (the
gradients and the loss) across the ranks, and every rank takes the same step,
so the parameters stay bit-identical everywhere. Launch the ranks with
``torchrun``; gloo carries the traffic for CPU backends, NCCL for torch-cuda.

``import neurust`` does not import torch: this module imports it on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import math
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurust._convert import as_float_array
from neurust._progress import progress_bar
from neurust._validation import choice, learning_rate, positive_int, shape_text
from neurust.backends._mlp import REDUCTIONS, batch_bounds, non_finite_error
from neurust.backends._partial import attach

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

    from neurust.model import TwoLayerNet

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "MIN_TIMEOUT_S",
    "DistributedError",
    "init",
    "shard",
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


def _torch_distributed() -> Any:
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
    dist = _torch_distributed()
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
    dist = _torch_distributed()
    if dist.is_initialized():
        dist.destroy_process_group()


def _group(distributed: Any, device: str) -> Any:
    dist = _torch_distributed()
    if distributed is True:
        return init("nccl" if device == "cuda" else "gloo")
    if isinstance(distributed, dist.ProcessGroup):
        return distributed
    raise TypeError(
        f"distributed must be True or a torch.distributed.ProcessGroup, "
        f"got {type(distributed).__name__}"
    )


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
        dist = _torch_distributed()
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


class _FlatBuffers:
    """The parameters and the gradients (plus the loss) as two flat tensors, with views.

    Allocated once per fit. The backend's parameters are views of the first
    (for numpy, Rust and torch; JAX arrays are immutable, so it gets copies
    each step); its gradients are copied into the second, whose last element
    holds the loss, so one all-reduce sums both.
    """

    def __init__(self, net: TwoLayerNet) -> None:
        import torch

        self.backend = net.backend
        shapes = net._shapes()
        self.size = sum(math.prod(shape) for shape in shapes.values())
        dtype = getattr(torch, net.dtype.name)
        device = self.backend.device
        if device == "cpu":
            self.params_numpy: np.ndarray | None = np.empty(self.size, dtype=net.dtype)
            self.params = torch.from_numpy(self.params_numpy)
            self.grads = torch.from_numpy(np.empty(self.size + 1, dtype=net.dtype))
        else:
            self.params_numpy = None
            self.params = torch.empty(self.size, dtype=dtype, device=device)
            self.grads = torch.empty(self.size + 1, dtype=dtype, device=device)
        self.param_views: dict[str, Any] = {}
        self.grad_views: dict[str, Any] = {}
        offset = 0
        for name, shape in shapes.items():
            end = offset + math.prod(shape)
            self.param_views[name] = self.params[offset:end].view(shape)
            self.grad_views[name] = self.grads[offset:end].view(shape)
            offset = end
        current = net.parameters()
        for name, view in self.param_views.items():
            view.copy_(torch.from_numpy(current[name]).to(device))
        self.native = self._native_views()
        self.steps_done = 0

    def _native_views(self) -> dict[str, Any] | None:
        """The parameter views as the backend's arrays, or None where it must copy them."""
        import torch

        probe = self.param_views["w1"]
        if self.params_numpy is not None:
            array = probe.numpy()
            native = self.backend.from_numpy(array)
            if isinstance(native, np.ndarray) and np.shares_memory(native, array):
                return {name: view.numpy() for name, view in self.param_views.items()}
        if isinstance(self.backend.from_numpy(probe.cpu().numpy()), torch.Tensor):
            return dict(self.param_views)
        return None

    def native_params(self) -> dict[str, Any]:
        if self.native is not None:
            return self.native
        return {
            name: self.backend.from_numpy(view.numpy()) for name, view in self.param_views.items()
        }

    def store(self, loss: Any, grads: dict[str, Any]) -> None:
        """Copy the backend's loss and gradients into the flat buffer."""
        import torch

        for name, view in self.grad_views.items():
            grad = grads[name]
            if isinstance(grad, torch.Tensor):
                view.copy_(grad)
            else:
                np.copyto(view.numpy(), np.asarray(grad), casting="same_kind")
        self.grads[self.size] = loss if isinstance(loss, torch.Tensor) else float(loss)

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {name: view.cpu().numpy() for name, view in self.param_views.items()}


def _agree(group: Any, config: dict[str, Any], error: BaseException | None) -> list[int]:
    """Check that every rank starts the same fit; return each rank's row count.

    Every rank sends its configuration (or the error its own arguments
    raised) to every other, so all of them fail together, before any step.
    """
    dist = _torch_distributed()
    payload = {"config": config, "error": None if error is None else f"{error}"}
    gathered: list[Any] = [None] * dist.get_world_size(group)
    _collective(
        "comparing the ranks' arguments",
        lambda: dist.all_gather_object(gathered, payload, group=group),
    )
    failed = [(rank, item["error"]) for rank, item in enumerate(gathered) if item["error"]]
    if error is not None:
        raise error
    if failed:
        reasons = "; ".join(f"rank {rank}: {reason}" for rank, reason in failed)
        raise ValueError(f"another rank could not start the fit ({reasons})")
    configs = [item["config"] for item in gathered]
    for key, value in config.items():
        if key in ("rows", "gpu"):
            continue
        values = [other[key] for other in configs]
        if any(other != value for other in values):
            each = ", ".join(f"rank {rank} has {other!r}" for rank, other in enumerate(values))
            raise ValueError(
                f"the ranks disagree on {key} ({each}); every rank must fit the same net "
                "with the same arguments"
            )
    shared = _shared_gpu([other.get("gpu") for other in configs])
    if shared:
        raise ValueError(
            f"{shared}; give each rank a GPU of its own before fit, for example "
            "torch.cuda.set_device(int(os.environ['LOCAL_RANK'])) (neurust.distributed.init "
            "does this when it starts the group)"
        )
    return [int(other["rows"]) for other in configs]


def _gpu_of_this_rank(device: str) -> str | None:
    """``host:index`` of the GPU a torch-cuda net computes on here, None on a CPU."""
    if device != "cuda":
        return None
    import torch

    return f"{socket.gethostname()}:{torch.cuda.current_device()}"


def _shared_gpu(gpus: list[str | None]) -> str | None:
    """Which ranks share a GPU (NCCL needs one per rank), or None if none do."""
    first: dict[str, int] = {}
    for rank, gpu in enumerate(gpus):
        if gpu is None:
            continue
        if gpu in first:
            host, index = gpu.rsplit(":", 1)
            return f"ranks {first[gpu]} and {rank} both compute on GPU {index} of {host}"
        first[gpu] = rank
    return None


@dataclass(frozen=True)
class _Settings:
    """One rank's checked arguments of a distributed fit."""

    x: np.ndarray
    y: np.ndarray
    steps: int
    lr: float
    batch_size: int | None
    reduction: str

    def config(self, net: TwoLayerNet) -> dict[str, Any]:
        """What every rank must agree on (and its own row count)."""
        return {
            "input_dim": net.input_dim,
            "hidden_dim": net.hidden_dim,
            "output_dim": net.output_dim,
            "activation": net.activation,
            "bias": net.bias,
            "dtype": net.dtype.name,
            "device": net.backend.device,
            "steps": self.steps,
            "lr": self.lr,
            "reduction": self.reduction,
            "batch_size": self.batch_size,
            "rows": self.x.shape[0],
            "gpu": _gpu_of_this_rank(net.backend.device),
        }


def _settings(
    net: TwoLayerNet, X: Any, Y: Any, steps: Any, lr: Any, batch_size: Any, reduction: Any
) -> _Settings:
    """The arguments checked by the rules ``fit`` applies without ``distributed``."""
    steps = positive_int(steps, "steps")
    lr = learning_rate(lr)
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    reduction = choice(reduction, "reduction", REDUCTIONS)
    x = net._inputs(X)
    y = net._targets(Y, x.shape[0]) if x.shape[0] else _no_targets(net, Y)
    return _Settings(x, y, steps, lr, batch_size, reduction)


def _no_targets(net: TwoLayerNet, Y: Any) -> np.ndarray:
    """``Y`` of a rank that holds no rows: ``(0, output_dim)``, or ``(0,)`` for one output.

    Such a rank takes part (``shard`` gives one when there are fewer rows than
    ranks): it adds nothing to the gradients, and "mean" divides by the
    other ranks' rows.
    """
    y = as_float_array(Y, "Y")
    if y.shape == (0,) and net.output_dim == 1:
        y = y.reshape(0, 1)
    if y.shape != (0, net.output_dim):
        raise ValueError(
            f"Y has shape {shape_text(y.shape)}, but X has 0 rows and the net has output_dim "
            f"{net.output_dim}; Y needs shape (0, {net.output_dim})"
        )
    return np.ascontiguousarray(y, dtype=net.dtype)


def _fit(
    net: TwoLayerNet,
    X: Any,
    Y: Any,
    steps: Any,
    lr: Any,
    batch_size: Any,
    progress: bool,
    reduction: Any,
    distributed: Any,
) -> np.ndarray:
    """``TwoLayerNet.fit(..., distributed=...)``: see its docstring."""
    dist = _torch_distributed()
    group = _group(distributed, net.backend.device)
    settings: _Settings | None = None
    try:
        settings = _settings(net, X, Y, steps, lr, batch_size, reduction)
    except (TypeError, ValueError) as error:
        _agree(group, {}, error)  # raises here, and on every other rank
    assert settings is not None
    rows = _agree(group, settings.config(net), None)
    if not any(rows):  # every rank knows every count: all raise together
        raise ValueError(
            f"no rank holds any rows (all {len(rows)} have an empty X); the loss and its "
            "gradients need at least one sample"
        )

    buffers = _FlatBuffers(net)
    _collective(
        "broadcasting rank 0's parameters",
        lambda: dist.broadcast(buffers.params, src=dist.get_global_rank(group, 0), group=group),
    )
    history = np.zeros(settings.steps, dtype=net.dtype)
    shown = progress and dist.get_rank(group) == 0
    bar_context = progress_bar(settings.steps, "training", show_loss=True) if shown else None
    with bar_context or contextlib.nullcontext() as bar:
        try:
            for done in _steps(net, settings, rows, group, buffers, history):
                every = max(1, settings.steps // 100)
                if bar is not None and (done % every == 0 or done == settings.steps):
                    bar.update(done, float(history[done - 1]))
        except BaseException as error:
            net.load_parameters(buffers.numpy_params())
            net.history_ = history[: buffers.steps_done].copy()
            attach(error, net.parameters(), net.history_)
            raise
    net.load_parameters(buffers.numpy_params())
    net.history_ = history
    return history


def _steps(
    net: TwoLayerNet,
    settings: _Settings,
    rows: list[int],
    group: Any,
    buffers: _FlatBuffers,
    history: np.ndarray,
) -> Iterator[int]:
    """Take the fit's steps, filling ``history``; yield the count done after each."""
    dist = _torch_distributed()
    rank = dist.get_rank(group)
    # gloo hands even a one-rank all-reduce to its own thread and waits for
    # it (1.3 ms a step for the seeds' net at 1,024 rows).
    alone = dist.get_world_size(group) == 1
    backend = net.backend
    x_native, y_native = backend.from_numpy(settings.x), backend.from_numpy(settings.y)
    gradients, update = buffers.grads[: buffers.size], buffers.params
    # The parameters of the step before: a non-finite loss returns to them.
    previous = update.clone()
    batch_size, lr = settings.batch_size, settings.lr
    for step in range(settings.steps):
        start, end = batch_bounds(rows[rank], batch_size, step)
        whole = end - start == rows[rank]
        batch_x = x_native if whole else x_native[start:end]
        batch_y = y_native if whole else y_native[start:end]
        if end > start:
            loss, grads = backend.mlp_gradients(
                batch_x, batch_y, buffers.native_params(), net.activation, "sum"
            )
            buffers.store(loss, grads)
        else:  # a rank with no rows adds nothing to the sums
            buffers.grads.zero_()
        if not alone:  # in a group of one, the sum is what this rank holds
            _collective(
                f"summing the gradients of step {step}",
                lambda: dist.all_reduce(buffers.grads, group=group),
            )
        if settings.reduction == "mean":
            count = sum(_batch_rows(n, batch_size, step) for n in rows) * net.output_dim
            buffers.grads.div_(count)
        global_loss = buffers.grads[buffers.size].item()
        history[step] = global_loss
        if not math.isfinite(global_loss):
            if step:
                update.copy_(previous)
            raise non_finite_error(global_loss, step, lr)
        previous.copy_(update)
        gradients.mul_(lr)
        update.sub_(gradients)
        buffers.steps_done = step + 1
        yield step + 1


def _batch_rows(rows: int, batch_size: int | None, step: int) -> int:
    start, end = batch_bounds(rows, batch_size, step)
    return end - start


def _collective(what: str, collective: Callable[[], object]) -> None:
    """Run one collective; a failure names what it was doing and the likely cause."""
    try:
        collective()
    except RuntimeError as error:  # DistBackendError and gloo's timeouts are RuntimeErrors
        raise DistributedError(
            f"{what} failed: another rank has stopped (it died, was interrupted or raised) "
            f"or fell behind by more than the group's timeout: {error}"
        ) from error
