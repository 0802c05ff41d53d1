"""Graphviz DOT text for a neuron and a two-layer network, as the tutorial draws them.

Only text is made here: no Graphviz is needed to produce it; ``dot -Tpng`` renders it.
The rule for collapsing a wide layer lives here once; the matplotlib figures use it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from neurust import _core
from neurust._convert import as_float_array

__all__ = ["collapsed_label", "network_dot", "neuron_dot", "shown_units"]

NEURON_ACTIVATIONS = ("relu", "sigmoid", "step")
_MIN_SHOWN = 3  # two units, the ellipsis, the last unit


def shown_units(size: int, max_nodes: int) -> list[int | None]:
    """The units of a layer that a picture draws: 1-based indices, None for the ellipsis.

    A layer of at most ``max_nodes`` units is drawn whole; a wider one as its
    first ``max_nodes - 2`` units, an ellipsis and its last unit.

    Examples
    --------
    >>> shown_units(3, 6)
    [1, 2, 3]
    >>> shown_units(1000, 6)
    [1, 2, 3, 4, None, 1000]
    """
    if size <= max_nodes:
        return list(range(1, size + 1))
    return [*range(1, max_nodes - 1), None, size]


def collapsed_label(size: int, noun: str) -> str:
    """The ellipsis's label for a collapsed layer, e.g. ``"… 1000 inputs …"``."""
    return f"… {size} {noun} …"


def _max_nodes(max_nodes: Any) -> int:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int | np.integer):
        raise TypeError(f"max_nodes must be an int, got {type(max_nodes).__name__}")
    if max_nodes < _MIN_SHOWN:
        raise ValueError(f"max_nodes must be at least {_MIN_SHOWN}, got {max_nodes}")
    return int(max_nodes)


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\n").replace("\n", "\\n") + '"'


def _attributes(**attributes: str) -> str:
    return "[" + ", ".join(f"{key}={_quote(value)}" for key, value in attributes.items()) + "]"


def _number(value: float) -> str:
    """The shortest text that reads back as the same float (``0.1``, ``-1.0``, ``1e-06``)."""
    return repr(float(value))


def _layer(
    lines: list[str],
    prefix: str,
    size: int,
    noun: str,
    title: str,
    max_nodes: int,
    bias: str | None = None,
) -> list[str]:
    """Add one layer as a column; return the ids of its drawn units (the ellipsis excluded).

    The column is headed by a text node, ``title``; ``bias`` names a ``+1``
    node drawn at its foot (it feeds the next layer).
    """
    text = 'shape="plaintext", fixedsize="false"'
    lines.append(f"  subgraph layer_{prefix} {{")
    lines.append('    rank="same";')
    lines.append(f"    {prefix}_title [label={_quote(title)}, {text}];")
    ids, column = [], [f"{prefix}_title"]
    for unit in shown_units(size, max_nodes):
        if unit is None:
            column.append(f"{prefix}_more")
            lines.append(
                f"    {prefix}_more [label={_quote(collapsed_label(size, noun))}, {text}];"
            )
        else:
            ids.append(f"{prefix}{unit}")
            column.append(ids[-1])
            lines.append(f"    {ids[-1]} {_attributes(label=ids[-1])};")
    if bias is not None:
        column.append(bias)
        lines.append(f"    {bias} {_attributes(label='+1', shape='box', width='0.4')};")
    # Graphviz orders a rank to shorten edges: invisible edges keep the column in order.
    lines.append(f"    {' -> '.join(column)} {_attributes(style='invis')};")
    lines.append("  }")
    return ids


def network_dot(
    input_dim: int,
    hidden_dim: int,
    output_dim: int,
    activation: str = "relu",
    bias: bool = False,
    max_nodes: int = 6,
) -> str:
    """Graphviz DOT text of a two-layer network ``act(X @ w1 + b1) @ w2 + b2``.

    Each layer is a cluster titled with its size; the hidden layer names its
    activation; layers wider than ``max_nodes`` are collapsed to their first
    units, an ellipsis node (``"… 1000 inputs …"``) and their last unit, as
    people draw them. Every drawn unit connects to every drawn unit of the next
    layer. With ``bias``, a ``+1`` node feeds each of the two layers.

    Parameters
    ----------
    input_dim, hidden_dim, output_dim : int
        The layer sizes.
    activation : str
        The hidden layer's activation, named in its title.
    bias : bool
        Whether the layers add biases.
    max_nodes : int
        The most units a layer is drawn with before it is collapsed (at least 3).

    Returns
    -------
    str
        A ``digraph`` laid out left to right.

    Raises
    ------
    TypeError, ValueError
        If ``max_nodes`` is not an int of at least 3.

    Examples
    --------
    >>> text = network_dot(1000, 100, 1)
    >>> text.splitlines()[0]
    'digraph TwoLayerNet {'
    >>> "… 1000 inputs …" in text, "x1 -> h1;" in text
    (True, True)
    """
    max_nodes = _max_nodes(max_nodes)
    biases = "with biases" if bias else "no biases"
    title = f"{input_dim} → {hidden_dim} → {output_dim}, {activation}, {biases}"
    lines = [
        "digraph TwoLayerNet {",
        f"  graph {_attributes(rankdir='LR', splines='line', ranksep='1.5')};",
        f"  graph {_attributes(label=title, labelloc='t')};",
        f"  node {_attributes(shape='circle', fixedsize='true', width='0.6', fontsize='9')};",
        f"  edge {_attributes(arrowsize='0.5', color='gray40')};",
    ]
    b1, b2 = ("b1", "b2") if bias else (None, None)
    inputs = _layer(lines, "x", input_dim, "inputs", f"input\n{input_dim}", max_nodes, b1)
    hidden_title = f"hidden\n{hidden_dim}, {activation}"
    hidden = _layer(lines, "h", hidden_dim, "hidden", hidden_title, max_nodes, b2)
    outputs = _layer(lines, "y", output_dim, "outputs", f"output\n{output_dim}", max_nodes)
    for sources, targets in ((inputs, hidden), (hidden, outputs)):
        lines.extend(f"  {source} -> {target};" for source in sources for target in targets)
    if bias:
        for name, targets in (("b1", hidden), ("b2", outputs)):
            dashed = _attributes(style="dashed")
            lines.extend(f"  {name} -> {target} {dashed};" for target in targets)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _names(names: Any, count: int) -> list[str]:
    if names is None:
        return [f"x{i}" for i in range(1, count + 1)]
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"names must be a sequence of str, got {type(names).__name__}")
    if len(names) != count:
        raise ValueError(f"names has {len(names)} entries, but weights has {count}")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"names must hold str, got {type(name).__name__}")
    return list(names)


def _vector(values: Any, name: str) -> np.ndarray:
    array = as_float_array(values, name).astype(np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def neuron_dot(
    weights: Any,
    inputs: Any = None,
    activation: str | None = "relu",
    names: Sequence[str] | None = None,
    bias: float | None = None,
    output: str = "y",
) -> str:
    """Graphviz DOT text of one neuron: inputs, weighted edges, the sum, the activation.

    Each input is a node with an edge to the sum node ``Σ`` labelled with its
    weight (the shortest text that reads back as the same float); the sum
    feeds the activation node, which feeds the output. With ``inputs``, each
    node also shows its value: the inputs, ``a = x · w + b`` at the sum and the
    activation's result at the output, computed by neurust's kernels.

    Parameters
    ----------
    weights : array_like, shape (n,)
        One weight per input; finite.
    inputs : array_like, shape (n,), optional
        Input values to show and compute with.
    activation : {"relu", "sigmoid", "step"} or None
        None draws a plain weighted sum (the tutorial's "toes → win" model).
    names : sequence of str, optional
        The inputs' names (default ``x1 … xn``).
    bias : float, optional
        Drawn as a ``+1`` node whose edge carries the bias.
    output : str
        The output's name.

    Returns
    -------
    str
        A ``digraph`` laid out left to right.

    Raises
    ------
    ValueError
        If ``weights`` is not a non-empty finite 1-D sequence, ``inputs`` or
        ``names`` does not match it in length, or ``activation`` is unknown.
    TypeError
        If an argument has the wrong type.

    Examples
    --------
    >>> print(neuron_dot([0.1], names=["toes"], activation=None, output="win"))
    ... # doctest: +NORMALIZE_WHITESPACE
    digraph neuron {
      graph [rankdir="LR"];
      node [shape="circle", fontsize="11"];
      x1 [label="toes"];
      sum [label="Σ"];
      out [label="win", shape="plaintext"];
      x1 -> sum [label="0.1"];
      sum -> out;
    }
    """
    weights_array = _vector(weights, "weights")
    count = weights_array.size
    labels = _names(names, count)
    if activation is not None and activation not in NEURON_ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {NEURON_ACTIVATIONS} or None, got {activation!r}"
        )
    if not isinstance(output, str):
        raise TypeError(f"output must be a str, got {type(output).__name__}")
    if bias is not None:
        if isinstance(bias, bool) or not isinstance(bias, int | float | np.number):
            raise TypeError(f"bias must be a real number, got {type(bias).__name__}")
        if not math.isfinite(bias):
            raise ValueError(f"bias must be finite, got {bias}")
    sum_label, output_label = "Σ", output
    if inputs is not None:
        values = _vector(inputs, "inputs")
        if values.size != count:
            raise ValueError(f"inputs has {values.size} entries, but weights has {count}")
        labels = [f"{label}\n{value:g}" for label, value in zip(labels, values, strict=True)]
        total = float(values @ weights_array) + (0.0 if bias is None else float(bias))
        sum_label = f"Σ\na = {total:g}"
        result = _activate(activation, total)
        output_label = f"{output} = {result:g}"
    lines = [
        "digraph neuron {",
        f"  graph {_attributes(rankdir='LR')};",
        f"  node {_attributes(shape='circle', fontsize='11')};",
    ]
    lines.extend(f"  x{i} {_attributes(label=label)};" for i, label in enumerate(labels, 1))
    if bias is not None:
        lines.append(f"  bias {_attributes(label='+1', shape='box')};")
    lines.append(f"  sum {_attributes(label=sum_label)};")
    if activation is not None:
        lines.append(f"  act {_attributes(label=activation, shape='box')};")
    lines.append(f"  out {_attributes(label=output_label, shape='plaintext')};")
    lines.extend(
        f"  x{i} -> sum {_attributes(label=_number(w))};" for i, w in enumerate(weights_array, 1)
    )
    if bias is not None:
        lines.append(f"  bias -> sum {_attributes(label=_number(bias))};")
    lines.append("  sum -> act;\n  act -> out;" if activation is not None else "  sum -> out;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _activate(activation: str | None, value: float) -> float:
    """One value through neurust's activation kernel (identity for None)."""
    if activation is None:
        return value
    kernel = {"relu": _core.relu, "sigmoid": _core.sigmoid, "step": _core.heaviside}[activation]
    return float(kernel(np.array([value]))[0])
