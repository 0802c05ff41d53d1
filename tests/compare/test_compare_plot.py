"""The comparison plot's header: wrapped to the figure's width, never cut off at its edges."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from neurust.compare import plot

pytest.importorskip("matplotlib")

# An AVX-512 machine's flag list and a long neurust build line: the header that was cut off.
_SIMD = (
    "sse2 sse4_2 avx avx2 fma f16c avx512f avx512dq avx512bw avx512vl avx512_vnni "
    "avx512_bf16 avx512_fp16 amx_tile"
).split()
_GEMM = (
    "OpenBLAS 0.3.34.481.3 (SkylakeX); faer 0.24 (avx512) for other strides and float64 "
    "products of at most 256 columns"
)


def _report(cpu: str = "Intel(R) Xeon(R) Processor") -> Any:
    """What ``plot`` reads of a report: nothing timed gives one panel, the narrowest figure."""
    return SimpleNamespace(
        measurements=[],
        colors={},
        machine={"cpu_model": cpu, "usable_cores": 2, "gpus": [], "simd": _SIMD},
        software={
            "numpy": "2.4.6",
            "threadpools": [
                {"user_api": "blas", "internal_api": "openblas", "version": "0.3.31", "numpy": 1}
            ],
            "neurust": {"version": "0.1.0", "profile": "release", "gemm": _GEMM},
        },
    )


def _extents(figure: Any) -> tuple[Any, Any]:
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    return figure._suptitle.get_window_extent(renderer), figure.bbox


@pytest.mark.parametrize("cpu", ["Intel(R) Xeon(R) Processor", "AMD EPYC 9R45 96-Core Processor"])
def test_plot_header_fits_inside_the_figure(cpu: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = plot._figure(_report(cpu))
    FigureCanvasAgg(figure)
    title, page = _extents(figure)
    assert title.x0 >= page.x0 and title.x1 <= page.x1, (title, page)
    assert title.y1 <= page.y1


def test_the_unwrapped_header_would_not_fit() -> None:
    """The case above is a real one: on one line the same header overflows the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = plot._figure(_report())
    FigureCanvasAgg(figure)
    artist = figure._suptitle
    artist.set_text(artist.get_text().replace("\n", " "))
    title, page = _extents(figure)
    assert title.width > page.width


def test_wrap_header_breaks_at_separators_and_keeps_every_word() -> None:
    header = "neurust compare: " + " · ".join(["CPU, 2 cores", "SIMD " + " ".join(_SIMD), _GEMM])
    wrapped = plot.wrap_header(header, 60)
    lines = wrapped.split("\n")
    assert all(len(line) <= 60 for line in lines)
    assert " ".join(lines).split() == header.split()
    assert lines[0] == "neurust compare: CPU, 2 cores ·"


def test_wrap_header_leaves_a_short_header_on_one_line() -> None:
    assert plot.wrap_header("neurust compare: CPU · numpy 2", 80) == (
        "neurust compare: CPU · numpy 2"
    )
