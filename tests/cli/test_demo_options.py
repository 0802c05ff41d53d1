"""``neurust demo``: bad options are one argparse line, Ctrl-C is 130, the bar stays off stdout."""

from __future__ import annotations

from typing import Any

import pytest

import neurust as nr
from neurust import cli
from neurust.cli import main


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--seed", "-1", "must be at least 0, got -1"),
        ("--seed", "abc", "expected an integer"),
        ("--steps", "10000000000000", "must be between 50 and 10,000"),
        ("--steps", "49", "must be between 50 and 10,000"),
        ("--steps", "1e3", "expected an integer"),
    ],
)
def test_bad_seed_and_steps_are_one_line_argparse_errors(
    capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", option, value])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("neurust demo: error: argument")
    assert option in last
    assert message in last
    assert "Traceback" not in captured.err


def interrupt(*args: Any, **kwargs: Any) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_exits_with_130_and_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nr.TwoLayerNet, "fit", interrupt)
    assert main(["demo", "--backend", "numpy", "--no-progress"]) == 130
    assert capsys.readouterr().err == "neurust demo: interrupted\n"


def test_the_training_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "50", "--backend", "numpy"]) == 0
    captured = capsys.readouterr()
    assert "50/50" in captured.err
    assert "50/50" not in captured.out
    assert "━" not in captured.out


def test_a_slow_backend_is_announced_before_training(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The python backend's 500 steps are estimated from a measured pass and announced."""
    announced: list[str] = []

    def fit_after_the_warning(*args: Any, **kwargs: Any) -> None:
        announced.append(capsys.readouterr().err)
        raise KeyboardInterrupt  # the real run takes many minutes

    monkeypatch.setattr(cli, "SLOW_SECONDS", 0.0)  # any measured time counts as slow
    monkeypatch.setattr(nr.TwoLayerNet, "fit", fit_after_the_warning)
    assert main(["demo", "--backend", "python", "--no-progress"]) == 130
    assert "training 500 steps on the python backend will take about" in announced[0]
    assert "--steps 50" in announced[0]


def test_a_fast_backend_is_not_announced(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "SLOW_SECONDS", 0.0)
    monkeypatch.setattr(nr.TwoLayerNet, "fit", interrupt)
    assert main(["demo", "--backend", "numpy", "--no-progress"]) == 130
    assert "will take" not in capsys.readouterr().err
