"""TwoLayerNet.load answers every file that is not a net it saved, at once and in little memory."""

from __future__ import annotations

import io
import json
import pickle
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import _persistence

NOT_OURS = r"is not a saved TwoLayerNet: "
CONFIG = {
    "format": _persistence.FORMAT,
    "input_dim": 3,
    "hidden_dim": 4,
    "output_dim": 1,
    "activation": "relu",
    "bias": False,
    "dtype": "float64",
    "init": "normal",
}


def npz(path: Path, config: Any = CONFIG, **arrays: Any) -> Path:
    """An .npz with ``config`` (JSON text, or a document to dump) and ``arrays``."""
    text = config if isinstance(config, str) else json.dumps(config)
    np.savez(path, config=np.array(text), **arrays)
    return path


def weights(config: dict[str, Any] = CONFIG) -> dict[str, np.ndarray]:
    return nr.TwoLayerNet(
        *(config[k] for k in ("input_dim", "hidden_dim", "output_dim"))
    ).parameters()


@pytest.fixture
def no_weights_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if load draws initial weights: it must check the file first, then use its arrays."""

    def forbidden(*args: Any) -> None:
        raise AssertionError("load drew random initial weights")

    monkeypatch.setattr(nr.TwoLayerNet, "_initial_parameters", forbidden)


def load_fails(path: Path, reason: str) -> str:
    with pytest.raises(ValueError, match=NOT_OURS + ".*" + reason) as error:
        nr.TwoLayerNet.load(path)
    message = str(error.value)
    assert "allow_pickle" not in message
    return message


def test_a_huge_config_without_arrays_fails_before_allocating(
    tmp_path: Path, no_weights_drawn: None
) -> None:
    config = {**CONFIG, "input_dim": 40_000, "hidden_dim": 40_000}
    path = npz(tmp_path / "huge.npz", config)
    assert path.stat().st_size < 2048
    tracemalloc.start()
    try:
        load_fails(path, r"its config needs the arrays \['w1', 'w2'\]; missing \['w1', 'w2'\]")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_arrays_whose_headers_claim_more_than_the_file_holds_fail_before_reading(
    tmp_path: Path, no_weights_drawn: None
) -> None:
    config = {**CONFIG, "input_dim": 40_000, "hidden_dim": 40_000}
    path = npz(tmp_path / "truncated.npz", config)
    with zipfile.ZipFile(path, "a") as archive:
        for name, shape in (("w1", (40_000, 40_000)), ("w2", (40_000, 1))):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": shape}
            )
            archive.writestr(f"{name}.npy", header.getvalue() + b"\0" * 64)
    tracemalloc.start()
    try:
        load_fails(path, r"its 'w1' entry declares shape \(40000, 40000\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


@pytest.mark.parametrize("key", [k for k in CONFIG if k != "format"])
def test_a_config_missing_a_key_names_it(tmp_path: Path, key: str) -> None:
    config = {k: v for k, v in CONFIG.items() if k != key}
    load_fails(npz(tmp_path / "net.npz", config, **weights()), f"its config lacks '{key}'")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"bias": "yes"}, "bias must be True or False"),
        ({"input_dim": 3.0}, "input_dim must be an int"),
        ({"input_dim": -3}, "input_dim must be a positive integer"),
        ({"activation": "tanh"}, "activation must be one of"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"format": "something/2"}, "its config does not say format"),
    ],
)
def test_a_config_the_constructor_refuses_is_not_a_saved_net(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    load_fails(npz(tmp_path / "net.npz", {**CONFIG, **change}, **weights()), reason)


def test_deeply_nested_json_is_not_a_saved_net(tmp_path: Path) -> None:
    nested = "[" * 5_000 + "]" * 5_000  # deeper than the JSON parser recurses
    load_fails(npz(tmp_path / "net.npz", nested), "its config is not valid JSON")


@pytest.mark.parametrize("text", ["{", "[1, 2]", '"text"', "null"])
def test_a_config_that_is_not_a_json_object_is_not_a_saved_net(tmp_path: Path, text: str) -> None:
    load_fails(npz(tmp_path / "net.npz", text), "its config")


def test_an_empty_file_is_not_a_saved_net(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    load_fails(path, "the file is empty")


def test_an_npy_file_is_not_a_saved_net(tmp_path: Path) -> None:
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    load_fails(path, r"it holds a single array \(.npy\)")


@pytest.mark.parametrize(
    "content",
    [
        b"hello, world\n",
        pickle.dumps({"w1": [1.0]}),
        b"PK\x03\x04 truncated zip",
        bytes(range(256)) * 4,
    ],
    ids=["text", "pickle", "broken-zip", "binary"],
)
def test_any_other_file_is_not_a_saved_net_and_never_suggests_allow_pickle(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "net.npz"
    path.write_bytes(content)
    load_fails(path, "")


def test_a_zip_of_other_things_is_not_a_saved_net(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a net")
    load_fails(path, "it has no 'config' entry")


def test_an_npz_of_other_arrays_is_not_a_saved_net(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, a=np.ones(3))
    load_fails(path, "it has no 'config' entry")


def test_an_object_config_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "net.npz"
    np.savez(path, config=np.array([{"format": _persistence.FORMAT}], dtype=object))
    load_fails(path, "its 'config' entry holds Python objects")


@pytest.mark.parametrize(
    ("arrays", "reason"),
    [
        ({"w1": np.ones((3, 4))}, r"missing \['w2'\]"),
        ({**weights(), "extra": np.ones(2)}, r"unexpected \['extra'\]"),
        ({**weights(), "w1": np.ones((4, 3))}, r"its 'w1' entry is \(4, 3\) of float64"),
        ({**weights(), "w2": np.ones((4, 1), np.float32)}, r"its 'w2' entry is .* float32"),
    ],
)
def test_arrays_that_do_not_fit_the_config_are_named(
    tmp_path: Path, arrays: dict[str, np.ndarray], reason: str
) -> None:
    load_fails(npz(tmp_path / "net.npz", CONFIG, **arrays), reason)


def test_big_endian_arrays_are_loaded(tmp_path: Path) -> None:
    native = weights()
    path = npz(tmp_path / "net.npz", CONFIG, **{k: v.astype(">f8") for k, v in native.items()})
    loaded = nr.TwoLayerNet.load(path).parameters()
    for name, value in native.items():
        np.testing.assert_array_equal(loaded[name], value)


@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_load_finds_the_file_save_wrote_without_the_suffix(tmp_path: Path, as_path: bool) -> None:
    net = nr.TwoLayerNet(3, 4, 2, bias=True, seed=0)
    name: Any = tmp_path / "net" if as_path else str(tmp_path / "net")
    net.save(name)
    assert (tmp_path / "net.npz").exists()
    loaded = nr.TwoLayerNet.load(name)
    np.testing.assert_array_equal(loaded(np.ones((2, 3))), net(np.ones((2, 3))))


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        nr.TwoLayerNet.load(tmp_path / "absent")


def test_a_saved_net_round_trips_and_loads_without_drawing_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = nr.TwoLayerNet(3, 5, 2, activation="sigmoid", bias=True, dtype="float32", seed=4)
    net.save(tmp_path / "net.npz")
    monkeypatch.setattr(nr.TwoLayerNet, "_initial_parameters", None)
    loaded = nr.TwoLayerNet.load(tmp_path / "net.npz", backend="numpy")
    assert repr(loaded).replace("numpy", "rust") == repr(net)
    for name, value in net.parameters().items():
        np.testing.assert_array_equal(loaded.parameters()[name], value)


def test_a_backend_that_cannot_compute_the_saved_dtype_is_not_blamed_on_the_file(
    tmp_path: Path,
) -> None:
    nr.TwoLayerNet(3, 4, 1, dtype="float32", seed=0).save(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="backend 'python' computes only float64") as error:
        nr.TwoLayerNet.load(tmp_path / "net.npz", backend="python")
    assert "not a saved" not in str(error.value)


def test_an_open_file_loads_and_a_renamed_net_is_found(tmp_path: Path) -> None:
    net = nr.TwoLayerNet(3, 4, 1, seed=0)
    net.save(tmp_path / "net.npz")
    with open(tmp_path / "net.npz", "rb") as file:
        np.testing.assert_array_equal(
            nr.TwoLayerNet.load(file).parameters()["w1"], net.parameters()["w1"]
        )
    (tmp_path / "net.npz").rename(tmp_path / "renamed")
    assert nr.TwoLayerNet.load(tmp_path / "renamed").parameters()["w1"].shape == (3, 4)
    with open(tmp_path / "renamed", "rb") as file, pytest.raises(ValueError, match="renamed"):
        file.read(1)  # not at the start of the archive: a clear error, not a crash
        nr.TwoLayerNet.load(file)
