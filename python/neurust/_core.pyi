"""Type stubs for the compiled Rust extension ``neurust._core``."""

from collections.abc import Callable
from typing import Any, TypeAlias, final

import numpy as np
import numpy.typing as npt

_Float: TypeAlias = np.float32 | np.float64
_Array: TypeAlias = npt.NDArray[Any]

__all__ = [
    "FitStopped",
    "Network",
    "TwoLayer",
    "__version__",
    "_as_array",
    "_as_float_arrays",
    "_legacy_shuffle",
    "_load_openblas",
    "_use_openblas",
    "build_info",
    "get_num_threads",
    "heaviside",
    "linear",
    "mlp_fit",
    "mlp_forward",
    "mlp_gradients",
    "mlp_loss",
    "mlp_step",
    "mlp_train_step",
    "relu",
    "relu_grad",
    "set_num_threads",
    "sigmoid",
    "sigmoid_grad",
    "weighted_sum",
]

__version__: str

def weighted_sum(inputs: npt.ArrayLike, weights: npt.ArrayLike, /) -> _Float | _Array: ...
def relu(x: npt.ArrayLike, /, out: _Array | None = None) -> _Array: ...
def relu_grad(x: npt.ArrayLike, grad: npt.ArrayLike, /, out: _Array | None = None) -> _Array: ...
def sigmoid(x: npt.ArrayLike, /, out: _Array | None = None) -> _Array:
    """1 / (1 + e^-x); float32 within 2 ulp of the correctly rounded value."""

def sigmoid_grad(x: npt.ArrayLike, grad: npt.ArrayLike, /, out: _Array | None = None) -> _Array: ...
def heaviside(x: npt.ArrayLike, /, out: _Array | None = None) -> _Array: ...
def linear(
    x: npt.ArrayLike, weights: npt.ArrayLike, bias: npt.ArrayLike | None = None, /
) -> _Array: ...
def mlp_forward(
    x: npt.ArrayLike,
    w1: npt.ArrayLike,
    b1: npt.ArrayLike | None,
    w2: npt.ArrayLike,
    b2: npt.ArrayLike | None,
    activation: str,
    /,
) -> _Array: ...
def mlp_loss(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    w1: npt.ArrayLike,
    b1: npt.ArrayLike | None,
    w2: npt.ArrayLike,
    b2: npt.ArrayLike | None,
    activation: str,
    reduction: str = "sum",
    /,
) -> _Float: ...
def mlp_gradients(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    w1: npt.ArrayLike,
    b1: npt.ArrayLike | None,
    w2: npt.ArrayLike,
    b2: npt.ArrayLike | None,
    activation: str,
    reduction: str = "sum",
    /,
) -> tuple[_Float, _Array, _Array | None, _Array, _Array | None]: ...
def mlp_step(
    value: npt.ArrayLike, grad: npt.ArrayLike, lr: float, /, out: _Array | None = None
) -> _Array: ...
def mlp_train_step(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    w1: npt.ArrayLike,
    b1: npt.ArrayLike | None,
    w2: npt.ArrayLike,
    b2: npt.ArrayLike | None,
    activation: str,
    reduction: str,
    lr: float,
    /,
) -> tuple[_Float, _Array, _Array | None, _Array, _Array | None]: ...
def mlp_fit(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    w1: _Array,
    b1: _Array | None,
    w2: _Array,
    b2: _Array | None,
    /,
    *,
    activation: str,
    steps: int,
    lr: float,
    reduction: str = "sum",
    batch_size: int | None = None,
    callback: Callable[[int, float], object] | None = None,
    callback_every: int | None = None,
) -> _Array: ...
def _as_array(obj: object, name: str, /) -> _Array: ...
def _as_float_arrays(args: list[tuple[Any, str]], /) -> list[_Array]: ...

class FitStopped(BaseException):
    """A fit that stopped before its last step, with its state (see ``mlp_fit``)."""

    reason: str
    """``"non-finite"``, ``"interrupted"`` or ``"callback"``."""
    steps_done: int
    history: _Array
    params: dict[str, _Array]
    loss: float | None
    lr: float
    cause: BaseException | None

@final
class TwoLayer:
    """A two-layer net's native state: its shape, activation and kept workspace."""

    def __new__(
        cls, input_dim: int, hidden_dim: int, output_dim: int, activation: str, bias: bool, /
    ) -> TwoLayer: ...
    @staticmethod
    def of_parameters(
        w1: npt.ArrayLike,
        b1: npt.ArrayLike | None,
        w2: npt.ArrayLike,
        b2: npt.ArrayLike | None,
        activation: str,
        /,
    ) -> TwoLayer: ...
    @property
    def input_dim(self) -> int: ...
    @property
    def hidden_dim(self) -> int: ...
    @property
    def output_dim(self) -> int: ...
    @property
    def activation(self) -> str: ...
    @property
    def bias(self) -> bool: ...
    def forward(
        self,
        x: npt.ArrayLike,
        w1: npt.ArrayLike,
        b1: npt.ArrayLike | None,
        w2: npt.ArrayLike,
        b2: npt.ArrayLike | None,
        /,
    ) -> _Array: ...
    def loss(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        w1: npt.ArrayLike,
        b1: npt.ArrayLike | None,
        w2: npt.ArrayLike,
        b2: npt.ArrayLike | None,
        reduction: str = "sum",
        /,
    ) -> _Float: ...
    def gradients(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        w1: npt.ArrayLike,
        b1: npt.ArrayLike | None,
        w2: npt.ArrayLike,
        b2: npt.ArrayLike | None,
        reduction: str = "sum",
        /,
    ) -> tuple[_Float, _Array, _Array | None, _Array, _Array | None]: ...
    def train_step(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        w1: npt.ArrayLike,
        b1: npt.ArrayLike | None,
        w2: npt.ArrayLike,
        b2: npt.ArrayLike | None,
        reduction: str,
        lr: float,
        /,
    ) -> tuple[_Float, _Array, _Array | None, _Array, _Array | None]: ...
    def fit(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        w1: _Array,
        b1: _Array | None,
        w2: _Array,
        b2: _Array | None,
        /,
        *,
        steps: int,
        lr: float,
        reduction: str = "sum",
        batch_size: int | None = None,
        callback: Callable[[int, float], object] | None = None,
        callback_every: int | None = None,
    ) -> _Array: ...

def set_num_threads(n: int, /) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...
def _load_openblas(path: str, /) -> str: ...
def _use_openblas(enabled: bool, /) -> None: ...
def _legacy_shuffle(bit_generator: np.random.BitGenerator, x: npt.NDArray[np.intp], /) -> None:
    """Shuffles ``x`` in place as ``RandomState(bit_generator).shuffle(x)`` does."""

_Csr: TypeAlias = tuple[_Array, _Array, _Array, int]

@final
class Network:
    """An N-layer network of scikit-learn's MLP: shapes, workspace, optimizer state."""

    def __new__(
        cls,
        layer_sizes: list[int],
        hidden_activation: str,
        out_activation: str,
        loss: str,
        dtype: str,
    ) -> Network: ...
    @property
    def layer_sizes(self) -> list[int]: ...
    @property
    def dtype(self) -> str: ...
    @property
    def hidden_activation(self) -> str: ...
    @property
    def out_activation(self) -> str: ...
    @property
    def loss(self) -> str: ...
    @property
    def learning_rate(self) -> float: ...
    @learning_rate.setter
    def learning_rate(self, value: float) -> None: ...
    def forward(
        self, X: _Array | _Csr, coefs: list[_Array], intercepts: list[_Array]
    ) -> _Array: ...
    def loss_gradient(
        self,
        X: _Array | _Csr,
        y: _Array,
        sample_weight: _Array | None,
        coefs: list[_Array],
        intercepts: list[_Array],
        alpha: float,
        coef_grads: list[_Array],
        intercept_grads: list[_Array],
    ) -> float: ...
    def set_sgd(self, learning_rate: float, momentum: float, nesterov: bool) -> None: ...
    def set_adam(
        self, learning_rate_init: float, beta_1: float, beta_2: float, epsilon: float
    ) -> None: ...
    def epoch(
        self,
        X: _Array | _Csr,
        y: _Array,
        sample_weight: _Array | None,
        coefs: list[_Array],
        intercepts: list[_Array],
        order: _Array,
        batch_size: int,
        alpha: float,
    ) -> float: ...
    def optimizer_state(self) -> dict[str, Any] | None: ...
    def set_optimizer_state(self, state: dict[str, Any] | None) -> None: ...
    def __getnewargs__(self) -> tuple[list[int], str, str, str, str]: ...
    def __getstate__(self) -> dict[str, Any] | None: ...
    def __setstate__(self, state: dict[str, Any] | None) -> None: ...
