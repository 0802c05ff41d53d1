"""What the public API promises for any input, written as tables.

The fuzz oracles look each rule up here rather than restating how the library checks
it: which dtypes are computed in which float type, which shapes each function takes,
what ``out=`` must be, and which values each model argument accepts. A rule that
changes is changed in one row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from support.fuzzing import Expected

# --- array arguments -------------------------------------------------------------------------

# The float type each accepted input dtype is computed in (either byte order). Every
# dtype not listed (float16, longdouble, complex, str, bytes, object, datetime64,
# timedelta64, void, structured) is a TypeError naming the argument.
COMPUTED_AS: dict[str, str] = {
    "bool": "float64",
    "int8": "float64",
    "int16": "float64",
    "int32": "float64",
    "int64": "float64",
    "uint8": "float64",
    "uint16": "float64",
    "uint32": "float64",
    "uint64": "float64",
    "float32": "float32",
    "float64": "float64",
}

# The result's dtype for the float types of all array arguments together.
RESULT_DTYPE: dict[frozenset[str], str] = {
    frozenset({"float32"}): "float32",
    frozenset({"float64"}): "float64",
    frozenset({"float32", "float64"}): "float64",
}

# The shapes each function takes: alternatives of (argument shapes, result shape). A
# letter is a size that must agree wherever it appears, "1" a size of one, and "..."
# any shape, the same wherever it appears. A size letter as a key ("o": "1") is a
# condition on a size known beforehand (a model's). Arguments not passed are not matched.
SHAPES: dict[str, list[tuple[dict[str, str], str]]] = {
    "weighted_sum": [
        ({"inputs": "k", "weights": "k"}, ""),
        ({"inputs": "n k", "weights": "k"}, "n"),
    ],
    "linear": [
        ({"x": "k", "weights": "k m", "bias": "m"}, "m"),
        ({"x": "n k", "weights": "k m", "bias": "m"}, "n m"),
    ],
    **{name: [({"x": "..."}, "...")] for name in ("relu", "sigmoid", "step")},
    **{name: [({"x": "...", "grad": "..."}, "...")] for name in ("relu_grad", "sigmoid_grad")},
    # the models: i and o are the model's input and output sizes, n the rows of X
    "TwoLayerNet.__call__": [({"X": "n i"}, "n o"), ({"X": "i"}, "o")],
    "TwoLayerNet.inputs": [({"X": "n i"}, "n")],
    "TwoLayerNet.targets": [({"Y": "n o"}, ""), ({"Y": "n", "o": "1"}, "")],
    "Perceptron.inputs": [({"X": "n i"}, "n")],
    "Perceptron.targets": [({"y": "n"}, "")],
}

# Arguments that may be left out; when the others fit without one, its error names it.
OPTIONAL: dict[str, tuple[str, ...]] = {"linear": ("bias",)}

# Which arguments a shape error may name when no alternative fits all of them.
SHAPE_BLAME: dict[str, tuple[str, ...]] = {
    "weighted_sum": ("inputs", "weights"),
    "linear": ("x", "weights"),
    "relu_grad": ("x", "grad"),
    "sigmoid_grad": ("x", "grad"),
    "TwoLayerNet.__call__": ("X",),
    "TwoLayerNet.inputs": ("X",),
    "TwoLayerNet.targets": ("Y",),
    "Perceptron.inputs": ("X",),
    "Perceptron.targets": ("y",),
}

# out= must be each of these, or the call raises the error beside it and leaves out alone.
OUT_RULES: list[tuple[str, Any, type[Exception]]] = [
    ("a numpy array", lambda out, result: isinstance(out, np.ndarray), TypeError),
    ("not masked", lambda out, result: not isinstance(out, np.ma.MaskedArray), TypeError),
    (
        "of a dtype numpy's same_kind rule casts the result into (as a ufunc's out=)",
        lambda out, result: np.can_cast(result.dtype, out.dtype, "same_kind"),
        ValueError,
    ),
    ("of the result's shape", lambda out, result: out.shape == result.shape, ValueError),
    ("C-contiguous", lambda out, result: out.flags.c_contiguous, ValueError),
    ("aligned", lambda out, result: out.flags.aligned, ValueError),
    ("writeable", lambda out, result: out.flags.writeable, ValueError),
]


def computed_as(obj: Any, name: str) -> np.ndarray:
    """``obj`` as numpy converts it, in the float type ``COMPUTED_AS`` gives its dtype."""
    try:
        a = np.asarray(obj)
    except (ValueError, TypeError):
        raise Expected((ValueError, TypeError), [name]) from None
    if a.dtype.name not in COMPUTED_AS:
        raise Expected((TypeError,), [name])
    return a.astype(COMPUTED_AS[a.dtype.name])


def kernel_arguments(named: Sequence[tuple[Any, str]]) -> list[np.ndarray]:
    """A kernel's ``(argument, name)`` pairs as numpy promotes them together.

    The result dtype is numpy's ``result_type`` of their dtypes and a Python float
    (integers and bools compute in float64, float32 with int8 in float32, float16
    with float32 in float32); one numpy would give in float16 or longdouble is a
    TypeError naming the arguments of those dtypes.
    """
    arrays = []
    for obj, name in named:
        try:
            a = np.asarray(obj)
        except (ValueError, TypeError):
            raise Expected((ValueError, TypeError), [name]) from None
        if a.dtype.kind not in "biuf":
            raise Expected((TypeError,), [name])
        arrays.append(a)
    dtype = np.result_type(*(a.dtype for a in arrays), 1.0).newbyteorder("=")
    if dtype.name not in ("float32", "float64"):
        odd = [
            n
            for (_, n), a in zip(named, arrays, strict=True)
            if a.dtype.kind == "f" and a.dtype.name not in ("float32", "float64")
        ]
        raise Expected((TypeError,), odd)
    return [a.astype(dtype) for a in arrays]


def result_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.dtype(RESULT_DTYPE[frozenset(a.dtype.name for a in arrays)])


def in_result_dtype(*arrays: np.ndarray) -> list[np.ndarray]:
    dtype = result_dtype(*arrays)
    return [a.astype(dtype) for a in arrays]


def _match(pattern: str, shape: tuple[int, ...], sizes: dict[str, Any]) -> bool:
    """Whether ``shape`` fits ``pattern``, binding its letters in ``sizes``."""
    if pattern == "...":
        return sizes.setdefault("...", shape) == shape
    dims = pattern.split()
    if len(dims) != len(shape):
        return False
    for dim, size in zip(dims, shape, strict=True):
        if dim.isdigit():
            if size != int(dim):
                return False
        elif sizes.setdefault(dim, size) != size:
            return False
    return True


def _fit(
    function: str, shapes: Mapping[str, tuple[int, ...]], bound: Mapping[str, int]
) -> tuple[int, ...] | None:
    """The result's shape by the first alternative of ``SHAPES`` that fits, else None."""
    for arguments, result in SHAPES[function]:
        sizes: dict[str, Any] = dict(bound)
        if not set(shapes) <= set(arguments):
            continue
        requirements = {k: v for k, v in arguments.items() if k not in shapes and k in bound}
        if any(str(bound[k]) != v for k, v in requirements.items()):
            continue
        if all(_match(arguments[name], shape, sizes) for name, shape in shapes.items()):
            if result == "...":
                return sizes["..."]
            return tuple(int(sizes[d]) if not d.isdigit() else int(d) for d in result.split())
    return None


def result_shape(
    function: str, shapes: Mapping[str, tuple[int, ...]], bound: Mapping[str, int] | None = None
) -> tuple[int, ...]:
    """The result's shape by ``SHAPES``, or raises the shape error ``SHAPE_BLAME`` names.

    When the shapes fit only without an optional argument, the error names that one.
    """
    bound = bound or {}
    found = _fit(function, shapes, bound)
    if found is not None:
        return found
    for name in OPTIONAL.get(function, ()):
        rest = {k: v for k, v in shapes.items() if k != name}
        if name in shapes and _fit(function, rest, bound) is not None:
            raise Expected((ValueError,), [name])
    raise Expected((ValueError,), SHAPE_BLAME.get(function, tuple(shapes)))


def check_out(out: Any, result: np.ndarray) -> None:
    """Raises the Expected error of the first rule in ``OUT_RULES`` that ``out`` breaks."""
    for _, holds, error in OUT_RULES:
        if not holds(out, result):
            raise Expected((error,), ["out"])


# --- scalar arguments of the models ----------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    """What one kind of scalar argument accepts.

    ``types``: the types accepted, less ``refused`` (bool is an int, but not a number
    here: TypeError) and ``either`` (refused with TypeError or ValueError).
    ``lowest``/``above``: the smallest value allowed, or the value it must exceed;
    ``finite``: whether inf and NaN are refused (ValueError, as values out of range).
    """

    types: tuple[type, ...]
    refused: tuple[type, ...] = (bool,)
    either: tuple[type, ...] = ()
    lowest: float | None = None
    above: float | None = None
    finite: bool = False


SCALARS: dict[str, Scalar] = {
    # timedelta64 is a numpy integer but a duration (issue 13: should be a TypeError)
    "count": Scalar((int, np.integer), either=(np.timedelta64,), lowest=1),
    "learning rate": Scalar((int, float, np.integer, np.floating), lowest=0, finite=True),
    "positive learning rate": Scalar((int, float, np.integer, np.floating), above=0, finite=True),
}

# Which scalar rule each model argument follows.
ARGUMENTS: dict[str, str] = {
    "input_dim": "count",
    "hidden_dim": "count",
    "output_dim": "count",
    "steps": "count",
    "batch_size": "count",
    "n_inputs": "count",
    "max_epochs": "count",
    "lr": "learning rate",
}

# Arguments that are one of a few strings.
CHOICES: dict[str, tuple[str, ...]] = {
    "activation": ("relu", "sigmoid"),
    "init": ("normal", "he"),
    "reduction": ("sum", "mean"),
    "dtype": ("float64", "float32"),  # anything np.dtype() turns into one of these
}

# The targets a Perceptron learns.
PERCEPTRON_TARGETS = (0.0, 1.0)


def scalar_error(value: Any, name: str, rule: str | None = None) -> Expected | None:
    """The error ``value`` must raise as argument ``name`` (by ``ARGUMENTS``), or None."""
    scalar = SCALARS[rule or ARGUMENTS[name]]
    if isinstance(value, scalar.either):
        return Expected((TypeError, ValueError), [name])
    if isinstance(value, scalar.refused) or not isinstance(value, scalar.types):
        return Expected((TypeError,), [name])
    number = float(value)
    if scalar.finite and not math.isfinite(number):
        return Expected((ValueError,), [name])
    if scalar.lowest is not None and number < scalar.lowest:
        return Expected((ValueError,), [name])
    if scalar.above is not None and number <= scalar.above:
        return Expected((ValueError,), [name])
    return None


def choice_error(value: Any, name: str) -> Expected | None:
    """None when ``value`` is one of ``CHOICES[name]``; else a ValueError or TypeError."""
    if name == "dtype":
        try:
            ok = np.dtype(value).name in CHOICES["dtype"]
        except Exception:
            ok = False
    else:
        ok = isinstance(value, str) and value in CHOICES[name]
    return None if ok else Expected((ValueError, TypeError), [name])


def seed_error(value: Any) -> Expected | None:
    """``seed`` is None or a non-negative integer, or what numpy's default_rng accepts."""
    if value is None:
        return None
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return None if value >= 0 else Expected((ValueError,), ["seed"])
    try:
        np.random.default_rng(value)
    except (TypeError, ValueError):
        return Expected((TypeError, ValueError), ["seed"])
    return None


def first(*errors: Expected | None) -> None:
    """Raises the first of ``errors`` that is not None."""
    for error in errors:
        if error is not None:
            raise error


def any_of(errors: Sequence[Expected | None]) -> None:
    """Raises one Expected that any of ``errors`` satisfies (their order is not promised)."""
    invalid = [e for e in errors if e is not None]
    if invalid:
        raise Expected(
            tuple({t for e in invalid for t in e.errors}), [n for e in invalid for n in e.names]
        )
