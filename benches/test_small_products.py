"""Benchmarks of the small products that the register-blocked kernels take, per instruction set.

The kernels used depend on the level in use (``nr.build_info()["simd_level"]``), which
``NEURUST_SIMD`` narrows. Run the suite once per level to compare them, for example on a
CPU with AVX-512::

    NEURUST_SIMD=avx2 OPENBLAS_CORETYPE=Haswell python -m pytest benches/test_small_products.py
    python -m pytest benches/test_small_products.py

Each benchmark records the level and the small-product kernels in ``extra_info``. The
shapes are the layers of the small nets in the comparison (64×16·16×32 and its
backward products), a square 64³ product, and narrow outputs whose columns are not a
whole number of vector registers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import neurust as nr

SHAPES = ["64x16x32", "16x64x32", "64x32x1", "64x64x64", "128x32x8", "128x32x40", "6x5x129"]


@pytest.fixture(autouse=True)
def record_the_level(benchmark: Any) -> Iterator[None]:
    """Every benchmark here names the instruction set and kernels it ran on."""
    info = nr.build_info()
    benchmark.extra_info.update(
        simd_level=info["simd_level"],
        simd_forced=info["simd_forced"],
        small_gemm=info["small_gemm"],
    )
    yield


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("size", SHAPES)
def test_small_product(
    bench: Callable[..., None], backend: nr.Backend, size: str, dtype: str
) -> None:
    bench(backend, "linear", size, dtype)
