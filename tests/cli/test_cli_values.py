"""Bad option values of `neurust compare` and `neurust demo`: exit 2 with one line, no traceback.

Each case was a traceback, a file written under a surprising name, or a run without end
before the checks that these tests pin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from neurust import cli as top_cli
from neurust import compare
from neurust.compare import cli

TINY = [
    "--quick",
    "--repeat",
    "2",
    "--min-time",
    "0.0005",
    "--no-progress",
    "--workloads",
    "relu",
    "--sizes",
    "relu=4",
    "--backends",
    "numpy,rust",
]


@pytest.fixture
def no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_comparison(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("measuring started before the options were checked")

    monkeypatch.setattr(cli, "run_comparison", run_comparison)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Standard error of a command that must exit 2 with a one-line message."""
    with pytest.raises(SystemExit) as exit_info:
        compare.main(list(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()[-1]) > 0
    return err.strip().splitlines()[-1]


@pytest.mark.usefixtures("no_measuring")
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--threads", "5000"], "--threads: 5000 is more than"),
        (["--threads", "0"], "--threads"),
        (["--repeat", "99999999999999999999"], "99999999999999999999 is not a positive integer"),
        (["--repeat", "0"], "--repeat: 0 is not a positive integer"),
        (["--plot", "."], "is not a file name"),
        (["--plot", ""], "is not a file name"),
        (["--plot", "/"], "is not a file name"),
        (["--plot", ".."], "is not a file name"),
        (["--plot", "a/"], "is not a file name"),
        (["--json", "a/"], "is not a file name"),
        (["--json", ".."], "is not a file name"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    if "--plot" in argv:
        pytest.importorskip("matplotlib")
    assert expected in refused(capsys, *TINY, *argv)


@pytest.mark.usefixtures("no_measuring")
@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
@pytest.mark.parametrize("option", ["--plot", "--json"])
def test_a_device_is_not_a_file_to_write(capsys: pytest.CaptureFixture[str], option: str) -> None:
    if option == "--plot":
        pytest.importorskip("matplotlib")
    assert "is not a regular file" in refused(capsys, *TINY, option, "/dev/null")


def test_json_dash_writes_the_report_to_standard_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert compare.main([*TINY, "--json", "-"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["results"]
    assert not (tmp_path / "-").exists()


def test_demo_plots_into_a_folder_where_nothing_can_be_created_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("matplotlib")
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    assert top_cli.main(["demo", "--plots", "/proc/self"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "the folder exists but a file cannot be created in it" in err
