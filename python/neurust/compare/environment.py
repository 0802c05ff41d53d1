"""The machine and the software a comparison ran on, recorded with every report."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

import neurust
from neurust.compare.threads import available_cores

_SIMD_FLAGS = (
    "sse2",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512dq",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "asimd",
    "sve",
    "sve2",
)


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def available_memory() -> int | None:
    """Bytes of memory available to new allocations now (Linux's MemAvailable); None if unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def machine_info() -> dict[str, Any]:
    """Describe the machine: CPU model, cores, SIMD features, memory, GPUs.

    Returns
    -------
    dict
        ``cpu_model``, ``logical_cores``, ``usable_cores`` (this process's
        affinity), ``simd`` (the vector extensions the CPU reports),
        ``memory_gib``, ``platform`` and ``gpus`` (CUDA devices torch sees,
        when torch is imported).
    """
    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    model = cpu.get("model name") or platform.processor() or platform.machine()
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / (1 << 20), 1)
    gpus: list[str] = []
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():
                gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": available_cores(),
        "simd": [flag for flag in _SIMD_FLAGS if flag in flags],
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "gpus": gpus,
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _threadpools() -> list[dict[str, Any]]:
    """The BLAS and OpenMP libraries loaded in this process, through threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        config: Any = None
        with contextlib.suppress(Exception):
            config = np.show_config(mode="dicts")
        blas = ((config or {}).get("Build Dependencies") or {}).get("blas") or {}
        return [{"user_api": "blas", **blas}] if blas else []
    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer")
    libraries = []
    for library in threadpool_info():
        entry = {key: library.get(key) for key in keys}
        entry["num_threads"] = library.get("num_threads")
        path = library.get("filepath") or ""
        entry["file"] = os.path.basename(path)
        # numpy's wheels keep their BLAS in numpy.libs (numpy/.dylibs on
        # macOS); neurust's own OpenBLAS is another BLAS entry.
        entry["numpy"] = "numpy" in path
        libraries.append(entry)
    return libraries


def software_info() -> dict[str, Any]:
    """Describe the software: Python, numpy and its BLAS, torch, jax, neurust's build.

    Returns
    -------
    dict
        Versions (None for what is not installed), ``threadpools`` (the BLAS
        and OpenMP libraries loaded, with their thread counts; numpy's BLAS is
        the ``"blas"`` entry whose ``numpy`` is true) and ``neurust``
        (its version and :func:`neurust.build_info`: build profile, SIMD
        kernels, GEMM).
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "threadpools": _threadpools(),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "threadpoolctl": _version("threadpoolctl"),
        "rich": _version("rich"),
        "matplotlib": _version("matplotlib"),
        "neurust": {"version": neurust.__version__, **neurust.build_info()},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_cuda"] = torch.version.cuda
        with contextlib.suppress(Exception):
            info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return info


def summary_line(machine: dict[str, Any], software: dict[str, Any]) -> str:
    """One line for a table's or plot's header: CPU, cores, GPUs, SIMD, numpy's BLAS, neurust."""
    build = software["neurust"]
    blases = [lib for lib in software["threadpools"] if lib.get("user_api") == "blas"]
    blas = next((lib for lib in blases if lib.get("numpy")), blases[0] if blases else None)
    blas_text = f" ({blas.get('internal_api')} {blas.get('version')})" if blas else ""
    gpu = f", {', '.join(machine['gpus'])}" if machine["gpus"] else ", no GPU"
    parts = [
        f"{machine['cpu_model']}, {machine['usable_cores']} cores{gpu}",
        f"SIMD {' '.join(machine['simd']) or 'unknown'}",
        f"numpy {software['numpy']}{blas_text}",
        f"neurust {build.get('version')} {build.get('profile')} ({build.get('gemm', '?')})",
        _level_text(build),
    ]
    return " · ".join(parts)


def _level_text(build: dict[str, Any]) -> str:
    """The instruction set neurust's kernels ran at, and whether NEURUST_SIMD forced it."""
    level = build.get("simd_level", "?")
    if build.get("simd_forced"):
        return f"neurust kernels at {level}, forced by NEURUST_SIMD (CPU: {build.get('simd_cpu')})"
    return f"neurust kernels at {level}"
