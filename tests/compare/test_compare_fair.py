"""`neurust compare`'s fairness: idle pools before each sample, and each backend in its own process.

No test here asserts how long anything takes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from neurust import compare
from neurust.compare import sweep, threads

FAST = ["--quick", "--repeat", "2", "--min-time", "0.0005", "--no-progress"]
TINY = [*FAST, "--workloads", "weighted_sum,relu", "--sizes", "weighted_sum=toes", "--sizes"]


@pytest.fixture
def fake_cpu_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The other threads' CPU time, read from a list: each read takes the next value."""
    readings: list[int] = []

    def read(me: int) -> int:
        return readings.pop(0) if len(readings) > 1 else readings[0]

    monkeypatch.setattr(threads, "_other_threads_cpu_ns", read)
    monkeypatch.setattr(threads, "_IDLE_WINDOW_S", 0.0001)
    yield readings


def test_idle_means_several_quiet_windows_in_a_row(fake_cpu_time: list[int]) -> None:
    # Busy (a second of CPU per window), quiet, busy again, then quiet for good.
    fake_cpu_time += [0, 10**9, 10**9, 2 * 10**9, 2 * 10**9]
    assert threads.wait_until_idle(timeout_s=5.0)
    assert len(fake_cpu_time) == 1  # it read every value: one quiet window was not enough


def test_a_pool_that_never_goes_idle_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    used = {"ns": 0}

    def busy(me: int) -> int:
        used["ns"] += 10**9  # a second of CPU between any two reads
        return used["ns"]

    monkeypatch.setattr(threads, "_other_threads_cpu_ns", busy)
    assert not threads.wait_until_idle(timeout_s=0.01)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc")
def test_other_threads_cpu_time_is_readable_and_grows_with_a_busy_thread() -> None:
    import threading

    me = threading.get_native_id()
    before = threads._other_threads_cpu_ns(me)
    assert before is not None
    done = threading.Event()

    def spin() -> None:
        total = 0
        while not done.is_set():
            total += sum(range(1000))

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        after = before
        for _ in range(200):  # up to about 2 s on a busy machine
            done.wait(0.01)
            after = threads._other_threads_cpu_ns(me) or 0
            if after > before:
                break
    finally:
        done.set()
        thread.join(timeout=10)
    assert after > before


def test_the_sweep_waits_for_idle_pools_before_calibrating_and_each_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    def wait_until_idle(timeout_s: float = 1.0) -> bool:
        waits.append(timeout_s)
        return True

    monkeypatch.setattr(compare.sweep, "wait_until_idle", wait_until_idle)
    settings = compare.Settings(
        backends=("numpy", "rust"),
        workloads=("relu",),
        sizes={"relu": ("4", "1k")},
        repeat=3,
        min_sample_s=1e-4,
    )
    report = compare.run_comparison(settings)
    assert all(m.status == "ok" for m in report.measurements)
    # 2 sizes × 2 backends × (1 calibration + 3 samples)
    assert len(waits) == 2 * 2 * (1 + 3)


def test_a_pool_that_stays_busy_is_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare.sweep, "wait_until_idle", lambda: False)
    settings = compare.Settings(
        backends=("numpy",), workloads=("relu",), sizes={"relu": ("4",)}, repeat=1
    )
    report = compare.run_comparison(settings)
    assert any("still busy" in note for note in report.notes)


# -- --isolate: each backend in a worker process of its own -------------------------------


def test_isolate_runs_each_backend_in_its_own_process_and_ranks_them_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.json"
    argv = [*TINY, "relu=4", "--backends", "numpy,rust", "--isolate", "--json", str(path)]
    status = compare.main(argv)
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads(path.read_text())
    assert report["settings"]["isolate"] is True
    results = report["results"]
    assert [(r["workload"], r["backend"]) for r in results] == [
        ("weighted_sum", "numpy"),
        ("weighted_sum", "rust"),
        ("relu", "numpy"),
        ("relu", "rust"),
    ]
    for result in results:
        assert result["status"] == "ok"
        assert result["max_error"] <= compare.TOLERANCE["float64"]  # checked in the worker
        assert len(result["samples_s"]) == 2
    assert all(r["speedup_vs_numpy"] == 1.0 for r in results if r["backend"] == "numpy")
    for workload in ("weighted_sum", "relu"):
        assert sum(r["winner"] for r in results if r["workload"] == workload) == 1
    assert "winner" in out


def test_a_worker_that_does_not_finish_in_time_is_stopped_and_reported() -> None:
    settings = compare.Settings(backends=("numpy",), workloads=("relu",), sizes={"relu": ("4",)})
    result = sweep.run_worker(settings, timeout_s=0.001)
    assert isinstance(result, str)
    assert "did not finish within" in result


def test_a_worker_that_fails_marks_its_backend_as_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sweep.run_worker

    def run_worker(settings: compare.Settings, timeout_s: float = 60.0) -> object:
        if settings.backends == ("rust",):
            return "its worker process exited with status 1: boom"
        return real(settings, timeout_s)

    monkeypatch.setattr(compare.sweep, "run_worker", run_worker)
    settings = compare.Settings(
        backends=("numpy", "rust"),
        workloads=("relu",),
        sizes={"relu": ("4",)},
        repeat=1,
        min_sample_s=1e-4,
        isolate=True,
    )
    report = compare.run_comparison(settings)
    by_backend = {m.backend: m for m in report.measurements}
    assert by_backend["numpy"].status == "ok" and by_backend["numpy"].winner
    assert by_backend["rust"].status == "error"
    assert "boom" in (by_backend["rust"].reason or "")
    assert report.problems == [by_backend["rust"]]


def test_thread_limit_leaves_neurusts_own_openblas_on_one_thread() -> None:
    # Raising it would start an OpenBLAS worker that spins on the core
    # neurust's own second thread needs (see threads._limit_other_pools).
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from neurust._openblas import _library_path

    own = _library_path()
    if own is None:
        pytest.skip("neurust's OpenBLAS (scipy-openblas64) is not installed")
    own_file = os.path.realpath(own)
    with threads.thread_limit(2):
        counts = {
            os.path.realpath(info["filepath"]): info["num_threads"]
            for info in threadpoolctl.threadpool_info()
        }
    assert counts[own_file] == 1
    others = [count for path, count in counts.items() if path != own_file]
    assert all(count == 2 for count in others), counts
