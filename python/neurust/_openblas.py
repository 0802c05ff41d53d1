"""Finds the OpenBLAS of the scipy-openblas64 package and hands it to the kernels.

Large matrix products run on OpenBLAS when it loads and on faer otherwise;
``NEURUST_GEMM=faer`` keeps faer for every product. ``build_info()["gemm"]``
says which is in use.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurust import _core

_SUFFIXES = (".so", ".dylib", ".dll")


def _library_path() -> Path | None:
    # Importing scipy_openblas64 loads the library, and OpenBLAS sizes a
    # thread pool from this variable when it loads. neurust calls it on one
    # thread per panel and never needs that pool.
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        import scipy_openblas64
    except ImportError:
        return None
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved
    lib_dir = Path(scipy_openblas64.get_lib_dir())
    candidates = sorted(
        path
        for path in lib_dir.glob("*scipy_openblas64*")
        if path.suffix in _SUFFIXES or ".so." in path.name
    )
    return candidates[0] if candidates else None


def load() -> str | None:
    """Loads OpenBLAS unless ``NEURUST_GEMM=faer``; returns its name, or None."""
    if os.environ.get("NEURUST_GEMM", "").strip().lower() == "faer":
        return None
    path = _library_path()
    if path is None:
        return None
    try:
        return _core._load_openblas(str(path))
    except OSError:
        return None
