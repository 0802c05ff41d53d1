"""``TwoLayerNet.fit(..., distributed=...)``: the shared training loop, all-reducing each step.

The fit runs :func:`neurust.backends._mlp.train`, the loop every Python fit
runs, with a ``train_step`` of its own: each rank computes its gradients and
its loss with the net's backend into one flat buffer, one all-reduce sums that
buffer across the ranks, and every rank takes the same step on flat parameter
buffers. The loop's rollback on a non-finite loss needs the parameters of the
step before intact, so the parameters rotate through three flat buffers (no
copy per step). A diverged fit then keeps the lower-loss of the parameters it
started from (the one copy per call) and its last finite ones, judged by the
loss over every rank's rows, the same on every rank.

The net is read through what :class:`DistributedNet` names: its sizes,
activation, dtype and backend, ``parameters()``, ``load_parameters()`` and
``history_``.
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from neurust._convert import as_float_array
from neurust._progress import progress_bar
from neurust._validation import (
    choice,
    learning_rate,
    net_inputs,
    net_targets,
    positive_int,
    shape_text,
)
from neurust.backends._mlp import REDUCTIONS, FitOptions, batch_bounds, keep_lower_loss, train
from neurust.backends._partial import attach, partial_fit_of
from neurust.distributed.group import collective, group_of, torch_distributed

if TYPE_CHECKING:
    import torch

    from neurust.backends import Backend

__all__ = ["DistributedNet", "fit_distributed"]


class DistributedNet(Protocol):
    """What the distributed fit reads and sets on a net; :class:`~neurust.TwoLayerNet` has it."""

    input_dim: int
    hidden_dim: int
    output_dim: int
    activation: str
    bias: bool
    dtype: np.dtype
    backend: Backend
    history_: np.ndarray | None

    def parameters(self) -> dict[str, np.ndarray]: ...

    def load_parameters(self, params: Mapping[str, Any]) -> None: ...


# Three sets of parameters rotate through the steps: those of the step before
# (the rollback's), the current ones, and the next ones being written.
_ROTATION = 3


class _Flat(dict[str, Any]):
    """One set of parameters: views (name -> tensor) of one flat tensor, with its native arrays."""

    def __init__(self, flat: torch.Tensor, shapes: Mapping[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.flat = flat
        offset = 0
        for name, shape in shapes.items():
            end = offset + math.prod(shape)
            self[name] = flat[offset:end].view(shape)
            offset = end
        self.native: dict[str, Any] | None = None

    def numpy(self) -> dict[str, np.ndarray]:
        return {name: view.cpu().numpy() for name, view in self.items()}


class _Buffers:
    """The rotating parameter sets and the flat gradients (plus the loss), allocated per fit.

    The backend computes on views of the parameter sets (numpy, Rust and
    torch; JAX arrays are immutable, so it gets copies each step); its
    gradients are copied into ``grads``, whose last element holds the loss,
    so one all-reduce sums both.
    """

    def __init__(self, net: DistributedNet, current: Mapping[str, np.ndarray]) -> None:
        import torch

        self.backend = net.backend
        self.device = net.backend.device
        self.shapes = {name: tuple(value.shape) for name, value in current.items()}
        self.size = sum(math.prod(shape) for shape in self.shapes.values())
        self.sets = [self.new_set(net.dtype) for _ in range(_ROTATION)]
        self.grads = self._flat(self.size + 1, net.dtype)
        self.grad_views = _Flat(self.grads, self.shapes)
        for name, view in self.sets[0].items():
            view.copy_(torch.from_numpy(current[name]).to(self.device))
        self._shares = self._shares_memory()

    def _flat(self, size: int, dtype: np.dtype) -> torch.Tensor:
        import torch

        if self.device == "cpu":  # numpy-backed, so numpy and Rust compute on its views
            return torch.from_numpy(np.empty(size, dtype=dtype))
        return torch.empty(size, dtype=getattr(torch, dtype.name), device=self.device)

    def new_set(self, dtype: np.dtype) -> _Flat:
        return _Flat(self._flat(self.size, dtype), self.shapes)

    def _shares_memory(self) -> str | None:
        """How the backend's arrays can view a set: ``"numpy"``, ``"torch"``, or None (copies)."""
        import torch

        probe = self.sets[0]["w1"]
        if self.device == "cpu":
            array = probe.numpy()
            native = self.backend.from_numpy(array)
            if isinstance(native, np.ndarray) and np.shares_memory(native, array):
                return "numpy"
        if isinstance(self.backend.from_numpy(probe.cpu().numpy()), torch.Tensor):
            return "torch"
        return None

    def native(self, params: _Flat) -> dict[str, Any]:
        """The set as the backend's arrays: views where it can, else fresh copies."""
        if params.native is not None:
            return params.native
        if self._shares == "numpy":
            params.native = {name: view.numpy() for name, view in params.items()}
            return params.native
        if self._shares == "torch":
            params.native = dict(params)
            return params.native
        return {name: self.backend.from_numpy(view.numpy()) for name, view in params.items()}

    def store(self, loss: Any, grads: Mapping[str, Any]) -> None:
        """Copy the backend's loss and gradients into the flat buffer."""
        import torch

        for name, view in self.grad_views.items():
            grad = grads[name]
            if isinstance(grad, torch.Tensor):
                view.copy_(grad)
            else:
                np.copyto(view.numpy(), np.asarray(grad), casting="same_kind")
        self.grads[self.size] = loss if isinstance(loss, torch.Tensor) else float(loss)


def _agree(group: Any, config: dict[str, Any], error: BaseException | None) -> list[int]:
    """Check that every rank starts the same fit; return each rank's row count.

    Every rank sends its configuration (or the error its own arguments
    raised) to every other, so all of them fail together, before any step.
    """
    dist = torch_distributed()
    payload = {"config": config, "error": None if error is None else f"{error}"}
    gathered: list[Any] = [None] * dist.get_world_size(group)
    collective(
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

    def config(self, net: DistributedNet) -> dict[str, Any]:
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
    net: DistributedNet, X: Any, Y: Any, steps: Any, lr: Any, batch_size: Any, reduction: Any
) -> _Settings:
    """The arguments checked by the rules ``fit`` applies without ``distributed``."""
    steps = positive_int(steps, "steps")
    lr = learning_rate(lr)
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    reduction = choice(reduction, "reduction", REDUCTIONS)
    x = net_inputs(X, net.input_dim, net.dtype)
    if x.shape[0]:
        y = net_targets(Y, x.shape[0], net.output_dim, net.dtype)
    else:
        y = _no_targets(net, Y)
    return _Settings(x, y, steps, lr, batch_size, reduction)


def _no_targets(net: DistributedNet, Y: Any) -> np.ndarray:
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


def _batch_rows(rows: int, batch_size: int | None, step: int) -> int:
    start, end = batch_bounds(rows, batch_size, step)
    return end - start


class _Run:
    """One rank's distributed fit: the loop's ``train_step`` and the divergence rule."""

    def __init__(
        self, net: DistributedNet, settings: _Settings, rows: list[int], group: Any
    ) -> None:
        import torch

        dist = torch_distributed()
        self.torch, self.dist, self.group = torch, dist, group
        self.net, self.settings, self.rows = net, settings, rows
        self.rank = dist.get_rank(group)
        # gloo hands even a one-rank all-reduce to its own thread and waits for
        # it (the "1 process (loop)" row of benches/distributed.py; figures in
        # docs/performance.md).
        self.alone = dist.get_world_size(group) == 1
        self.buffers = buffers = _Buffers(net, net.parameters())
        first = buffers.sets[0]
        collective(
            "broadcasting rank 0's parameters",
            lambda: dist.broadcast(first.flat, src=dist.get_global_rank(group, 0), group=group),
        )
        # The parameters the fit started from, the same on every rank: the one
        # copy per call, which a diverged fit may return to.
        self.before = buffers.new_set(net.dtype)
        self.before.flat.copy_(first.flat)
        backend = net.backend
        self.x, self.y = backend.from_numpy(settings.x), backend.from_numpy(settings.y)

    def train_step(self, params: _Flat, step: int, start: int, end: int) -> tuple[float, _Flat]:
        """Local gradients, one all-reduce of them and the loss, then the update."""
        buffers, settings, dist = self.buffers, self.settings, self.dist
        if end > start:
            whole = end - start == self.rows[self.rank]
            batch_x = self.x if whole else self.x[start:end]
            batch_y = self.y if whole else self.y[start:end]
            loss, grads = self.net.backend.mlp_gradients(
                batch_x, batch_y, buffers.native(params), self.net.activation, "sum"
            )
            buffers.store(loss, grads)
        else:  # a rank with no rows adds nothing to the sums
            buffers.grads.zero_()
        if not self.alone:  # in a group of one, the sum is what this rank holds
            collective(
                f"summing the gradients of step {step}",
                lambda: dist.all_reduce(buffers.grads, group=self.group),
            )
        if settings.reduction == "mean":
            count = sum(_batch_rows(n, settings.batch_size, step) for n in self.rows)
            buffers.grads.div_(count * self.net.output_dim)
        loss_value = buffers.grads[buffers.size].item()
        new_params = buffers.sets[(step + 1) % _ROTATION]
        gradients = buffers.grads[: buffers.size]
        gradients.mul_(self.settings.lr)
        self.torch.sub(params.flat, gradients, out=new_params.flat)
        return loss_value, new_params

    def set_of(self, params: Mapping[str, Any]) -> _Flat:
        """The rotating set whose views ``params`` holds (the loop hands back a plain dict)."""
        return next(s for s in self.buffers.sets if s["w1"] is params["w1"])

    def keeps_start(self, error: FloatingPointError, last: _Flat, steps_done: int) -> bool:
        """Whether the parameters from before the call have the lower global loss (see
        :func:`~neurust.backends._mlp.keep_lower_loss`, which also rewrites the message)."""
        import torch

        net, buffers = self.net, self.buffers
        local = [self._local_loss(self.before), self._local_loss(last)]
        totals = torch.tensor(local, dtype=torch.float64, device=buffers.device)
        if not self.alone:
            collective(
                "comparing the losses after divergence",
                lambda: self.dist.all_reduce(totals, group=self.group),
            )
        before, kept = totals.tolist()
        if self.settings.reduction == "mean":
            count = sum(self.rows) * net.output_dim
            before, kept = before / count, kept / count
        return keep_lower_loss(error, steps_done, before, kept)

    def _local_loss(self, params: _Flat) -> float:
        """This rank's summed squared error over all its rows (0 for none)."""
        if not self.rows[self.rank]:
            return 0.0
        backend = self.net.backend
        with np.errstate(all="ignore"):
            value = backend.mlp_loss(
                self.x, self.y, self.buffers.native(params), self.net.activation, "sum"
            )
            return float(backend.to_numpy(value))


def fit_distributed(
    net: DistributedNet,
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
    dist = torch_distributed()
    group = group_of(distributed, net.backend.device)
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
    run = _Run(net, settings, rows, group)
    shown = progress and dist.get_rank(group) == 0
    bar_context = progress_bar(settings.steps, "training", show_loss=True) if shown else None
    with bar_context or contextlib.nullcontext() as bar:
        options = FitOptions(
            activation=net.activation,
            steps=settings.steps,
            lr=settings.lr,
            reduction=settings.reduction,
            batch_size=settings.batch_size,
            callback=None if bar is None else bar.update,
            callback_every=max(1, settings.steps // 100),
        )
        try:
            last, history = train(run.buffers.sets[0], rows[run.rank], options, run.train_step)
        except BaseException as error:
            partial = partial_fit_of(error)
            if partial is None:
                raise
            kept = run.set_of(partial.params)
            if isinstance(error, FloatingPointError) and partial.steps_done:
                if run.keeps_start(error, kept, partial.steps_done):
                    kept = run.before
            net.load_parameters(kept.numpy())
            net.history_ = np.asarray(partial.history, dtype=net.dtype)
            attach(error, net.parameters(), net.history_)
            raise
    net.load_parameters(last.numpy())
    net.history_ = np.asarray(history, dtype=net.dtype)
    return net.history_
