"""`neurust compare`'s command line: output files, bounds, memory, what counts as a measurement.

No test here asserts how long anything takes.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import compare
from neurust.compare import cli, sweep

FAST = ["--quick", "--repeat", "2", "--min-time", "0.0005", "--no-progress"]
TINY = [*FAST, "--workloads", "relu", "--sizes", "relu=4", "--backends", "numpy,rust"]
COMPARISON_PAGE = Path(__file__).resolve().parents[2] / "docs" / "comparison.md"


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = compare.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def refuse(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must exit with status 2; its standard error."""
    with pytest.raises(SystemExit) as exit_info:
        compare.main(list(argv))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make measuring fail the test: options must be refused before it starts."""

    def run_comparison(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("measuring started before the options were checked")

    monkeypatch.setattr(cli, "run_comparison", run_comparison)


# -- output files: checked before measuring, reported as written ----------------------------


@pytest.mark.usefixtures("no_measuring")
@pytest.mark.parametrize(
    ("option", "name", "expected"),
    [
        ("--json", "missing/run.json", "does not exist"),
        ("--json", ".", "is a folder"),
        ("--plot", "missing/plot.png", "does not exist"),
        ("--plot", "out.txt", "unsupported extension '.txt'"),
        ("--plot", "folder.png", "is a folder"),
    ],
)
def test_output_files_are_checked_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, name: str, expected: str
) -> None:
    if option == "--plot":
        pytest.importorskip("matplotlib")
    (tmp_path / "folder.png").mkdir()
    err = refuse(capsys, *TINY, option, str(tmp_path / name))
    assert option in err and expected in err


def test_plot_without_extension_reports_the_png_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    status, out, _ = run_main(capsys, *TINY, "--plot", str(tmp_path / "out"))
    assert status == 0
    written = tmp_path / "out.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {written}\n" in out


def test_a_write_that_fails_after_the_run_keeps_the_table_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_json(report: compare.Report, path: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "write_json", write_json)
    status, out, err = run_main(capsys, *TINY, "--json", str(tmp_path / "run.json"))
    assert status == 1
    assert "winner" in out  # the table is there
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "could not write --json" in lines[0]
    assert "No space left on device" in lines[0]


# -- bounds on the options ------------------------------------------------------------------


@pytest.mark.usefixtures("no_measuring")
@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e9"])
def test_min_time_must_be_a_finite_sensible_number_of_seconds(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    err = refuse(capsys, *TINY, "--min-time", value)
    assert "--min-time" in err and "positive number of seconds up to 10" in err


def _settings(*argv: str) -> compare.Settings:
    parser = argparse.ArgumentParser()
    compare.add_arguments(parser)
    return compare.settings_from_args(parser.parse_args(list(argv)), parser)


def test_more_threads_than_cores_warns_that_they_are_oversubscribed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cores = compare.available_cores()
    _settings("--threads", f"1,{cores}")
    assert capsys.readouterr().err == ""
    settings = _settings("--threads", "1000")
    assert settings.threads == (1000,)
    err = capsys.readouterr().err
    assert "warning" in err and "oversubscribed" in err and f"{cores} usable core" in err


def test_one_size_written_several_ways_is_measured_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _settings("--sizes", "relu=1k,1K,1024,4", "--workloads", "relu").sizes == {
        "relu": ("1k", "4")
    }
    path = tmp_path / "run.json"
    argv = [*FAST, "--workloads", "relu", "--sizes", "relu=1k,1K,1024", "--backends", "numpy"]
    status, _, _ = run_main(capsys, *argv, "--json", str(path))
    assert status == 0
    assert [r["size"] for r in json.loads(path.read_text())["results"]] == ["1k"]


def test_repeated_sizes_given_to_the_api_are_measured_once() -> None:
    report = compare.run_comparison(
        compare.Settings(
            backends=("numpy",),
            workloads=("relu",),
            sizes={"relu": ("4", "4")},
            repeat=1,
            min_sample_s=1e-4,
        )
    )
    assert [m.size for m in report.measurements] == ["4"]


# -- what could not run ---------------------------------------------------------------------


def test_a_case_too_large_for_memory_is_skipped_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    argv = [*FAST, "--workloads", "linear", "--sizes", "linear=4,99999999"]
    status, out, err = run_main(capsys, *argv, "--backends", "numpy,rust", "--json", str(path))
    assert status == 0, err
    results = {(r["size"], r["backend"]): r for r in json.loads(path.read_text())["results"]}
    assert results[("4", "rust")]["status"] == "ok"
    huge = results[("99999999", "rust")]
    assert huge["status"] == "skipped"
    assert "GiB" in huge["reason"] and "available" in huge["reason"]
    assert "MemoryError" not in out + err
    assert "2 measurements (2 cells skipped or failed)" in out


@pytest.mark.parametrize(("name", "text"), [("linear", "1k"), ("fit", "128x1000x100x1:5")])
def test_memory_estimate_covers_the_inputs_once_per_backend(name: str, text: str) -> None:
    workload = compare.WORKLOADS[name]
    size = workload.parse_size(text)
    inputs = workload.make_inputs(size, np.dtype("float64"), np.random.default_rng(0))
    held = sum(array.nbytes for array in inputs.values())
    assert workload.memory_needed(size, 8, backends=2) >= 3 * held


def test_nothing_that_could_run_exits_1_and_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def get_backend(name: str) -> nr.Backend:
        if name == "torch-cuda":
            raise nr.BackendUnavailableError("backend 'torch-cuda' is not available: no GPU here")
        return nr.get_backend(name)

    monkeypatch.setattr(sweep, "get_backend", get_backend)
    status, out, err = run_main(capsys, *FAST, "--workloads", "relu", "--backends", "torch-cuda")
    assert status == 1
    assert "no GPU here" in out
    assert "nothing could run" in err
    assert "0 measurements" in out


def test_skipped_cells_are_not_counted_as_measurements(
    capsys: pytest.CaptureFixture[str],
) -> None:
    too_big = 2 * compare.WORKLOADS["relu"].python_limit
    argv = [*FAST, "--workloads", "relu", "--sizes", f"relu=4,{too_big:.0f}"]
    status, out, _ = run_main(capsys, *argv, "--backends", "python,numpy")
    assert status == 0
    assert "3 measurements (1 cell skipped or failed)" in out


# -- the default sizes: what runs, what --help says, what the docs say --------------------


def test_quick_sizes_are_part_of_the_full_sweep() -> None:
    for workload in compare.WORKLOADS.values():
        full = {(s.dims, s.steps) for s in workload.read_sizes(workload.sizes)}
        quick = {(s.dims, s.steps) for s in workload.read_sizes(workload.quick_sizes)}
        assert quick <= full, workload.name


def test_help_lists_the_sizes_that_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        compare.main(["--help"])
    out = capsys.readouterr().out
    for workload in compare.WORKLOADS.values():
        assert f"  {workload.name}: " in out
        assert f"      {', '.join(workload.sizes)}; --quick: " in out
        assert compare.Settings(quick=False).sizes_of(workload) == workload.sizes


def test_comparison_page_lists_the_sizes_that_run() -> None:
    rows = {}
    for line in COMPARISON_PAGE.read_text().splitlines():
        match = re.match(r"\| `(\w+)`(?:, `(\w+)`)? \| .* \| (.+) \|$", line)
        if match:
            for name in match.group(1, 2):
                if name:
                    rows[name] = match.group(3)
    assert {"weighted_sum", "relu", "linear", "train_step", "fit"} <= rows.keys()
    for workload in compare.WORKLOADS.values():
        if workload.name not in rows or "…" in rows[workload.name]:
            continue  # relu_out and copy: run only when named, listed as a range
        cells = [cell.strip() for cell in rows[workload.name].split(",")]
        listed = [
            cell.split()[0].strip("*") for cell in cells if "(" not in cell or "(relu)" in cell
        ]
        bold = [cell.split()[0].strip("*") for cell in cells if cell.startswith("**")]
        assert listed == list(workload.sizes), workload.name
        if workload.in_quick and workload.name != "sigmoid":
            assert bold == list(workload.quick_sizes), workload.name
