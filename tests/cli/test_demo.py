"""``neurust demo``: the tutorial's worked examples in order, each beside its number."""

from __future__ import annotations

import re
import sys

import pytest

from neurust.cli import main
from support.children import run


@pytest.fixture(scope="module")
def demo_output() -> str:
    """The demo's output (run once: it trains the tutorial's network)."""
    result = run(
        [sys.executable, "-m", "neurust", "demo", "--no-progress"],
        timeout=120,
        check=True,
        cwd=None,
    )
    return result.stdout


def test_demo_shows_the_sections_in_the_tutorials_order(demo_output: str) -> None:
    titles = [
        "1. One neuron",
        "2. Three inputs",
        "3. A ReLU neuron",
        "4. Two-layer",
        "5. Perceptron",
    ]
    positions = [demo_output.index(title) for title in titles]
    assert positions == sorted(positions)


def test_demo_one_neuron_matches_the_tutorial(demo_output: str) -> None:
    for toes, prediction in [("8.5", "0.8500"), ("9.0", "0.9000"), ("9.5", "0.9500")]:
        assert re.search(rf"{re.escape(toes)}\s+{prediction}\s+0\.\d\d", demo_output)
    assert re.search(r"10\.0\s+1\.0000\s+1\.00", demo_output)


def test_demo_three_input_sums_match_the_tutorial(demo_output: str) -> None:
    for prediction, expected in [("0.9800", "0.98"), ("1.1100", "1.11"), ("1.1500", "1.15")]:
        assert re.search(rf"{prediction}\s+{expected}", demo_output)
    assert re.search(r"1\.0800\s+1\.08", demo_output)


def test_demo_relu_neuron_gives_nineteen(demo_output: str) -> None:
    assert "a = 19 (tutorial: 19)" in demo_output
    assert "relu(a) = 19 (tutorial: 19)" in demo_output


def test_demo_training_prints_the_loss_every_50_steps_and_falls_ten_thousand_fold(
    demo_output: str,
) -> None:
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+(?:[\d.]+)?$", demo_output, re.MULTILINE)
    steps = [int(step) for step, _ in rows]
    assert steps == list(range(0, 500, 50))
    losses = [float(loss) for _, loss in rows]
    assert losses[0] > 1e6
    fold = re.search(r"the loss fell ([\d,]+)-fold", demo_output)
    assert fold is not None
    assert int(fold.group(1).replace(",", "")) >= 10_000


def test_demo_perceptron_learns_and_or_but_not_xor(demo_output: str) -> None:
    assert re.search(r"AND .*predicts \[0, 0, 0, 1\].*converged", demo_output)
    assert re.search(r"OR .*predicts \[0, 1, 1, 1\].*converged", demo_output)
    assert re.search(r"XOR .*stopped after 100 epochs", demo_output)


def test_demo_rejects_an_unavailable_backend(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--backend", "fortran", "--no-progress"]) == 2
    assert "unknown backend 'fortran'" in capsys.readouterr().err


def test_help_lists_demo_and_compare(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "compare" in out


def test_demo_with_progress_bar_runs_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "50", "--backend", "numpy"]) == 0
    assert "50/50" in capsys.readouterr().err  # a progress bar belongs on standard error
