"""``load`` takes memory in proportion to the file, whatever the file claims.

``save`` never compresses, so ``load`` refuses compressed entries (a 1 kB
bzip2 entry can inflate to hundreds of MiB) and entries whose stored and
declared sizes differ, before inflating any of them.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import neurust as nr
from neurust import _persistence

INPUTS, HIDDEN = 2048, 1024  # a 16 MiB w1 (float64)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def craft(path: Path, compression: int) -> Path:
    """A file whose config is consistent with its arrays (zeros), stored with ``compression``."""
    config = {
        "format": _persistence.FORMAT, "input_dim": INPUTS, "hidden_dim": HIDDEN,
        "output_dim": 1, "activation": "relu", "bias": False, "dtype": "float64",
        "init": "normal",
    }  # fmt: skip
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("config.npy", npy_bytes(np.array(json.dumps(config))))
        archive.writestr("w1.npy", npy_bytes(np.zeros((INPUTS, HIDDEN))))
        archive.writestr("w2.npy", npy_bytes(np.zeros((HIDDEN, 1))))
    return path


COMPRESSIONS = {
    "deflate": zipfile.ZIP_DEFLATED,
    "bzip2": zipfile.ZIP_BZIP2,
    "lzma": zipfile.ZIP_LZMA,
}


@pytest.mark.parametrize("method", list(COMPRESSIONS))
def test_a_compressed_file_is_refused_before_anything_is_inflated(
    tmp_path: Path, method: str
) -> None:
    path = craft(tmp_path / f"{method}.npz", COMPRESSIONS[method])
    size = path.stat().st_size
    assert size < 100_000  # 16 MiB of zeros, compressed
    tracemalloc.start()
    try:
        with pytest.raises(_persistence.NotASavedNetError, match="is compressed"):
            nr.TwoLayerNet.load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"load took {peak} bytes for a {size}-byte file"


def test_the_same_arrays_stored_uncompressed_load(tmp_path: Path) -> None:
    net = nr.TwoLayerNet.load(craft(tmp_path / "stored.npz", zipfile.ZIP_STORED))
    assert net.input_dim == INPUTS and not net.parameters()["w1"].any()


def with_declared_size(path: Path, member: str, size: int) -> Path:
    """``path`` with the central directory's uncompressed size of ``member`` set to ``size``."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, size)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("factor", [2, 1000])
def test_an_entry_whose_declared_size_differs_from_its_stored_size_is_refused(
    tmp_path: Path, factor: int
) -> None:
    path = tmp_path / "net.npz"
    nr.TwoLayerNet(30, 20, 1, seed=0).save(path)
    stored = zipfile.ZipFile(path).getinfo("w1.npy").file_size
    with_declared_size(path, "w1.npy", stored * factor)
    with pytest.raises(_persistence.NotASavedNetError, match=r"declares .* bytes but stores"):
        nr.TwoLayerNet.load(path)


def test_a_text_mode_file_is_a_type_error_naming_binary_mode(tmp_path: Path) -> None:
    path = tmp_path / "net.npz"
    nr.TwoLayerNet(3, 4, 1).save(path)
    with open(path) as text, pytest.raises(TypeError, match=r"text mode.*binary mode"):
        nr.TwoLayerNet.load(text)  # type: ignore[arg-type]
