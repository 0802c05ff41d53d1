"""TwoLayerNet's file format: the configuration as JSON beside the parameters in one ``.npz``.

The file holds a ``config`` entry (a JSON object whose ``format`` is
:data:`FORMAT`) and one array per parameter, under the names
``TwoLayerNet.parameters`` uses. Loading never unpickles anything, and checks
each array's stored shape and dtype (its header) against the configuration
before reading its data, so a file that is not a saved net fails at once,
with memory in proportion to the file, whatever its configuration claims.
:func:`write` never compresses, and :func:`read` refuses compressed or
encrypted entries and entries whose sizes disagree, before inflating
anything: no entry can expand beyond the bytes the file holds.

Saving is atomic (:mod:`neurust._atomic`): a failed, interrupted or
concurrent save leaves either the previous file or one whole new one.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from neurust import _atomic

FORMAT = "neurust.TwoLayerNet/1"
"""Written into every saved net; a file without it is not one of ours."""

CONSTRUCTOR_KEYS = (
    "input_dim",
    "hidden_dim",
    "output_dim",
    "activation",
    "bias",
    "dtype",
    "init",
)
"""The constructor arguments a saved net records (the seed is not needed: weights are saved)."""

_CONFIG_BYTES = 1 << 16
"""The largest config entry read; a real one is about 200 bytes."""

Expected = Callable[[Mapping[str, Any]], tuple[Mapping[str, tuple[int, ...]], np.dtype]]
"""Given a saved config, the parameter shapes and dtype it implies (TypeError or ValueError
when the config is not one the constructor accepts)."""


class NotASavedNetError(ValueError):
    """The file is not a TwoLayerNet that :func:`write` saved; the message says what is wrong."""


def write(
    path: str | os.PathLike[str], config: Mapping[str, Any], params: Mapping[str, Any]
) -> None:
    """Write ``config`` (the constructor arguments, as JSON) and ``params`` to ``path``.

    A name without ``.npz`` gets it, as numpy does. The file is replaced
    atomically: on any failure the previous file is left as it was. An open
    binary file is written as it is (its owner decides what a failure leaves).
    """
    document = {"format": FORMAT, **{key: config[key] for key in CONSTRUCTOR_KEYS}}
    arrays: dict[str, Any] = {"config": np.array(json.dumps(document)), **params}
    if hasattr(path, "write"):
        np.savez(path, **arrays)
        return
    target = Path(os.fspath(path))
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    with _atomic.replacing(target) as file:
        np.savez(file, **arrays)


def resolve(path: str | os.PathLike[str] | IO[bytes]) -> Path | IO[bytes]:
    """The file :func:`write` wrote for ``path``: numpy adds ``.npz`` when the name lacks it.

    The name as given is used when only it exists (a saved net renamed). An
    open binary file is read as it is, as numpy reads one.
    """
    if hasattr(path, "read"):
        if isinstance(path, io.TextIOBase):
            raise TypeError(
                "path is a file opened in text mode; open a saved net in binary mode ('rb')"
            )
        return path  # type: ignore[return-value]
    given = Path(os.fspath(path))
    if given.suffix == ".npz":
        return given
    suffixed = given.with_name(given.name + ".npz")
    return given if given.exists() and not suffixed.exists() else suffixed


def _header(member: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, Fortran order and dtype an ``.npy`` entry declares, read from its header only."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    raise ValueError(f"unsupported .npy version {version}")


def _entry(archive: zipfile.ZipFile, name: str) -> tuple[zipfile.ZipInfo, tuple, np.dtype]:
    """An entry's zip record, declared shape and dtype; its data must be exactly that size."""
    info = archive.getinfo(f"{name}.npy")
    with archive.open(info) as member:
        shape, _, dtype = _header(member)
        header_bytes = member.tell()
    if dtype.hasobject:
        raise ValueError(f"its {name!r} entry holds Python objects")
    data_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if info.file_size != header_bytes + data_bytes:
        raise ValueError(
            f"its {name!r} entry declares shape {shape} of {dtype} "
            f"({data_bytes} bytes) but holds {info.file_size - header_bytes} bytes"
        )
    return info, shape, dtype


def _check_stored(archive: zipfile.ZipFile) -> None:
    """Refuse any entry that could expand beyond the bytes it occupies, before reading one.

    :func:`write` stores entries uncompressed; a compressed entry (deflate,
    bzip2, lzma) could inflate a kilobyte into gigabytes, and an entry whose
    declared size differs from its stored size is not one numpy wrote.
    """
    for info in archive.infolist():
        if info.flag_bits & 0x1:
            raise ValueError(f"its {info.filename!r} entry is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(
                f"its {info.filename!r} entry is compressed (method {info.compress_type}); "
                "saved nets are stored uncompressed"
            )
        if info.compress_size != info.file_size:
            raise ValueError(
                f"its {info.filename!r} entry declares {info.file_size} bytes but stores "
                f"{info.compress_size}"
            )


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _config(archive: zipfile.ZipFile) -> dict[str, Any]:
    names = {info.filename for info in archive.infolist()}
    if "config.npy" not in names:
        raise ValueError("it has no 'config' entry")
    info, shape, dtype = _entry(archive, "config")
    if shape != () or dtype.kind != "U" or info.file_size > _CONFIG_BYTES:
        raise ValueError("its 'config' entry is not a short JSON text")
    try:
        document = json.loads(str(_read(archive, info)))
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise ValueError(f"its config is not valid JSON ({reason})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"its config does not say format {FORMAT!r}")
    missing = [key for key in CONSTRUCTOR_KEYS if key not in document]
    if missing:
        raise ValueError(f"its config lacks {', '.join(map(repr, missing))}")
    return document


def _parameters(
    archive: zipfile.ZipFile, shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype
) -> dict[str, np.ndarray]:
    stored = {info.filename.removesuffix(".npy") for info in archive.infolist()} - {"config"}
    missing, unknown = sorted(set(shapes) - stored), sorted(stored - set(shapes))
    if missing or unknown:
        raise ValueError(
            f"its config needs the arrays {sorted(shapes)}; missing {missing}, unexpected {unknown}"
        )
    entries = {}
    for name, shape in shapes.items():  # every header before any data
        info, stored_shape, stored_dtype = _entry(archive, name)
        if stored_shape != shape or stored_dtype.newbyteorder("=") != dtype:
            raise ValueError(
                f"its {name!r} entry is {stored_shape} of {stored_dtype}, but its config "
                f"needs {shape} of {dtype.name}"
            )
        entries[name] = info
    return {name: _read(archive, info) for name, info in entries.items()}


def _kind(file: Path | IO[bytes]) -> str | None:
    """What the file is when it cannot be an ``.npz`` (a zip archive), else None."""
    if isinstance(file, Path):
        with file.open("rb") as opened:
            start = opened.read(6)
    else:
        position = file.tell()
        start = file.read(6)
        file.seek(position)
        if not isinstance(start, bytes):
            raise TypeError("path is a file opened in text mode; open a saved net in binary mode")
    if not start:
        return "the file is empty"
    if start == b"\x93NUMPY":
        return "it holds a single array (.npy), not a saved net (.npz)"
    if not start.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "it is not an .npz (zip) file"
    return None


def read(
    path: str | os.PathLike[str] | IO[bytes], expected: Expected
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The configuration and parameters :func:`write` stored in ``path``.

    ``expected`` turns the configuration into the parameter shapes and dtype
    it implies; the arrays are checked against those before they are read.

    Raises
    ------
    FileNotFoundError
        If neither ``path`` nor ``path`` with ``.npz`` added exists.
    NotASavedNetError
        (a ValueError) If the file is not a saved TwoLayerNet; the message
        says what is wrong.
    """
    file = resolve(path)

    def not_ours(reason: str) -> NotASavedNetError:
        name = str(file) if isinstance(file, Path) else getattr(file, "name", "the file")
        return NotASavedNetError(f"{name!r} is not a saved TwoLayerNet: {reason}")

    reason = _kind(file)  # OSError (missing, a folder, unreadable) passes through
    if reason is not None:
        raise not_ours(reason)
    try:
        with zipfile.ZipFile(file) as archive:
            _check_stored(archive)
            config = _config(archive)
            try:
                shapes, dtype = expected(config)
            except (TypeError, ValueError) as error:
                raise ValueError(f"its config is not one a TwoLayerNet accepts: {error}") from None
            params = _parameters(archive, shapes, dtype)
    except NotASavedNetError:
        raise
    except (
        ValueError, EOFError, KeyError, NotImplementedError, zlib.error,
        zipfile.BadZipFile, zipfile.LargeZipFile,
    ) as error:  # fmt: skip
        raise not_ours(str(error)) from None
    return config, params
