"""Large products run on OpenBLAS (scipy-openblas64) when it loads, on faer otherwise."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import neurust as nr
from neurust import _core, _openblas
from support.children import run

openblas_loaded = nr.build_info()["gemm"].startswith("OpenBLAS")


def print_in_child(code: str, env: dict[str, str]) -> str:
    """What ``code`` prints in a fresh interpreter with environment ``env``."""
    done = run([sys.executable, "-c", code], env=env, inherit_env=False, check=True, cwd=None)
    return done.stdout.strip()


def test_openblas_loads_when_installed() -> None:
    # scipy-openblas64 is a dependency, so a normal install has it.
    assert _openblas._library_path() is not None
    assert openblas_loaded, nr.build_info()["gemm"]
    rows, cols = nr.build_info()["gemm_panel_alignment"]
    assert rows >= 0 and cols >= 0


def test_faer_products_can_be_cut_into_panels() -> None:
    # Its large products on several threads are cut at these widths: a width
    # of 0 both ways would leave the second thread idle.
    rows, cols = nr.build_info()["faer_panel_alignment"]
    assert rows > 0 or cols > 0


def test_neurust_gemm_faer_keeps_faer() -> None:
    code = "import neurust as nr; print(nr.build_info()['gemm'])"
    gemm = print_in_child(code, {**os.environ, "NEURUST_GEMM": "faer"})
    assert gemm.startswith("faer 0.24")


def test_loading_does_not_change_openblas_num_threads_for_others() -> None:
    code = "import os, neurust; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    for value in (None, "3"):
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        if value is not None:
            env["OPENBLAS_NUM_THREADS"] = value
        assert print_in_child(code, env) == str(value)


def test_a_missing_library_is_an_os_error() -> None:
    if openblas_loaded:
        # Installed already: later calls report it and load nothing.
        assert _core._load_openblas("/nonexistent/lib.so").startswith("OpenBLAS")
    else:
        with pytest.raises(OSError, match="cannot load OpenBLAS"):
            _core._load_openblas("/nonexistent/lib.so")


@pytest.fixture
def faer_afterwards():
    yield
    _core._use_openblas(True)


@pytest.mark.skipif(not openblas_loaded, reason="OpenBLAS is not loaded")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape",
    [(100, 200, 300), (257, 129, 65), (1, 5000, 300), (300, 5000, 1), (64, 64, 64)],
)
def test_openblas_and_faer_agree_with_numpy(faer_afterwards, dtype, shape) -> None:
    rows, inner, cols = shape
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, inner)).astype(dtype)
    weights = rng.standard_normal((inner, cols)).astype(dtype)
    bias = rng.standard_normal(cols).astype(dtype)
    want = x.astype(np.float64) @ weights.astype(np.float64) + bias
    tolerance = {np.float32: 2e-5, np.float64: 1e-12}[dtype] * np.sqrt(inner)
    for use_openblas in (True, False):
        _core._use_openblas(use_openblas)
        got = nr.linear(x, weights, bias)
        assert got.dtype == dtype
        scale = np.abs(x).astype(np.float64) @ np.abs(weights).astype(np.float64) + abs(bias)
        assert np.all(np.abs(got - want) <= tolerance * scale), use_openblas


@pytest.mark.skipif(not openblas_loaded, reason="OpenBLAS is not loaded")
def test_gradients_through_transposed_operands_agree_on_both_libraries(faer_afterwards) -> None:
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((300, 400)), rng.standard_normal((300, 2))
    net = nr.TwoLayerNet(400, 200, 2, seed=9)
    results = []
    for use_openblas in (True, False):
        _core._use_openblas(use_openblas)
        results.append(net.gradients(x, y))
    for name in results[0]:
        np.testing.assert_allclose(results[0][name], results[1][name], rtol=1e-10, atol=1e-9)
