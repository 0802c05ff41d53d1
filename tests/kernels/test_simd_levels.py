"""The kernels at every instruction-set level the CPU has, each forced with NEURUST_SIMD.

The level is read once per process, so each level runs in a child interpreter. A child
computes small products (the register-blocked range, in every layout a network's step
uses), a network's gradients, a training run and the sigmoid, at one and at two
threads, and prints each result's bytes as a digest and its largest error against
numpy. The parent then states the rules: every level matches numpy; no level's bits
change with the thread count; AVX2 and AVX-512 give the same bits (their tiles sum
each element in the same order); the sigmoid gives the same bits everywhere.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from typing import Any

import pytest

import neurust as nr
from support.children import python_argv, run

LEVELS = ("scalar", "avx", "avx2", "avx512")
CPU_LEVEL = nr.build_info()["simd_cpu"]
CPU_LEVELS = LEVELS[: LEVELS.index(CPU_LEVEL) + 1]

# float64 products differ from numpy's only by rounding: k * eps-scale terms.
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}

_CHILD = """
import hashlib, json
import numpy as np
import neurust as nr

results = {}

def record(name, got, want):
    got = np.ascontiguousarray(got)
    want = np.asarray(want, dtype=np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    error = float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale
    digest = hashlib.sha256(got.tobytes()).hexdigest()
    results.setdefault(name, []).append({"digest": digest, "error": error})

# (m, k, n): the tiles' range and its edges: single columns, tails shorter than a
# register, dot products with and without a whole block of 16 lanes.
SHAPES = [(64, 16, 32), (64, 64, 64), (17, 33, 35), (5, 40, 13), (9, 70, 65), (3, 17, 1),
          (1, 64, 32), (128, 32, 8), (6, 5, 129)]
for threads in (1, 2):
    nr.set_num_threads(threads)
    for dtype in ("float64", "float32"):
        for m, k, n in SHAPES:
            rng = np.random.default_rng((m, k, n))  # the same inputs at both thread counts
            x = rng.standard_normal((m, k)).astype(dtype)
            w = rng.standard_normal((k, n)).astype(dtype)
            want = x.astype(np.float64) @ w.astype(np.float64)
            record(f"linear {dtype} {m}x{k}x{n}", nr.linear(x, w), want)
            # Transposed storage of the weights: the dot form.
            record(f"linear {dtype} {m}x{k}x{n} w.T", nr.linear(x, np.asfortranarray(w)), want)
        for hidden in (16, 100):
            net = nr.TwoLayerNet(32, hidden, 1, dtype=dtype, seed=3)
            x = np.random.default_rng(1).standard_normal((64, 32)).astype(dtype)
            y = np.random.default_rng(2).standard_normal((64, 1)).astype(dtype)
            reference = nr.TwoLayerNet(32, hidden, 1, dtype="float64", seed=3, backend="numpy")
            reference.load_parameters({key: value.astype(np.float64)
                                       for key, value in net.parameters().items()})
            grads = net.gradients(x, y)
            want = reference.gradients(x.astype(np.float64), y.astype(np.float64))
            for key in grads:
                record(f"gradients {dtype} {hidden} {key}", grads[key], want[key])
            history = np.asarray(net.fit(x, y, steps=20, lr=1e-6), dtype=np.float64)
            record(f"fit {dtype} {hidden}", history, history)
        # Dot products: short rows, rows long enough for the 512-bit lanes, one vector
        # cut into pieces.
        rng = np.random.default_rng(4)
        for rows, cols in ((9, 3), (37, 1000), (1, 100_003)):
            matrix = rng.standard_normal((rows, cols)).astype(dtype)
            weights = rng.standard_normal(cols).astype(dtype)
            want = matrix.astype(np.float64) @ weights.astype(np.float64)
            record(f"weighted_sum {dtype} {rows}x{cols}", nr.weighted_sum(matrix, weights), want)
            record(f"weighted_sum {dtype} {cols}", nr.weighted_sum(matrix[0], weights), want[0])
        values = np.linspace(-120, 120, 20001).astype(dtype)
        exact = 1.0 / (1.0 + np.exp(-values.astype(np.float64)))
        record(f"sigmoid {dtype}", nr.sigmoid(values), exact)

print(json.dumps({"info": nr.build_info(), "results": results}))
"""


@cache
def _run_at(level: str | None) -> dict[str, Any]:
    """The child's report at ``level`` (None: NEURUST_SIMD unset); once per level."""
    env = {"NEURUST_SIMD": level or "", "NEURUST_NUM_THREADS": "2"}
    done = run(python_argv(_CHILD), env=env, check=True, timeout=300)
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _digests(report: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, str]:
    """Each result's digest at one thread, for the names starting with ``prefixes``."""
    return {
        name: runs[0]["digest"]
        for name, runs in report["results"].items()
        if name.startswith(prefixes)
    }


@pytest.mark.parametrize("level", CPU_LEVELS)
def test_build_info_reports_the_forced_level(level: str) -> None:
    info = _run_at(level)["info"]
    assert info["simd_level"] == level
    assert info["simd_cpu"] == CPU_LEVEL
    assert info["simd_forced"] == (level != CPU_LEVEL)
    tiles = {"avx2": "avx2+fma register tiles", "avx512": "avx512 register tiles"}
    assert info["small_gemm"] == tiles.get(level, "plain loops")


@pytest.mark.parametrize("level", CPU_LEVELS)
def test_every_level_matches_numpy(level: str) -> None:
    for name, runs in _run_at(level)["results"].items():
        dtype = "float32" if "float32" in name else "float64"
        for measured in runs:
            assert measured["error"] <= TOLERANCE[dtype], f"{level} {name}: {measured}"


@pytest.mark.parametrize("level", CPU_LEVELS)
def test_no_level_changes_its_bits_with_the_thread_count(level: str) -> None:
    for name, runs in _run_at(level)["results"].items():
        one_thread, two_threads = runs
        assert one_thread["digest"] == two_threads["digest"], f"{level} {name}"


@pytest.mark.skipif("avx512" not in CPU_LEVELS, reason="the CPU has no AVX-512")
def test_avx2_and_avx512_tiles_give_the_same_bits() -> None:
    prefixes = ("linear", "gradients", "fit")
    avx2, avx512 = _digests(_run_at("avx2"), prefixes), _digests(_run_at("avx512"), prefixes)
    assert avx2.keys() == avx512.keys()
    differ = [name for name in avx2 if avx2[name] != avx512[name]]
    assert not differ, f"AVX2 and AVX-512 bits differ in {differ}"


@pytest.mark.parametrize("kernel", ["sigmoid", "weighted_sum"])
def test_the_sigmoid_and_the_weighted_sum_give_the_same_bits_at_every_level(
    kernel: str,
) -> None:
    reports = {level: _digests(_run_at(level), (kernel,)) for level in CPU_LEVELS}
    first = reports[CPU_LEVELS[0]]
    for level, digests in reports.items():
        assert digests == first, level


def test_unset_variable_runs_the_widest_level() -> None:
    info = _run_at(None)["info"]
    assert (info["simd_level"], info["simd_forced"]) == (CPU_LEVEL, False)


def _warning_at(value: str) -> tuple[str, str]:
    """The level in use and the warnings printed when NEURUST_SIMD is ``value``."""
    code = """
        import warnings
        warnings.simplefilter("always")
        import neurust as nr
        print(nr.build_info()["simd_level"])
    """
    done = run(python_argv(code), env={"NEURUST_SIMD": value}, check=True)
    return done.stdout.strip(), done.stderr


def test_an_unknown_level_warns_naming_the_variable_and_falls_back() -> None:
    level, stderr = _warning_at("sse9")
    assert level == CPU_LEVEL
    assert "RuntimeWarning" in stderr and "NEURUST_SIMD='sse9'" in stderr, stderr


@pytest.mark.skipif(CPU_LEVEL == "avx512", reason="no level above the CPU's to ask for")
def test_a_level_above_the_cpu_warns_and_falls_back() -> None:
    level, stderr = _warning_at("avx512")
    assert level == CPU_LEVEL
    assert "NEURUST_SIMD='avx512'" in stderr and CPU_LEVEL in stderr, stderr


def test_the_level_names_are_case_blind() -> None:
    level, stderr = _warning_at(" AVX2 " if "avx2" in CPU_LEVELS else " Scalar ")
    assert level == ("avx2" if "avx2" in CPU_LEVELS else "scalar")
    assert "NEURUST_SIMD" not in stderr


def test_build_info_names_the_level_in_this_process() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = nr.build_info()
    assert info["simd_level"] in CPU_LEVELS
