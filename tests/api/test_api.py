"""The public API: what ``import neurust as nr`` offers and what it says about itself."""

from __future__ import annotations

import numpy as np
import pytest

import neurust as nr

PUBLIC_FUNCTIONS = [
    "weighted_sum",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "heaviside",
    "step",
    "linear",
    "available_backends",
    "get_backend",
    "set_num_threads",
    "get_num_threads",
    "build_info",
]


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_is_exported_and_documented(name: str) -> None:
    assert name in nr.__all__
    function = getattr(nr, name)
    assert callable(function)
    assert function.__doc__ and len(function.__doc__.strip()) > 20


def test_version_is_the_one_build_info_reports() -> None:
    assert isinstance(nr.__version__, str)
    assert nr.build_info()["version"] == nr.__version__


@pytest.mark.parametrize("key", ["version", "profile", "num_threads", "simd", "gemm"])
def test_build_info_has_key(key: str) -> None:
    assert key in nr.build_info()


def test_get_num_threads_is_a_positive_integer() -> None:
    assert isinstance(nr.get_num_threads(), int)
    assert nr.get_num_threads() >= 1


def test_kernels_keep_float32_as_float32() -> None:
    x = np.ones(3, np.float32)
    assert nr.relu(x).dtype == np.float32
    assert nr.weighted_sum(x, x).dtype == np.float32
    assert nr.linear(x, np.ones((3, 2), np.float32)).dtype == np.float32


def test_heaviside_is_the_perceptrons_threshold() -> None:
    x = np.array([-0.5, 0.0, -0.0, 0.5, np.nan])
    np.testing.assert_array_equal(nr.heaviside(x), [0.0, 0.0, 0.0, 1.0, np.nan])
    np.testing.assert_array_equal(nr.heaviside(x[:4]), np.heaviside(x[:4], 0.0))


def test_step_is_a_deprecated_alias_of_heaviside() -> None:
    x = np.array([-1.0, 2.0], dtype=np.float32)
    out = np.empty_like(x)
    with pytest.warns(DeprecationWarning, match=r"neurust\.step is deprecated.*neurust\.heaviside"):
        result = nr.step(x, out=out)
    assert result is out
    np.testing.assert_array_equal(result, nr.heaviside(x))


def test_step_warns_at_the_callers_line() -> None:
    with pytest.warns(DeprecationWarning) as caught:
        nr.step([1.0])
    assert caught[0].filename == __file__
