"""The ``neurust`` command (also ``python -m neurust``): ``demo`` and ``compare``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

import neurust as nr
from neurust import _tutorial

# --------------------------------------------------------------------------------------
# neurust demo: the tutorial's worked examples in order, each result beside its number
# --------------------------------------------------------------------------------------


def _heading(number: int, title: str) -> None:
    print(f"\n{number}. {title}")
    print("-" * (len(title) + 3))


def _one_neuron() -> None:
    weight = _tutorial.ONE_NEURON_WEIGHT
    _heading(1, f"One neuron: prediction = toes × weight (weight {weight})")
    print(f"   {'toes':>6}  {'neurust':>8}  {'tutorial':>8}")
    for toes, expected in zip(
        _tutorial.ONE_NEURON_TOES, _tutorial.ONE_NEURON_PREDICTIONS, strict=True
    ):
        prediction = float(nr.weighted_sum([toes], [weight]))
        print(f"   {toes:>6}  {prediction:>8.4f}  {expected:>8.2f}")


def _three_inputs() -> None:
    weights = _tutorial.GAME_WEIGHTS
    listed = ", ".join(map(str, weights))
    _heading(2, f"Three inputs: weighted sum of toes, record, fans (weights {listed})")
    games = _tutorial.games()
    predictions = np.asarray(nr.weighted_sum(games, weights))
    print(f"   {'toes':>5} {'record':>7} {'fans':>5}  {'neurust':>8}  {'tutorial':>8}")
    expected_predictions = _tutorial.GAME_PREDICTIONS
    for row, prediction, expected in zip(games, predictions, expected_predictions, strict=True):
        toes, record, fans = row
        print(f"   {toes:>5} {record:>7} {fans:>5}  {prediction:>8.4f}  {expected:>8.2f}")


def _relu_neuron() -> None:
    _heading(3, "A ReLU neuron: a = x · w, y = relu(a)")
    x, w = list(_tutorial.RELU_INPUTS), list(_tutorial.RELU_WEIGHTS)
    a = float(nr.weighted_sum(x, w))
    y = float(nr.relu(np.array([a]))[0])
    expected = f"{_tutorial.RELU_OUTPUT:g}"
    print(f"   x = {x}, w = {w}")
    print(f"   a = {a:g} (tutorial: {expected})   y = relu(a) = {y:g} (tutorial: {expected})")


def _warn_if_slow(net: nr.TwoLayerNet, x: np.ndarray, y: np.ndarray, steps: int) -> None:
    """On an interpreted backend, say up front how long training will take.

    Estimated from one measured forward pass: a training step (forward and
    backward) measured 1.8 times a forward pass on the python backend.
    """
    if not net.backend.interpreted:
        return
    started = time.perf_counter()
    net.loss(x, y)
    estimate = 2 * (time.perf_counter() - started) * steps
    if estimate >= SLOW_SECONDS:
        print(
            f"neurust demo: training {steps} steps on the {net.backend.name} backend will take "
            f"about {estimate / 60:.0f} minutes (pass --steps 50 for a shorter run)",
            file=sys.stderr,
            flush=True,
        )


def _two_layer(backend: str, steps: int, seed: int, progress: bool) -> nr.TwoLayerNet:
    _heading(4, "Two-layer network: 128 samples, 1000 → 100 → 1, ReLU, lr 1e-6")
    x, y = _tutorial.net_data(seed)
    sizes = (_tutorial.NET_INPUTS, _tutorial.NET_HIDDEN, _tutorial.NET_OUTPUTS)
    net = nr.TwoLayerNet(*sizes, activation="relu", seed=seed + 1, backend=backend)
    _warn_if_slow(net, x, y, steps)
    started = time.perf_counter()
    history = net.fit(x, y, steps=steps, lr=_tutorial.NET_LR, progress=progress)
    elapsed = time.perf_counter() - started
    print(f"   {'step':>5}  {'neurust loss':>14}  {'tutorial loss':>13}")
    for step in range(0, steps, 50):
        tutorial_loss = _tutorial.NET_LOSSES.get(step)
        tutorial_text = f"{tutorial_loss:>13.2f}" if tutorial_loss is not None else " " * 13
        print(f"   {step:>5}  {history[step]:>14.2f}  {tutorial_text}")
    final = float(net.loss(x, y))
    print(
        f"   after {steps} steps: {final:.2f} (tutorial: 61.5; 40-160 is typical for a random draw)"
    )
    print(
        f"   the loss fell {history[0] / final:,.0f}-fold in {elapsed:.2f} s "
        f"on the {net.backend.name} backend"
    )
    return net


def _perceptron() -> None:
    _heading(5, "Perceptron: heaviside(x · w + b), trained with the perceptron rule")
    inputs = [list(pair) for pair in _tutorial.GATE_INPUTS]
    for gate, targets in _tutorial.GATES.items():
        perceptron = nr.Perceptron(2).fit(inputs, targets, max_epochs=100)
        predictions = perceptron.predict(inputs).tolist()
        outcome = (
            f"converged in {perceptron.epochs_} epochs"
            if perceptron.converged_
            else f"no line separates it: stopped after {perceptron.epochs_} epochs"
        )
        print(
            f"   {gate:<3}  targets {list(targets)}  predicts {predictions}  "
            f"weights {perceptron.weights_.tolist()} bias {perceptron.bias_:g}  ({outcome})"
        )


def demo(
    backend: str = "rust",
    steps: int = 500,
    seed: int = 0,
    progress: bool = True,
    plots: str | os.PathLike[str] | None = None,
) -> None:
    """Walk through the tutorial's worked examples, printing each result beside its number.

    Parameters
    ----------
    backend : str
        Where the two-layer network trains.
    steps : int
        Training steps for the two-layer network (the tutorial runs 500).
    seed : int
        The random seed of the data and the weights.
    progress : bool
        Show a progress bar (on standard error) while training.
    plots : str or path-like, optional
        A folder to draw the tutorial's pictures into, as PNG files (needs matplotlib).

    Raises
    ------
    neurust._plots.PlotFolderError
        If ``plots`` cannot be created or written (checked before any work).
    """
    if plots is not None:
        from neurust import _plots

        folder = _plots.prepare_folder(plots)
    print(f"neurust {nr.__version__} demo: the tutorial's worked examples, computed by neurust")
    _one_neuron()
    _three_inputs()
    _relu_neuron()
    net = _two_layer(backend, steps, seed, progress)
    _perceptron()
    if plots is not None:
        _heading(6, f"Pictures: the tutorial's figures in {folder}")
        _plots.write_figures(folder, net)


MIN_STEPS, MAX_STEPS = 50, 10_000
"""The demo prints the loss every 50 steps (200 lines at most); 10,000 steps took 8 s on Rust."""

SLOW_SECONDS = 60.0
"""A training run expected to take longer is announced on standard error before it starts."""


def _bounded_int(low: int, high: int | None) -> Callable[[str], int]:
    """An argparse ``type``: an int in ``[low, high]``, else argparse's one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high:,}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="rust",
        help="where the net trains (default: rust); on python, 500 steps take many minutes, "
        "announced on standard error before training starts",
    )
    parser.add_argument(
        "--steps",
        type=_bounded_int(MIN_STEPS, MAX_STEPS),
        default=500,
        help=f"training steps, {MIN_STEPS} to {MAX_STEPS:,} (default: 500)",
    )
    parser.add_argument(
        "--seed", type=_bounded_int(0, None), default=0, help="random seed, 0 or more (default: 0)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--plots", metavar="DIR", help="also draw the tutorial's pictures as PNGs in DIR"
    )


def _run_demo(args: argparse.Namespace) -> int:
    try:
        nr.get_backend(args.backend)
    except ValueError as error:  # unknown, or known but unavailable here
        print(f"neurust demo: {error}", file=sys.stderr)
        return 2
    try:
        demo(args.backend, args.steps, args.seed, not args.no_progress, args.plots)
    except (ImportError, OSError) as error:  # --plots: no matplotlib, or an unwritable folder
        print(f"neurust demo: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurust demo: interrupted", file=sys.stderr)
        return 130
    return 0


# --------------------------------------------------------------------------------------
# neurust compare: implemented in the neurust.compare package, which owns its options
# --------------------------------------------------------------------------------------


def _run_compare(argv: Sequence[str]) -> int:
    # Imported only when asked for: the comparison pulls in optional libraries.
    from neurust import compare

    return compare.main(list(argv))


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurust", description="Neural-network kernels in Rust, compared with their peers."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo_parser = commands.add_parser(
        "demo", help="walk through the tutorial's worked examples (a few seconds)"
    )
    _add_demo_arguments(demo_parser)
    commands.add_parser(
        "compare",
        help="time the kernels on every backend (see: neurust compare --help)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neurust`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success.

    Examples
    --------
    >>> from neurust.cli import main
    >>> main(["demo", "--no-progress"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "compare":
        return _run_compare(argv[1:])  # compare parses its own options
    args = _parser().parse_args(argv)
    return _run_demo(args)
