"""The tutorial's pictures as PNG files, drawn with matplotlib: ``neurust demo --plots DIR``.

Figures are made with ``matplotlib.figure.Figure`` and the Agg renderer, never
pyplot, so no display is needed and the caller's matplotlib backend is left
alone. Every value drawn comes from neurust's kernels and the tutorial's data.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import neurust as nr
from neurust import _atomic, _tutorial
from neurust._diagram import collapsed_label, shown_units

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DPI", "FIGURES", "PlotFolderError", "prepare_folder", "write_figures"]

DPI = 100
FIGURES: dict[str, tuple[float, float]] = {
    "activations.png": (10.0, 3.6),
    "toes-model.png": (6.0, 2.6),
    "neuron.png": (8.0, 3.6),
    "network.png": (8.0, 5.0),
    "loss.png": (7.0, 4.2),
    "perceptron.png": (11.0, 4.0),
}
"""Each figure's file name and size in inches: the PNG is ``size × DPI`` pixels."""

_INK = "#1f2937"
_BLUE = "#2563eb"
_ORANGE = "#ea580c"
_RED = "#dc2626"
_LIGHT = "#dbeafe"


class PlotFolderError(OSError):
    """The folder for the figures cannot be created or written."""


def prepare_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` if needed and check that files can be written in it.

    Called before any work, so that a bad folder fails at once.

    Raises
    ------
    PlotFolderError
        If the folder cannot be created or written; the message names it.
    ImportError
        If matplotlib is not installed (the message says how to install it).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plots needs matplotlib: pip install 'neurust[plots]'") from None
    path = Path(folder)
    if not str(folder).strip():
        raise PlotFolderError(f"cannot write figures to {str(folder)!r}: give a folder name")
    if path.exists() and not path.is_dir():
        raise PlotFolderError(f"cannot write figures to {str(path)!r}: it is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise PlotFolderError(f"cannot create the folder {str(path)!r}: {reason}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:  # /proc/self says ENOENT, a read-only folder EACCES or EROFS
        reason = error.strerror or str(error)
        raise PlotFolderError(
            f"cannot write figures to {str(path)!r}: the folder exists but a file cannot be "
            f"created in it ({reason})"
        ) from None
    return path


def _save(figure: Figure, folder: Path, name: str) -> Path:
    """Write ``figure`` as ``folder/name`` atomically: a temporary file, then a rename.

    Raises
    ------
    PlotFolderError
        If the file cannot be written; the previous file, if any, is left as it was.
    """
    target = folder / name
    try:
        with _atomic.replacing(target) as file:
            figure.savefig(file, format="png", dpi=DPI)
    except OSError as error:
        reason = error.strerror or str(error)
        raise PlotFolderError(f"cannot write {str(target)!r}: {reason}") from None
    return target


def _figure(name: str) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=FIGURES[name], dpi=DPI, layout="constrained")


# ----------------------------------------------------------------------------------------
# Activation functions
# ----------------------------------------------------------------------------------------


def _activations(figure: Figure) -> None:
    x = np.linspace(-4.0, 4.0, 801)
    ones = np.ones_like(x)
    left, right = x[x < 0], x[x > 0]
    panels = figure.subplots(1, 3, sharex=True)
    relu, sigmoid, step = panels
    relu.plot(x, nr.relu(x), color=_BLUE, label="relu(x) = max(0, x)")
    # relu′ jumps at 0 too: two pieces, the kernel's value at 0 filled in.
    relu.plot(left, nr.relu_grad(left, ones[: left.size]), color=_ORANGE, ls="--")
    relu.plot(
        right, nr.relu_grad(right, ones[: right.size]), color=_ORANGE, ls="--", label="relu′(x)"
    )
    grad_at_zero = float(nr.relu_grad(np.zeros(1), np.ones(1))[0])
    relu.plot([0], [grad_at_zero], "o", color=_ORANGE)
    relu.plot([0], [1 - grad_at_zero], "o", mfc="white", color=_ORANGE)
    relu.set_title("ReLU")
    sigmoid.plot(x, nr.sigmoid(x), color=_BLUE, label="σ(x) = 1 / (1 + e⁻ˣ)")
    sigmoid.plot(
        x, nr.sigmoid_grad(x, ones), color=_ORANGE, ls="--", label="σ′(x) = σ(x)(1 − σ(x))"
    )
    sigmoid.set_title("Sigmoid")
    # The step jumps at 0: drawn as two pieces with the value at 0 filled in.
    step.plot(left, nr.heaviside(left), color=_BLUE)
    step.plot(right, nr.heaviside(right), color=_BLUE, label="step(x) = 1 if x > 0 else 0")
    at_zero = float(nr.heaviside(np.zeros(1))[0])
    step.plot([0], [at_zero], "o", color=_BLUE)
    step.plot([0], [1 - at_zero], "o", mfc="white", color=_BLUE)
    step.plot(x, np.zeros_like(x), color=_ORANGE, ls="--", label="step′(x) = 0 (none at 0)")
    step.set_title("Step (the perceptron's)")
    for panel in panels:
        panel.axhline(0, color="gray", lw=0.6)
        panel.axvline(0, color="gray", lw=0.6)
        panel.set_xlabel("x")
        panel.set_ylim(-0.3, 4.2 if panel is relu else 1.3)
        panel.legend(loc="upper left", fontsize=8, frameon=False)
        panel.grid(alpha=0.25)
    relu.set_ylabel("f(x) and f′(x)")
    figure.suptitle("Activation functions (solid) and their derivatives (dashed)")


# ----------------------------------------------------------------------------------------
# Diagrams drawn with patches
# ----------------------------------------------------------------------------------------


def _canvas(figure: Figure, xlim: tuple[float, float], ylim: tuple[float, float]) -> Axes:
    axes = figure.add_subplot()
    axes.set_xlim(*xlim)
    axes.set_ylim(*ylim)
    axes.set_aspect("equal")
    axes.axis("off")
    return axes


def _node(
    axes: Axes, x: float, y: float, text: str, radius: float = 0.45, box: bool = False
) -> None:
    from matplotlib.patches import Circle, FancyBboxPatch, Patch

    style: dict[str, Any] = {"facecolor": _LIGHT, "edgecolor": _INK, "lw": 1.2, "zorder": 2}
    patch: Patch
    if box:
        side = radius * 1.7
        corner = (x - side / 2, y - side / 2)
        patch = FancyBboxPatch(corner, side, side, boxstyle="round,pad=0.05", **style)
    else:
        patch = Circle((x, y), radius, **style)
    axes.add_patch(patch)
    axes.text(x, y, text, ha="center", va="center", fontsize=10, zorder=3)


def _arrow(
    axes: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    gap: float = 0.47,
    color: str = _INK,
) -> None:
    """An arrow between two nodes' edges (``gap`` from each centre), labelled at its middle."""
    (x0, y0), (x1, y1) = start, end
    length = np.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    tail, head = (x0 + ux * gap, y0 + uy * gap), (x1 - ux * gap, y1 - uy * gap)
    props = {"arrowstyle": "-|>", "color": color, "lw": 1.1, "shrinkA": 0, "shrinkB": 0}
    axes.annotate("", xy=head, xytext=tail, arrowprops=props, zorder=1)
    if label:
        middle = ((tail[0] + head[0]) / 2, (tail[1] + head[1]) / 2)
        box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"}
        axes.text(*middle, label, ha="center", va="center", fontsize=10, color=_ORANGE, bbox=box)


def _toes_model(figure: Figure) -> None:
    axes = _canvas(figure, (-1.2, 5.2), (-1.5, 1.0))
    weight, toes = _tutorial.ONE_NEURON_WEIGHT, _tutorial.ONE_NEURON_TOES[0]
    prediction = float(nr.weighted_sum([toes], [weight]))
    _node(axes, 0.0, 0.0, "toes", radius=0.55)
    _node(axes, 4.0, 0.0, "win", radius=0.55)
    _arrow(axes, (0.0, 0.0), (4.0, 0.0), f"w = {weight:g}", gap=0.57)
    axes.text(
        2.0,
        -1.15,
        f"prediction = toes × weight:  {toes:g} × {weight:g} = {prediction:.2f}",
        ha="center",
        fontsize=10,
    )
    axes.set_title("One neuron: the toes model")


def _neuron(figure: Figure) -> None:
    axes = _canvas(figure, (-1.6, 9.2), (-2.1, 2.0))
    inputs, weights = _tutorial.RELU_INPUTS, _tutorial.RELU_WEIGHTS
    total = float(nr.weighted_sum(inputs, weights))
    output = float(nr.relu(np.array([total]))[0])
    rows = (1.5, 0.0, -1.5)
    for i, (y, value, weight) in enumerate(zip(rows, inputs, weights, strict=True), 1):
        _node(axes, 0.0, y, f"x{i} = {value:g}")
        _arrow(axes, (0.0, y), (3.5, 0.0), f"w{i} = {weight:g}")
    _node(axes, 3.5, 0.0, "Σ")
    axes.text(3.5, -0.8, f"a = x · w = {total:g}", ha="center", fontsize=10)
    _node(axes, 6.0, 0.0, "ReLU", box=True)
    _arrow(axes, (3.5, 0.0), (6.0, 0.0))
    axes.text(8.6, 0.0, f"y = {output:g}", ha="center", va="center", fontsize=11)
    _arrow(axes, (6.0, 0.0), (8.2, 0.0), gap=0.5)
    axes.text(
        3.8, -1.8, "inputs  →  weighted sum  →  activation  →  output", ha="center", color="gray"
    )
    axes.set_title("A neuron with three inputs: y = relu(x · w)")


def _network(figure: Figure, net: nr.TwoLayerNet) -> None:
    from matplotlib.patches import Circle

    sizes = (net.input_dim, net.hidden_dim, net.output_dim)
    nouns = ("inputs", "hidden", "outputs")
    prefixes = ("x", "h", "y")
    titles = (
        f"input layer\n{net.input_dim} units",
        f"hidden layer\n{net.hidden_dim} units, {net.activation}",
        f"output layer\n{net.output_dim} unit{'s' if net.output_dim > 1 else ''}",
    )
    axes = _canvas(figure, (-1.5, 9.5), (-4.6, 4.2))
    columns = (0.0, 4.0, 8.0)
    placed: list[list[tuple[float, float]]] = []
    for column, size, noun, prefix, title in zip(
        columns, sizes, nouns, prefixes, titles, strict=True
    ):
        units = shown_units(size, 6)
        spacing = 1.2
        top = spacing * (len(units) - 1) / 2
        drawn = []
        for row, unit in enumerate(units):
            y = top - row * spacing
            if unit is None:
                axes.text(
                    column,
                    y,
                    "⋮\n" + collapsed_label(size, noun),
                    ha="center",
                    va="center",
                    fontsize=8,
                )
            else:
                drawn.append((column, y))
                axes.text(
                    column, y, f"{prefix}{unit}", ha="center", va="center", fontsize=8, zorder=3
                )
        for x, y in drawn:
            axes.add_patch(Circle((x, y), 0.38, fc=_LIGHT, ec=_INK, lw=1.0, zorder=2))
        axes.text(column, -4.2, title, ha="center", va="center", fontsize=10)
        placed.append(drawn)
    for left, right in itertools.pairwise(placed):
        for x0, y0 in left:
            for x1, y1 in right:
                axes.plot([x0 + 0.38, x1 - 0.38], [y0, y1], color="gray", lw=0.5, zorder=1)
    for middle, (rows, cols, name) in zip(
        (2.0, 6.0), ((sizes[0], sizes[1], "w1"), (sizes[1], sizes[2], "w2")), strict=True
    ):
        axes.text(middle, 3.9, f"{name}: {rows} × {cols}", ha="center", color=_ORANGE, fontsize=10)
    biases = "with biases" if net.bias else "no biases"
    layers = " → ".join(map(str, sizes))
    axes.set_title(f"The tutorial's two-layer network: {layers}, {net.activation}, {biases}")


# ----------------------------------------------------------------------------------------
# Training and the perceptron
# ----------------------------------------------------------------------------------------


def _loss(figure: Figure, history: np.ndarray) -> None:
    axes = figure.add_subplot()
    steps = np.arange(len(history))
    axes.semilogy(steps, history, color=_BLUE, lw=1.6, label="neurust (this run)")
    tutorial_steps = [step for step in _tutorial.NET_LOSSES if step < len(history)]
    axes.semilogy(
        tutorial_steps,
        [_tutorial.NET_LOSSES[step] for step in tutorial_steps],
        "x",
        color=_ORANGE,
        ms=8,
        mew=2,
        label="the tutorial's printed losses (its own random draw)",
    )
    axes.annotate(f"{history[0]:,.0f}", (0, history[0]), xytext=(8, -4), textcoords="offset points")
    axes.annotate(
        f"{history[-1]:,.1f} after {len(history)} steps",
        (len(history) - 1, history[-1]),
        xytext=(-8, 10),
        textcoords="offset points",
        ha="right",
    )
    axes.set_xlabel("gradient-descent step")
    axes.set_ylabel("loss: sum of squared errors (log scale)")
    axes.set_title(
        f"Training the two-layer network: {len(history)} steps at lr {_tutorial.NET_LR:g}"
    )
    axes.grid(alpha=0.3, which="both")
    axes.legend(frameon=False)


def _perceptron(figure: Figure) -> None:
    inputs = np.array(_tutorial.GATE_INPUTS, dtype=float)
    grid = np.linspace(-0.5, 1.5, 201)
    gx, gy = np.meshgrid(grid, grid)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    panels = figure.subplots(1, len(_tutorial.GATES), sharey=True)
    for panel, (gate, targets) in zip(panels, _tutorial.GATES.items(), strict=True):
        perceptron = nr.Perceptron(2).fit(inputs, targets, max_epochs=100)
        fires = perceptron.predict(points).reshape(gx.shape)
        panel.contourf(gx, gy, fires, levels=[-0.5, 0.5, 1.5], colors=["white", _LIGHT])
        (w1, w2), b = perceptron.weights_, perceptron.bias_
        if w2 != 0:
            panel.plot(grid, -(w1 * grid + b) / w2, color=_BLUE, lw=1.5)
        elif w1 != 0:
            panel.axvline(-b / w1, color=_BLUE, lw=1.5)
        targets_array = np.asarray(targets)
        ones, zeros = targets_array == 1, targets_array == 0
        panel.scatter(*inputs[ones].T, s=90, c=_INK, zorder=3, label="target 1")
        panel.scatter(
            *inputs[zeros].T, s=90, facecolors="white", edgecolors=_INK, zorder=3, label="target 0"
        )
        wrong = perceptron.predict(inputs) != targets_array
        if wrong.any():
            panel.scatter(
                *inputs[wrong].T, s=260, marker="x", c=_RED, zorder=4, label="misclassified"
            )
        if perceptron.converged_:
            outcome = f"separated in {perceptron.epochs_} epochs"
        else:
            outcome = (
                f"no line separates it:\n{wrong.sum()} of 4 wrong after {perceptron.epochs_} epochs"
            )
        panel.set_title(f"{gate}: {outcome}", color=_INK if perceptron.converged_ else _RED)
        panel.text(
            -0.42,
            1.38,
            f"w = ({w1:g}, {w2:g}), b = {b:g}",
            fontsize=8,
            va="center",
            bbox={"fc": "white", "ec": "none", "alpha": 0.8},
        )
        panel.set_xlim(-0.5, 1.5)
        panel.set_ylim(-0.5, 1.5)
        panel.set_aspect("equal")
        panel.set_xlabel("x₁")
        panel.set_xticks([0, 1])
        panel.set_yticks([0, 1])
    panels[0].set_ylabel("x₂")
    handles, labels = panels[-1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    figure.suptitle("The perceptron's line w · x + b = 0 (shaded: it fires)")


def write_figures(folder: Path, net: nr.TwoLayerNet) -> list[Path]:
    """Draw every figure into ``folder`` and print each path as it is written.

    Parameters
    ----------
    folder : Path
        From :func:`prepare_folder`.
    net : TwoLayerNet
        The demo's trained network: its sizes and its ``history_`` (the loss
        before each step) are drawn; nothing is trained again.

    Returns
    -------
    list of Path
        The files written, in :data:`FIGURES`' order.
    """
    drawers = {
        "activations.png": _activations,
        "toes-model.png": _toes_model,
        "neuron.png": _neuron,
        "network.png": lambda figure: _network(figure, net),
        "loss.png": lambda figure: _loss(figure, np.asarray(net.history_)),
        "perceptron.png": _perceptron,
    }
    written = []
    for name in FIGURES:
        figure = _figure(name)
        drawers[name](figure)
        path = _save(figure, folder, name)
        print(f"   wrote {path}")
        written.append(path)
    return written
