"""neurust: neural-network kernels written in Rust, behind a thin numpy API.

>>> import neurust as nr
>>> float(nr.relu(nr.weighted_sum([2, 3, 4], [1, -1, 5])))
19.0
"""

from neurust import _openblas, distributed
from neurust._core import (
    __version__,
    build_info,
    get_num_threads,
    heaviside,
    linear,
    relu,
    relu_grad,
    set_num_threads,
    sigmoid,
    sigmoid_grad,
    weighted_sum,
)
from neurust._deprecated import step
from neurust._diagram import neuron_dot
from neurust.backends import (
    Backend,
    BackendUnavailableError,
    available_backends,
    get_backend,
)
from neurust.model import TwoLayerNet
from neurust.perceptron import Perceptron

_openblas.load()

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "Perceptron",
    "TwoLayerNet",
    "__version__",
    "available_backends",
    "build_info",
    "distributed",
    "get_backend",
    "get_num_threads",
    "heaviside",
    "linear",
    "neuron_dot",
    "relu",
    "relu_grad",
    "set_num_threads",
    "sigmoid",
    "sigmoid_grad",
    "step",
    "weighted_sum",
]
