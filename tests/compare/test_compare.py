"""`neurust compare`: the timing helper (with a fake clock) and the command end to end.

No test here asserts how long anything takes; the fake clock makes the timing
helper's arithmetic exact, and the end-to-end runs check only what is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import compare
from neurust.backends import TrainStep, capability
from neurust.backends.numpy import NumpyBackend
from neurust.backends.python import PythonBackend
from neurust.compare import sweep
from support.children import run

# Settings that make a sweep finish in a second or two.
FAST = ["--quick", "--repeat", "2", "--min-time", "0.0005", "--no-progress"]
# Two cheap workloads at their smallest sizes.
TINY_SWEEP = [
    *FAST,
    "--workloads",
    "weighted_sum,relu",
    "--sizes",
    "weighted_sum=toes",
    "--sizes",
    "relu=4",
]


class FakeClock:
    """A nanosecond clock that moves only when the code under test says so."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def costing(self, nanoseconds: int, result: Any = None) -> Any:
        """A call that takes ``nanoseconds`` of fake time and counts its calls."""

        def call() -> Any:
            call.count += 1  # type: ignore[attr-defined]
            self.now += nanoseconds
            return result

        call.count = 0  # type: ignore[attr-defined]
        return call


# -- the timing helper ---------------------------------------------------------------------


def test_measure_reports_time_per_call_of_batched_samples() -> None:
    clock = FakeClock()
    call = clock.costing(1_000)
    timing = compare.measure(call, repeat=5, warmup=1, clock=clock, min_sample_ns=10_000)
    assert timing.calls_per_sample == 10  # calibration: 1, 2, 5, 10 calls
    assert timing.samples_ns == (1_000.0,) * 5
    assert timing.median_ns == 1_000.0
    assert timing.iqr_ns == 0.0


def test_warm_up_calls_are_left_out_of_the_samples() -> None:
    clock = FakeClock()
    costs = iter([5_000_000] + [1_000] * 10_000)  # the first call compiles

    def call() -> None:
        clock.now += next(costs)

    timing = compare.measure(call, repeat=3, warmup=1, clock=clock, min_sample_ns=1_000)
    assert timing.samples_ns == (1_000.0,) * 3
    assert timing.warmup_calls == 1


def test_a_call_longer_than_a_sample_is_made_once_per_sample_plus_one_warm_up() -> None:
    clock = FakeClock()
    call = clock.costing(2_000_000_000)  # two seconds
    timing = compare.measure(call, repeat=3, warmup=1, clock=clock, min_sample_ns=50_000_000)
    assert timing.calls_per_sample == 1
    assert timing.samples_ns == (2e9,) * 3
    assert call.count == 4  # the calibration batch is the first sample


def test_warm_up_returns_the_first_result_for_the_check_against_numpy() -> None:
    results = iter(["first", "second", "third"])
    timer = compare.Timer(lambda: next(results))
    assert timer.warm_up(2) == "first"
    assert timer.warmup_calls == 2


def test_sync_hook_runs_inside_the_timed_region_after_every_call() -> None:
    clock = FakeClock()
    call = clock.costing(1_000, result="queued work")
    synced: list[Any] = []

    def sync(result: Any) -> None:
        synced.append(result)
        clock.now += 500  # waiting for the device is part of the call's time

    timing = compare.measure(call, repeat=3, sync=sync, clock=clock, min_sample_ns=1_000)
    assert timing.median_ns == 1_500.0
    assert len(synced) == call.count
    assert set(synced) == {"queued work"}


def test_calibration_grows_until_a_sample_lasts_the_minimum_time() -> None:
    clock = FakeClock()
    timer = compare.Timer(clock.costing(300), clock=clock, min_sample_ns=100_000)
    assert timer.calibrate() == 500  # 1, 2, 5, ..., 200 are too short; 500 × 300 ns ≥ 0.1 ms


def test_a_sample_stops_early_when_calls_become_much_slower_than_calibrated() -> None:
    clock = FakeClock()
    cost = {"ns": 1_000}

    def call() -> None:
        clock.now += cost["ns"]

    timer = compare.Timer(call, clock=clock, min_sample_ns=100_000, max_sample_factor=20)
    assert timer.calibrate() == 100
    timer.sample()  # the calibration batch
    cost["ns"] = 1_000_000  # the machine got busy: each tenth of a batch now takes 10 ms
    before = clock.now
    assert timer.sample() == 1_000_000.0
    assert clock.now - before == 10 * 1_000_000  # one tenth (10 calls) passed the 2 ms cap


def test_calibration_stops_at_the_cap_for_a_call_that_takes_no_time() -> None:
    clock = FakeClock()
    timer = compare.Timer(clock.costing(0), clock=clock, max_calls_per_sample=1_000)
    assert timer.calibrate() == 1_000


def test_timing_median_and_interquartile_range() -> None:
    timing = compare.Timing((4.0, 1.0, 3.0, 100.0, 2.0), calls_per_sample=1, warmup_calls=1)
    assert timing.median_ns == 3.0
    assert (timing.q1_ns, timing.q3_ns, timing.iqr_ns) == (2.0, 4.0, 2.0)


def test_interleaved_rounds_start_one_timer_later_each_time() -> None:
    clock = FakeClock()
    order: list[str] = []

    def timed(name: str) -> compare.Timer:
        def call() -> None:
            order.append(name)
            clock.now += 10

        return compare.Timer(call, clock=clock)

    timers = {"a": timed("a"), "b": timed("b"), "c": timed("c")}
    timings = compare.measure_interleaved(timers, repeat=4)
    # No timer always runs right after the same other one.
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert timings["a"].samples_ns == (10.0,) * 4
    assert list(timings) == ["a", "b", "c"]


def test_interleaved_samples_wait_for_idle_pools_before_each_sample() -> None:
    clock = FakeClock()
    events: list[str] = []

    def timed(name: str) -> compare.Timer:
        def call() -> None:
            events.append(name)
            clock.now += 10

        return compare.Timer(call, clock=clock)

    compare.measure_interleaved(
        {"a": timed("a"), "b": timed("b")}, repeat=2, settle=lambda: events.append("settle")
    )
    assert events == ["settle", "a", "settle", "b", "settle", "b", "settle", "a"]


def test_a_timer_that_raises_is_dropped_and_the_others_go_on() -> None:
    clock = FakeClock()
    calls = {"count": 0}

    def fails_on_second_sample() -> None:
        calls["count"] += 1
        if calls["count"] == 2:
            raise FloatingPointError("the loss became inf")

    errors: list[str] = []
    timings = compare.measure_interleaved(
        {
            "broken": compare.Timer(fails_on_second_sample, clock=clock),
            "fine": compare.Timer(clock.costing(10), clock=clock),
        },
        repeat=3,
        on_error=lambda name, error: errors.append(f"{name}: {error}"),
    )
    assert errors == ["broken: the loss became inf"]
    assert list(timings) == ["fine"]
    assert len(timings["fine"].samples_ns) == 3


# -- the check against numpy ---------------------------------------------------------------


def test_max_error_is_zero_for_equal_results_and_nan_matches_nan() -> None:
    assert compare.max_error([1.0, np.nan], np.array([1.0, np.nan])) == 0.0


def test_max_error_is_relative_to_the_largest_magnitude() -> None:
    assert compare.max_error([100.0, 1.5], np.array([100.0, 1.0])) == pytest.approx(0.005)


def test_max_error_elementwise_follows_a_falling_loss_down_to_the_rounding_floor() -> None:
    expected = np.array([100.0, 1.0, 1e-12])
    assert compare.max_error([100.0, 1.01, 1e-12], expected, "elementwise") == pytest.approx(0.01)
    got = [100.0, 1.0, 2e-12]  # noise far below 100 × 1e-7 counts against 1e-5, not 1e-12
    assert compare.max_error(got, expected, "elementwise", floor=1e-7) == pytest.approx(1e-7)


def test_max_error_is_infinite_for_a_different_shape() -> None:
    assert compare.max_error(np.zeros(3), np.zeros((3, 1))) == float("inf")


# -- what a backend can do: declared capabilities, never its name -------------------------


def test_a_workload_that_needs_a_capability_runs_on_a_backend_that_declares_it() -> None:
    class WritablePython(PythonBackend):
        def relu_into(self, x: list[float], out: list[float]) -> list[float]:
            out[:] = self.relu(x)
            return out

    relu_out = compare.WORKLOADS["relu_out"]
    size = relu_out.parse_size("4")
    assert compare.skip_reason(relu_out, size, "float64", 1, WritablePython(), 1) is None
    reason = compare.skip_reason(relu_out, size, "float64", 1, PythonBackend(), 1)
    assert reason == "nested lists have no out= (they are rebuilt on every call)"


def test_backends_without_relu_into_or_copy_into_are_skipped_with_their_own_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    argv = [*FAST, "--workloads", "relu_out,copy", "--sizes", "4", "--json", str(path)]
    status, _, _ = run_main(capsys, *argv, "--backends", "python,numpy,rust")
    assert status == 0
    results = {(r["workload"], r["backend"]): r for r in json.loads(path.read_text())["results"]}
    assert {key: r["status"] for key, r in results.items()} == {
        ("relu_out", "python"): "skipped",
        ("relu_out", "numpy"): "ok",
        ("relu_out", "rust"): "ok",
        ("copy", "python"): "skipped",
        ("copy", "numpy"): "ok",
        ("copy", "rust"): "skipped",
    }
    assert "nested lists have no out=" in results[("copy", "python")]["reason"]
    assert "neurust has no copy kernel" in results[("copy", "rust")]["reason"]


def _train_step_case(backend: nr.Backend) -> tuple[compare.Case, compare.Size]:
    workload = compare.WORKLOADS["train_step"]
    size = workload.parse_size("4x3x8x1")
    inputs = workload.make_inputs(size, np.dtype("float64"), np.random.default_rng(0))
    return workload.prepare(backend, inputs, size), size


def test_train_step_calls_the_fused_step_of_a_backend_that_declares_one() -> None:
    steps: list[tuple[Any, ...]] = []

    class Fused(NumpyBackend):
        def mlp_train_step(self, *args: Any) -> Any:
            steps.append(args[3:])  # activation, reduction, learning rate
            return super().mlp_train_step(*args)

    case, size = _train_step_case(Fused())
    case.call()
    case.call()
    assert steps == [("relu", "sum", compare.learning_rate(size))] * 2


def test_train_step_without_a_fused_step_takes_gradients_then_a_step() -> None:
    class Unfused:
        """numpy's calls, less the optional fused step (a backend written to the bare protocol)."""

        def __init__(self) -> None:
            self._numpy = NumpyBackend()

        def __getattr__(self, name: str) -> Any:
            if name == "mlp_train_step":
                raise AttributeError(name)
            return getattr(self._numpy, name)

    unfused: Any = Unfused()
    assert capability(unfused, TrainStep) is None
    got, _ = _train_step_case(unfused)
    expected, _ = _train_step_case(NumpyBackend())
    error = compare.max_error(got.result(got.call()), expected.result(expected.call()))
    assert error <= compare.TOLERANCE["float64"]


def test_sync_hook_waits_only_for_a_backend_that_queues_work() -> None:
    class Queued(NumpyBackend):
        asynchronous = True

    queued = Queued()
    assert compare.sync_hook(NumpyBackend()) is None
    assert compare.sync_hook(queued) == queued.synchronize


# -- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "count"), [("4", 4), ("1k", 1024), ("16M", 16 << 20)])
def test_parse_count_reads_binary_suffixes(text: str, count: int) -> None:
    assert compare.parse_count(text) == count


@pytest.mark.parametrize("text", ["0", "-3", "1.5", "12q", ""])
def test_parse_count_rejects_what_is_not_a_positive_count(text: str) -> None:
    with pytest.raises(ValueError, match="positive count"):
        compare.parse_count(text)


def test_every_workloads_default_sizes_parse() -> None:
    for workload in compare.WORKLOADS.values():
        for text in workload.sizes + workload.quick_sizes:
            workload.parse_size(text)


# -- the command end to end ----------------------------------------------------------------


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = compare.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_quick_tiny_sweep_writes_json_with_machine_software_and_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    status, out, _ = run_main(capsys, *TINY_SWEEP, "--backends", "numpy,rust", "--json", str(path))
    assert status == 0
    assert "weighted_sum" in out and "winner" in out
    report = json.loads(path.read_text())
    assert report["schema"] == compare.JSON_SCHEMA_VERSION
    assert {"cpu_model", "logical_cores", "usable_cores", "simd", "gpus"} <= set(report["machine"])
    software = report["software"]
    assert {"python", "numpy", "threadpools", "torch", "jax"} <= set(software)
    assert software["neurust"]["version"] == nr.__version__
    assert "profile" in software["neurust"]
    assert report["settings"]["repeat"] == 2
    results = report["results"]
    assert {(r["workload"], r["size"], r["backend"]) for r in results} == {
        (workload, size, backend)
        for workload, size in [("weighted_sum", "toes"), ("relu", "4")]
        for backend in ("numpy", "rust")
    }
    for result in results:
        assert result["status"] == "ok"
        assert len(result["samples_s"]) == 2
        assert result["q1_s"] <= result["median_s"] <= result["q3_s"]
        assert result["calls_per_sample"] >= 1
        assert result["max_error"] <= compare.TOLERANCE["float64"]
        assert result["throughput_unit"] in ("GFLOP/s", "GB/s")
    numpy_results = [r for r in results if r["backend"] == "numpy"]
    assert all(r["speedup_vs_numpy"] == pytest.approx(1.0) for r in numpy_results)
    # Two OpenBLAS copies are loaded (numpy's and neurust's); the header names numpy's.
    numpy_blas = [
        lib for lib in software["threadpools"] if lib["user_api"] == "blas" and lib["numpy"]
    ]
    header = next(line for line in out.splitlines() if "neurust compare ·" in line)
    if numpy_blas:
        assert f"{numpy_blas[0]['internal_api']} {numpy_blas[0]['version']}" in header
    for workload in ("weighted_sum", "relu"):
        winners = [r for r in results if r["workload"] == workload and r["winner"]]
        assert len(winners) == 1


def test_plot_is_written_as_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.png"
    status, out, _ = run_main(capsys, *TINY_SWEEP, "--backends", "numpy,rust", "--plot", str(path))
    assert status == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in out


def test_unavailable_backend_is_reported_as_skipped_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def get_backend(name: str) -> nr.Backend:
        if name == "torch-cuda":
            raise nr.BackendUnavailableError("backend 'torch-cuda' is not available: no GPU here")
        return nr.get_backend(name)

    monkeypatch.setattr(sweep, "get_backend", get_backend)
    path = tmp_path / "run.json"
    status, out, _ = run_main(
        capsys, *TINY_SWEEP, "--backends", "numpy,torch-cuda,rust", "--json", str(path)
    )
    assert status == 0
    assert "skipped backend torch-cuda" in out and "no GPU here" in out
    report = json.loads(path.read_text())
    assert "no GPU here" in report["unavailable_backends"]["torch-cuda"]
    assert {r["backend"] for r in report["results"]} == {"numpy", "rust"}


def test_pure_python_is_skipped_above_its_size_limit_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    too_big = 2 * compare.WORKLOADS["relu"].python_limit
    path = tmp_path / "run.json"
    argv = [*FAST, "--workloads", "relu", "--sizes", f"relu=4,{too_big:.0f}"]
    status, out, _ = run_main(capsys, *argv, "--backends", "python,numpy", "--json", str(path))
    assert status == 0
    statuses = {
        (r["size"], r["backend"]): (r["status"], r["reason"])
        for r in json.loads(path.read_text())["results"]
    }
    assert statuses[("4", "python")] == ("ok", None)
    status_at_limit, reason = statuses[(f"{too_big:.0f}", "python")]
    assert status_at_limit == "skipped"
    assert "pure Python" in reason and reason in out


def test_a_result_that_differs_from_numpy_is_shown_as_a_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class WrongRelu(NumpyBackend):
        name = "rust"

        def relu(self, x: np.ndarray) -> np.ndarray:
            return x  # forgets to clip the negatives

    def get_backend(name: str) -> nr.Backend:
        return WrongRelu() if name == "rust" else nr.get_backend(name)

    monkeypatch.setattr(sweep, "get_backend", get_backend)
    path = tmp_path / "run.json"
    argv = [*FAST, "--workloads", "relu", "--sizes", "relu=1k"]
    status, out, _ = run_main(capsys, *argv, "--backends", "numpy,rust", "--json", str(path))
    assert status == 1
    assert "MISMATCH" in out
    rust = next(r for r in json.loads(path.read_text())["results"] if r["backend"] == "rust")
    assert rust["status"] == "mismatch"
    assert rust["median_s"] is not None  # still timed, and shown
    assert not rust["winner"]
    assert "differs from numpy" in rust["reason"]


def test_a_backend_that_raises_is_reported_as_an_error_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(NumpyBackend):
        name = "rust"

        def relu(self, x: np.ndarray) -> np.ndarray:
            raise RuntimeError("kernel exploded")

    monkeypatch.setattr(
        sweep, "get_backend", lambda name: Broken() if name == "rust" else nr.get_backend(name)
    )
    status, out, _ = run_main(capsys, *TINY_SWEEP, "--backends", "numpy,rust")
    assert status == 1
    assert "kernel exploded" in out
    assert "weighted_sum" in out  # the other workload still ran


@pytest.mark.parametrize(
    ("option", "value", "listed"),
    [
        ("--backends", "numpy,nope", "torch-cuda"),
        ("--workloads", "relu,nope", "weighted_sum"),
        ("--dtype", "float16", "float32"),
        ("--threads", "0", "positive integers"),
        ("--threads", "two", "positive integers"),
        ("--repeat", "0", "positive integer"),
        ("--sizes", "relu=lots", "N elements"),
        ("--sizes", "nope=4", "weighted_sum"),
        ("--min-time", "-1", "positive number"),
    ],
)
def test_bad_option_exits_with_status_2_listing_the_valid_choices(
    capsys: pytest.CaptureFixture[str], option: str, value: str, listed: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["--quick", "--no-progress", option, value])
    assert exit_info.value.code == 2
    assert listed in capsys.readouterr().err


def neurust_command(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m neurust ...`` (the console script's code) in a fresh interpreter."""
    return run([sys.executable, "-m", "neurust", *argv], timeout=600, cwd=None)


def test_neurust_compare_runs_from_the_shell(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    completed = neurust_command(
        "compare", *TINY_SWEEP, "--backends", "numpy,rust", "--json", str(path)
    )
    assert completed.returncode == 0, completed.stderr
    assert "winner" in completed.stdout
    report = json.loads(path.read_text())
    assert report["command"][:2] == ["neurust", "compare"]
    assert len(report["results"]) == 4


def test_bad_option_from_the_shell_exits_with_status_2() -> None:
    completed = neurust_command("compare", "--quick", "--backends", "nope")
    assert completed.returncode == 2
    assert "valid choices: python, numpy, torch, torch-cuda, jax, rust" in completed.stderr
