"""The backends: the same kernels on pure Python, numpy, torch, JAX and Rust.

Every backend implements :class:`Backend` on its *native* arrays (nested lists,
ndarrays, tensors, jax arrays) and converts with ``from_numpy`` / ``to_numpy``,
so a timing of a kernel measures compute, not conversion. Backend modules are
imported only when asked for: ``import neurust`` never imports torch or jax.

A backend may offer more than the protocol requires: each optional capability
(:class:`ReluInto`, :class:`CopyInto`, :class:`TrainStep`) is a protocol of its
own, which a backend has by defining its method, and which callers find with
:func:`capability`, never by the backend's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

__all__ = [
    "KNOWN_BACKENDS",
    "Array",
    "Backend",
    "BackendUnavailableError",
    "CopyInto",
    "ReluInto",
    "TrainStep",
    "available_backends",
    "capability",
    "get_backend",
    "missing_capability",
]

Array: TypeAlias = Any
"""A backend's native array: a nested list, ndarray, torch tensor or jax array."""


@runtime_checkable
class Backend(Protocol):
    """What every backend provides, on its own native arrays.

    The kernels follow ``neurust``'s public functions of the same name (without
    ``out=``): ``weighted_sum(inputs, weights)`` is ``inputs @ weights`` for a
    vector or matrix ``inputs`` and a vector ``weights``; ``linear(x, weights,
    bias)`` is ``x @ weights + bias``; the activations work elementwise on any
    shape.

    A backend's kernels take arguments of one dtype, as ``from_numpy`` made
    them: float32 mixed with float64 is not promoted as numpy would (torch
    raises), so callers convert first, as ``TwoLayerNet`` does to its dtype
    and ``neurust.weighted_sum`` and the other public functions do by numpy's
    rule. JAX on the CPU flushes subnormal results to zero; the others keep them.
    """

    name: str
    """The registry name, as given to :func:`get_backend`."""
    device: str
    """Where the arrays live: ``"cpu"``, ``"cuda"``, ..."""
    dtypes: tuple[str, ...]
    """The dtypes computed natively; other float inputs come back as float64."""
    color: str
    """Its colour in plots (``neurust compare --plot``): any matplotlib colour."""
    asynchronous: bool
    """Whether kernels may return before their work is done (CUDA, JAX): a timing must
    then call :meth:`synchronize` before it reads the clock."""
    interpreted: bool
    """Whether the kernels run in the interpreter, element by element (pure Python): too
    slow for the larger sizes of a comparison."""
    threads_fixed_at_start: bool
    """Whether the library fixes its thread count when it starts (JAX's XLA), so that
    thread limits set afterwards do not reach it."""
    unsupported: Mapping[type, str]
    """Why it lacks an optional capability (:class:`ReluInto`, ...), by capability."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this backend cannot run here, or None when it can."""
        ...

    def from_numpy(self, a: np.ndarray) -> Array:
        """Convert a numpy array to this backend's native array, on its device."""
        ...

    def to_numpy(self, x: Array) -> np.ndarray:
        """Convert a native array (or native scalar result) back to numpy."""
        ...

    def synchronize(self, *results: Array) -> None:
        """Block until queued work (and the given results) are computed."""
        ...

    def weighted_sum(self, inputs: Array, weights: Array) -> Array: ...
    def relu(self, x: Array) -> Array: ...
    def relu_grad(self, x: Array, grad: Array) -> Array: ...
    def sigmoid(self, x: Array) -> Array: ...
    def sigmoid_grad(self, x: Array, grad: Array) -> Array: ...
    def step(self, x: Array) -> Array: ...
    def linear(self, x: Array, weights: Array, bias: Array | None = None) -> Array: ...

    # The two-layer network (neurust.backends._mlp): ``params`` maps "w1", "w2" (and "b1",
    # "b2" with biases) to native arrays; activation is "relu" or "sigmoid", reduction
    # "sum" or "mean". mlp_fit returns (parameters, numpy history of the loss before each
    # step); it raises FloatingPointError at a non-finite loss, and any exception that
    # stops it carries .params, .history and .steps_done (neurust.backends._partial).
    def mlp_forward(self, x: Array, params: dict[str, Array], activation: str) -> Array: ...
    def mlp_loss(
        self, x: Array, y: Array, params: dict[str, Array], activation: str, reduction: str = ...
    ) -> Array: ...
    def mlp_gradients(
        self, x: Array, y: Array, params: dict[str, Array], activation: str, reduction: str = ...
    ) -> tuple[Array, dict[str, Array]]: ...
    def mlp_step(
        self, params: dict[str, Array], grads: dict[str, Array], lr: float
    ) -> dict[str, Array]: ...
    def mlp_fit(
        self,
        x: Array,
        y: Array,
        params: dict[str, Array],
        *,
        activation: str,
        steps: int,
        lr: float,
        reduction: str = ...,
        batch_size: int | None = ...,
        callback: Any = ...,
        callback_every: int | None = ...,
    ) -> tuple[dict[str, Array], np.ndarray]: ...


# --- optional capabilities ------------------------------------------------------------------


@runtime_checkable
class ReluInto(Protocol):
    """Optional: relu written into an existing array, for backends whose arrays can be written."""

    def relu_into(self, x: Array, out: Array) -> Array:
        """Write ``relu(x)`` into ``out`` (same shape and dtype as ``x``) and return ``out``."""
        ...


@runtime_checkable
class CopyInto(Protocol):
    """Optional: a plain copy into an existing array (the memory-bandwidth ceiling of ReluInto)."""

    def copy_into(self, source: Array, out: Array) -> Array:
        """Copy ``source`` into ``out`` (same shape and dtype) and return ``out``."""
        ...


@runtime_checkable
class TrainStep(Protocol):
    """Optional: one gradient-descent step of the two-layer network as one call.

    A backend that has it may fuse or compile the step (JAX does); one that has
    not takes the same step as ``mlp_gradients`` followed by ``mlp_step``.
    """

    def mlp_train_step(
        self,
        x: Array,
        y: Array,
        params: dict[str, Array],
        activation: str,
        reduction: str,
        lr: float,
    ) -> tuple[Array, dict[str, Array]]:
        """Return ``(loss before the step, new parameters)``."""
        ...


# ``kind`` is typed ``type``, not ``type[T]`` -> ``T | None``: mypy refuses a protocol
# class where ``type[T]`` is expected ("only concrete class can be given").
def capability(backend: Backend, kind: type) -> Any:
    """Return ``backend`` as an optional capability ``kind`` if it has it, else None.

    Parameters
    ----------
    backend : Backend
        Any backend.
    kind : type
        One of the optional capabilities: :class:`ReluInto`, :class:`CopyInto`,
        :class:`TrainStep`.

    Returns
    -------
    Backend or None
        ``backend`` itself when it defines that capability's method; None when
        it does not (:func:`missing_capability` says why).

    Examples
    --------
    >>> from neurust.backends import ReluInto, capability, get_backend
    >>> capability(get_backend("numpy"), ReluInto) is not None
    True
    >>> capability(get_backend("python"), ReluInto) is None
    True
    """
    return backend if isinstance(backend, kind) else None


def missing_capability(backend: Backend, kind: type) -> str:
    """Why ``backend`` lacks the optional capability ``kind``, in the backend's own words.

    Examples
    --------
    >>> from neurust.backends import ReluInto, get_backend, missing_capability
    >>> missing_capability(get_backend("python"), ReluInto)
    'nested lists have no out= (they are rebuilt on every call)'
    """
    return backend.unsupported.get(kind) or f"backend {backend.name!r} has no {kind.__name__}"


class BackendUnavailableError(ValueError):
    """A known backend that cannot run here; the message says why."""


# name -> (module in this package, class in it, the pip extra that installs its library)
_REGISTRY: dict[str, tuple[str, str, str | None]] = {
    "python": ("python", "PythonBackend", None),
    "numpy": ("numpy", "NumpyBackend", None),
    "torch": ("torch", "TorchBackend", "torch"),
    "torch-cuda": ("torch", "TorchCudaBackend", "torch"),
    "jax": ("jax", "JaxBackend", "jax"),
    "rust": ("rust", "RustBackend", None),
}

KNOWN_BACKENDS: tuple[str, ...] = tuple(_REGISTRY)
"""Every backend name, whether or not it can run here (see :func:`available_backends`)."""


def _load(name: str) -> type[Backend]:
    """Import the backend's class, or raise BackendUnavailableError saying why not."""
    if name not in _REGISTRY:
        choices = ", ".join(repr(known) for known in _REGISTRY)
        raise ValueError(f"unknown backend {name!r}; valid choices are {choices}")
    module_name, class_name, extra = _REGISTRY[name]
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as error:
        hint = f" (install it with: pip install 'neurust[{extra}]')" if extra else ""
        raise BackendUnavailableError(
            f"backend {name!r} is not available: {error}{hint}"
        ) from error
    backend_class: type[Backend] = getattr(module, class_name)
    reason = backend_class.unavailable_reason()
    if reason is not None:
        raise BackendUnavailableError(f"backend {name!r} is not available: {reason}")
    return backend_class


def available_backends() -> list[str]:
    """List the backends that can run on this machine.

    Imports each optional library (torch, jax) to find out, so the first call
    can take a few seconds.

    Returns
    -------
    list of str
        Names to pass to :func:`get_backend`, in a fixed order: ``"python"``,
        ``"numpy"``, ``"torch"``, ``"torch-cuda"``, ``"jax"``, ``"rust"``,
        leaving out those that cannot run here.

    Examples
    --------
    >>> import neurust as nr
    >>> "rust" in nr.available_backends()
    True
    """
    available = []
    for name in _REGISTRY:
        try:
            _load(name)
        except BackendUnavailableError:
            continue
        available.append(name)
    return available


def get_backend(name: str) -> Backend:
    """Return a backend by name.

    Parameters
    ----------
    name : str
        One of ``"python"``, ``"numpy"``, ``"torch"``, ``"torch-cuda"``,
        ``"jax"``, ``"rust"``.

    Returns
    -------
    Backend
        A fresh backend object whose kernels work on its native arrays.

    Raises
    ------
    BackendUnavailableError
        (a ``ValueError``) if the backend is known but cannot run here, for
        example ``"torch-cuda"`` without a GPU; the message says why.
    ValueError
        If ``name`` is not a known backend; the message lists the valid names.
    TypeError
        If ``name`` is not a string.

    Examples
    --------
    >>> import neurust as nr, numpy as np
    >>> backend = nr.get_backend("numpy")
    >>> float(backend.weighted_sum(backend.from_numpy(np.array([2.0, 3.0])),
    ...                            backend.from_numpy(np.array([1.0, 1.0]))))
    5.0
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a backend name (str), got {type(name).__name__}")
    return _load(name)()
