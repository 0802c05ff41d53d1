"""TwoLayerNet's file format: the configuration as JSON beside the parameters in one ``.npz``.

The file holds a ``config`` entry (a JSON object whose ``format`` is
:data:`FORMAT`) and one array per parameter, under the names
``TwoLayerNet.parameters`` uses. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

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


def write(
    path: str | os.PathLike[str], config: Mapping[str, Any], params: Mapping[str, Any]
) -> None:
    """Write ``config`` (the constructor arguments, as JSON) and ``params`` to ``path``."""
    document = {"format": FORMAT, **{key: config[key] for key in CONSTRUCTOR_KEYS}}
    arrays: dict[str, Any] = {"config": np.array(json.dumps(document)), **params}
    np.savez(path, **arrays)


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The configuration and parameters :func:`write` stored in ``path``.

    Raises
    ------
    ValueError
        If the file is not a saved TwoLayerNet.
    """
    with np.load(path, allow_pickle=False) as data:
        try:
            document = json.loads(str(data["config"]))
        except (KeyError, ValueError) as error:
            raise ValueError(f"{os.fspath(path)!r} is not a saved TwoLayerNet") from error
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a saved TwoLayerNet")
        params = {name: data[name] for name in data.files if name != "config"}
    return document, params
