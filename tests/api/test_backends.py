"""The backend registry: which backends run here, how to get one, and why one cannot run."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import neurust as nr
from neurust.backends import KNOWN_BACKENDS
from support.children import run_python


def test_known_backends_are_the_six_of_the_design() -> None:
    assert KNOWN_BACKENDS == ("python", "numpy", "torch", "torch-cuda", "jax", "rust")


def test_python_numpy_and_rust_backends_are_always_available() -> None:
    assert {"python", "numpy", "rust"} <= set(nr.available_backends())


def test_available_backends_keep_the_registry_order() -> None:
    available = nr.available_backends()
    assert available == [name for name in KNOWN_BACKENDS if name in available]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_backend_is_available_when_torch_is_installed() -> None:
    assert "torch" in nr.available_backends()


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_backend_is_available_when_jax_is_installed() -> None:
    assert "jax" in nr.available_backends()


def test_get_backend_returns_the_backend_of_that_name(backend: nr.Backend) -> None:
    assert nr.get_backend(backend.name).name == backend.name


def test_every_backend_implements_the_protocol(backend: nr.Backend) -> None:
    assert isinstance(backend, nr.Backend)


# Where each backend computes; jax runs where JAX puts a new array by default.
DEVICES = {
    "python": "cpu",
    "numpy": "cpu",
    "torch": "cpu",
    "torch-cuda": "cuda",
    "rust": "cpu",
}


def expected_device(name: str) -> str:
    if name == "jax":
        import jax.numpy as jnp

        (device,) = jnp.zeros(1).devices()
        return device.platform
    return DEVICES[name]


def test_every_backend_names_its_device(backend: nr.Backend) -> None:
    assert backend.device == expected_device(backend.name)


def test_from_numpy_then_to_numpy_gives_back_the_values(
    backend: nr.Backend, dtype: np.dtype
) -> None:
    a = np.arange(12, dtype=dtype).reshape(3, 4) / 7
    round_trip = backend.to_numpy(backend.from_numpy(a))
    np.testing.assert_array_equal(round_trip, a)
    if dtype.name in backend.dtypes:
        assert round_trip.dtype == dtype


def test_synchronize_accepts_results_and_returns_nothing(backend: nr.Backend) -> None:
    result = backend.relu(backend.from_numpy(np.array([-1.0, 2.0])))
    assert backend.synchronize(result) is None
    assert backend.synchronize() is None


def test_unknown_backend_is_a_plain_value_error() -> None:
    with pytest.raises(ValueError) as info:
        nr.get_backend("no-such")
    assert not isinstance(info.value, nr.BackendUnavailableError)


def test_backend_unavailable_error_is_a_value_error() -> None:
    assert issubclass(nr.BackendUnavailableError, ValueError)


@pytest.mark.parametrize(
    "name", [name for name in KNOWN_BACKENDS if name not in nr.available_backends()]
)
def test_unavailable_backend_raises_an_error_saying_why(name: str) -> None:
    with pytest.raises(nr.BackendUnavailableError, match=rf"{name}.*not available: \S"):
        nr.get_backend(name)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_cuda_without_a_gpu_says_cuda_is_missing() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(nr.BackendUnavailableError, match="CUDA"):
        nr.get_backend("torch-cuda")


@pytest.mark.parametrize(("name", "library"), [("jax", "jax"), ("torch", "torch")])
def test_backend_of_a_missing_library_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, name: str, library: str
) -> None:
    monkeypatch.setitem(sys.modules, library, None)  # makes `import <library>` fail
    monkeypatch.delitem(sys.modules, f"neurust.backends.{library}", raising=False)
    with pytest.raises(nr.BackendUnavailableError, match=rf"pip install 'neurust\[{library}\]'"):
        nr.get_backend(name)


def test_importing_neurust_imports_neither_torch_nor_jax() -> None:
    code = "import sys, neurust; print(sorted({'torch', 'jax'} & set(sys.modules)))"
    result = run_python(code, check=True)
    assert result.stdout.strip() == "[]"
