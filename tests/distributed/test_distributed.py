"""Data-parallel fit (neurust.distributed): two ranks as child processes on 127.0.0.1.

Each scenario starts two children running this file (``python test_distributed.py
SCENARIO DIR``) with torchrun's environment variables set by hand; they write
what they saw to DIR, and the tests compare it with one process fitting all the
rows. Every wait on a child has a timeout, and the children's collectives time
out after a few seconds, so a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support import ranks
from support.children import environment

WORLD = 2
CHILD_TIMEOUT_S = 240  # a whole scenario, imports (torch, jax) included
GROUP_TIMEOUT_S = 10  # the children's collectives where a test waits for the timeout
SCENARIO_TIMEOUT_S = 120  # elsewhere: a rank slowed by a busy machine must not time out
CANDIDATE_BACKENDS = ("numpy", "torch", "rust", "jax")
RTOL = {"float64": 1e-10, "float32": 1e-4}

# The curves: every rank holds ROWS_PER_RANK rows; the mini-batch cases take
# BATCH rows per rank per step.
INPUT_DIM, HIDDEN_DIM, OUTPUT_DIM = 5, 4, 2
ROWS_PER_RANK, BATCH, STEPS = 8, 4, 12
UNEVEN_ROWS = 15  # split 7 + 8: the ranks' shares differ
LR = {"sum": 0.01, "mean": 0.05}


def _cases() -> list[tuple[str, str, bool, str, int | None]]:
    """(dtype, activation, bias, reduction, batch_size) for every curve compared."""
    return list(
        itertools.product(("float64", "float32"), ("relu", "sigmoid"), (False, True),
                          ("sum", "mean"), (None, BATCH))
    )  # fmt: skip


def _case_name(backend: str, case: tuple[Any, ...]) -> str:
    return "-".join(str(part) for part in (backend, *case))


def _data(rows: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, INPUT_DIM)).astype(dtype)
    y = rng.standard_normal((rows, OUTPUT_DIM)).astype(dtype)
    return x, y


def _net(backend: str, dtype: str, activation: str, bias: bool, seed: int) -> nr.TwoLayerNet:
    return nr.TwoLayerNet(
        INPUT_DIM, HIDDEN_DIM, OUTPUT_DIM, activation=activation, bias=bias, dtype=dtype,
        seed=seed, init="he", backend=backend,
    )  # fmt: skip


def _backends_here() -> list[str]:
    names = []
    for name in CANDIDATE_BACKENDS:
        try:
            nr.get_backend(name)
        except nr.BackendUnavailableError:
            continue
        names.append(name)
    return names


# --- the children ----------------------------------------------------------------------------


def _child_curves(rank: int, out: Path) -> None:
    """Every case on every backend; each rank starts from its own seed (rank 0's must win)."""
    results: dict[str, np.ndarray] = {}
    for backend in _backends_here():
        for case in _cases():
            dtype, activation, bias, reduction, batch_size = case
            x, y = nr.distributed.shard(*_data(WORLD * ROWS_PER_RANK, dtype))
            net = _net(backend, dtype, activation, bias, seed=rank)
            name = _case_name(backend, case)
            results[f"{name}/history"] = net.fit(
                x, y, steps=STEPS, lr=LR[reduction], batch_size=batch_size,
                reduction=reduction, distributed=True,
            )  # fmt: skip
            for key, value in net.parameters().items():
                results[f"{name}/{key}"] = value
        for reduction in ("sum", "mean"):
            x, y = nr.distributed.shard(*_data(UNEVEN_ROWS, "float64"))
            net = _net(backend, "float64", "relu", True, seed=rank)
            name = f"{backend}-uneven-{reduction}"
            results[f"{name}/history"] = net.fit(
                x, y, steps=STEPS, lr=LR[reduction], reduction=reduction, distributed=True
            )
            for key, value in net.parameters().items():
                results[f"{name}/{key}"] = value
    np.savez(out / f"curves-{rank}.npz", **results)


# Each mismatch: the argument, rank 1's value (rank 0 keeps the default).
MISMATCHES: dict[str, Any] = {
    "hidden_dim": 3,
    "dtype": "float32",
    "activation": "sigmoid",
    "bias": True,
    "steps": 4,
    "lr": 0.02,
    "reduction": "mean",
    "batch_size": 2,
}


def _outcome(fit: Any) -> dict[str, Any]:
    try:
        history = fit()
    except Exception as error:
        return {"type": type(error).__name__, "message": str(error)}
    return {"type": None, "history": [float(value) for value in history]}


def _child_errors(rank: int, out: Path) -> None:
    """Mismatched arguments, one rank's bad rows and a diverging run, then a good fit."""
    outcomes: dict[str, Any] = {}
    x, y = nr.distributed.shard(*_data(WORLD * ROWS_PER_RANK, "float64"))
    for argument, value in MISMATCHES.items():
        net_args = {
            "hidden_dim": HIDDEN_DIM,
            "dtype": "float64",
            "activation": "relu",
            "bias": False,
        }
        fit_args: dict[str, Any] = {"steps": 3, "lr": 0.01, "reduction": "sum", "batch_size": 4}
        if rank == 1:
            (net_args if argument in net_args else fit_args)[argument] = value
        net = nr.TwoLayerNet(INPUT_DIM, output_dim=OUTPUT_DIM, seed=0, backend="rust", **net_args)
        data = (x.astype(net.dtype), y.astype(net.dtype))
        outcomes[argument] = _outcome(lambda: net.fit(*data, **fit_args, distributed=True))  # noqa: B023
    net = _net("rust", "float64", "sigmoid", False, seed=0)
    bad_x = x[:, :-1] if rank == 1 else x
    outcomes["bad rows"] = _outcome(lambda: net.fit(bad_x, y, steps=3, lr=0.01, distributed=True))
    outcomes["diverging"] = _outcome(lambda: net.fit(x, y, steps=500, lr=10.0, distributed=True))
    outcomes["diverging history"] = [float(value) for value in net.history_]
    outcomes["kept loss"] = float(net.loss(x, y))  # this rank's share of the global loss
    outcomes["retrained"] = _outcome(lambda: net.fit(x, y, steps=3, lr=1e-3, distributed=True))
    net = _net("rust", "float64", "relu", False, seed=0)
    outcomes["after"] = _outcome(lambda: net.fit(x, y, steps=3, lr=0.01, distributed=True))
    outcomes["bars"] = _bars_shown(net, x, y)
    outcomes["alone"] = _alone_against_plain(rank, x, y)
    outcomes["bars history"] = [float(value) for value in net.history_]
    (out / f"errors-{rank}.json").write_text(json.dumps(outcomes))


def _alone_against_plain(rank: int, x: np.ndarray, y: np.ndarray) -> dict[str, bool]:
    """Whether a fit in a group of this rank alone has the bits of a fit without a group."""
    import torch.distributed as dist

    own = [dist.new_group([other]) for other in range(WORLD)][rank]  # every rank makes both
    alone, plain = (_net("rust", "float64", "sigmoid", True, seed=0) for _ in range(2))
    history = alone.fit(x, y, steps=5, lr=0.01, distributed=own)
    expected = plain.fit(x, y, steps=5, lr=0.01)
    return {
        "history": history.tobytes() == expected.tobytes(),
        "parameters": all(
            value.tobytes() == plain.parameters()[name].tobytes()
            for name, value in alone.parameters().items()
        ),
    }


def _bars_shown(net: nr.TwoLayerNet, x: np.ndarray, y: np.ndarray) -> list[list[Any]]:
    """The (steps, loss) updates of every progress bar a ``progress=True`` fit opens here."""
    real = nr.distributed.fit.progress_bar
    bars: list[list[Any]] = []

    @contextlib.contextmanager
    def recording(*args: Any, **kwargs: Any) -> Iterator[Any]:
        updates: list[Any] = []
        bars.append(updates)
        with real(*args, **kwargs) as bar:
            assert bar is not None
            inner = bar.update
            bar.update = lambda done, loss=None: (updates.append([done, loss]), inner(done, loss))
            yield bar

    nr.distributed.fit.progress_bar = recording  # type: ignore[attr-defined]
    try:
        net.fit(x, y, steps=5, lr=0.01, distributed=True, progress=True)
    finally:
        nr.distributed.fit.progress_bar = real  # type: ignore[attr-defined]
    return bars


def _child_stop(rank: int, out: Path, how: str) -> None:
    """A long fit that rank 1 leaves mid-way: killed, or interrupted by the parent's SIGINT."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a child may inherit SIGINT ignored
    x, y = nr.distributed.shard(*_data(WORLD * ROWS_PER_RANK, "float64"))
    net = _net("rust", "float64", "relu", False, seed=0)
    net.fit(x, y, steps=2, lr=0.01, distributed=True)  # the group is up on both ranks
    (out / f"ready-{rank}").write_text(str(os.getpid()))
    if rank == 1 and how == "kill":
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGKILL)).start()
    try:
        net.fit(x, y, steps=10**9, lr=1e-6, distributed=True)
    except KeyboardInterrupt as error:
        steps_done = error.steps_done  # type: ignore[attr-defined]
        (out / f"interrupted-{rank}").write_text(str(steps_done))
        raise


def _child(scenario: str, out: Path) -> None:
    nr.set_num_threads(1)
    rank = int(os.environ["RANK"])
    if scenario == "curves":
        _child_curves(rank, out)
    elif scenario == "errors":
        _child_errors(rank, out)
    else:
        _child_stop(rank, out, scenario)
    # As a training script should end: together, then without the group, so
    # that no rank tears the group down under another.
    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()


# --- the parent ------------------------------------------------------------------------------


def _start(
    scenario: str, out: Path, group_timeout: float = GROUP_TIMEOUT_S
) -> list[subprocess.Popen[str]]:
    return ranks.start([__file__, scenario, str(out)], WORLD, group_timeout)


def _run(scenario: str, out: Path) -> None:
    ranks.run([__file__, scenario, str(out)], WORLD, SCENARIO_TIMEOUT_S, CHILD_TIMEOUT_S)


@pytest.fixture(scope="module")
def curves(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("curves")
    _run("curves", out)
    return [dict(np.load(out / f"curves-{rank}.npz")) for rank in range(WORLD)]


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("errors")
    _run("errors", out)
    return [json.loads((out / f"errors-{rank}.json").read_text()) for rank in range(WORLD)]


def _interleaved(x: np.ndarray, batch_size: int | None) -> np.ndarray:
    """The rows in the order one process must visit them to take the ranks' joint steps."""
    if batch_size is None:
        return x
    shares = np.split(x, WORLD)
    blocks = [share[i : i + batch_size] for i in range(0, ROWS_PER_RANK, batch_size)
              for share in shares]  # fmt: skip
    return np.concatenate(blocks)


@pytest.mark.parametrize("backend", CANDIDATE_BACKENDS)
@pytest.mark.parametrize("case", _cases(), ids=lambda case: "-".join(map(str, case)))
def test_two_ranks_follow_the_loss_curve_of_one_process_on_all_rows(
    curves: list[dict[str, np.ndarray]], backend: str, case: tuple[Any, ...]
) -> None:
    name = _case_name(backend, case)
    if f"{name}/history" not in curves[0]:
        pytest.skip(f"backend {backend!r} is not available here")
    dtype, activation, bias, reduction, batch_size = case
    x, y = _data(WORLD * ROWS_PER_RANK, dtype)
    net = _net(backend, dtype, activation, bias, seed=0)
    history = net.fit(
        _interleaved(x, batch_size), _interleaved(y, batch_size), steps=STEPS, lr=LR[reduction],
        batch_size=None if batch_size is None else WORLD * batch_size, reduction=reduction,
    )  # fmt: skip
    np.testing.assert_allclose(curves[0][f"{name}/history"], history, rtol=RTOL[dtype])
    for key, value in net.parameters().items():
        np.testing.assert_allclose(curves[0][f"{name}/{key}"], value, rtol=RTOL[dtype], atol=0)


@pytest.mark.parametrize("backend", CANDIDATE_BACKENDS)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ranks_with_different_row_counts_sum_over_all_rows(
    curves: list[dict[str, np.ndarray]], backend: str, reduction: str
) -> None:
    name = f"{backend}-uneven-{reduction}"
    if f"{name}/history" not in curves[0]:
        pytest.skip(f"backend {backend!r} is not available here")
    net = _net(backend, "float64", "relu", True, seed=0)
    history = net.fit(*_data(UNEVEN_ROWS, "float64"), steps=STEPS, lr=LR[reduction],
                      reduction=reduction)  # fmt: skip
    np.testing.assert_allclose(curves[0][f"{name}/history"], history, rtol=RTOL["float64"])


def test_every_rank_ends_with_bit_identical_parameters_and_history(
    curves: list[dict[str, np.ndarray]],
) -> None:
    assert curves[0].keys() == curves[1].keys()
    assert len(curves[0]) > 0
    for key, value in curves[0].items():
        assert value.tobytes() == curves[1][key].tobytes(), key


@pytest.mark.parametrize("argument", list(MISMATCHES))
def test_ranks_that_disagree_fail_on_every_rank_before_the_first_step(
    errors: list[dict[str, Any]], argument: str
) -> None:
    for outcome in errors:
        assert outcome[argument]["type"] == "ValueError"
        assert f"the ranks disagree on {argument}" in outcome[argument]["message"]


def test_one_ranks_bad_rows_fail_every_rank(errors: list[dict[str, Any]]) -> None:
    own, other = errors[1]["bad rows"], errors[0]["bad rows"]
    assert own["type"] == "ValueError" and "X has shape (8, 4)" in own["message"]
    assert other["type"] == "ValueError"
    assert "rank 1: X has shape (8, 4)" in other["message"]


def test_the_nan_guard_fires_on_the_same_step_on_every_rank(errors: list[dict[str, Any]]) -> None:
    messages = [outcome["diverging"]["message"] for outcome in errors]
    assert [outcome["diverging"]["type"] for outcome in errors] == ["FloatingPointError"] * WORLD
    assert messages[0] == messages[1] and "at step" in messages[0]
    assert errors[0]["diverging history"] == errors[1]["diverging history"]


def test_a_diverged_net_keeps_the_lower_loss_parameters_and_trains_again(
    errors: list[dict[str, Any]],
) -> None:
    history = errors[0]["diverging history"]
    kept = sum(outcome["kept loss"] for outcome in errors)
    # The full-batch history starts with the loss of the parameters before the fit.
    np.testing.assert_allclose(kept, min(history[0], history[-1]), rtol=1e-12)
    for outcome in errors:
        assert outcome["retrained"]["type"] is None, outcome["retrained"]
        assert np.all(np.isfinite(outcome["retrained"]["history"]))


def test_the_group_still_trains_after_the_errors(errors: list[dict[str, Any]]) -> None:
    assert errors[0]["after"]["type"] is None
    assert errors[0]["after"]["history"] == errors[1]["after"]["history"]


def test_a_group_of_one_fits_as_no_group_does(errors: list[dict[str, Any]]) -> None:
    assert [outcome["alone"] for outcome in errors] == [{"history": True, "parameters": True}] * 2


def test_only_rank_0_shows_the_progress_bar_with_the_global_loss(
    errors: list[dict[str, Any]],
) -> None:
    assert errors[1]["bars"] == []
    [updates] = errors[0]["bars"]
    assert [done for done, _ in updates][-1] == 5
    # The loss it shows is the global one (the sum over both ranks' rows).
    assert updates[-1][1] == errors[0]["bars history"][-1] == errors[1]["bars history"][-1]


def test_ctrl_c_on_torchrun_stops_every_rank(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="torchrun comes with torch")
    # The ranks run this file, which imports ``support``.
    env = environment({"NEURUST_DISTRIBUTED_TIMEOUT": str(GROUP_TIMEOUT_S), "OMP_NUM_THREADS": "1"})
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc-per-node={WORLD}", __file__, "launcher", str(tmp_path)]
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for rank in range(WORLD):
            _wait_for(tmp_path / f"ready-{rank}", CHILD_TIMEOUT_S)
        launcher.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends it
        launcher.communicate(timeout=GROUP_TIMEOUT_S + 30)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate(timeout=30)
    assert launcher.returncode != 0
    for rank in range(WORLD):
        assert not _running(int((tmp_path / f"ready-{rank}").read_text()))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {timeout} s"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_a_rank_that_stops_mid_fit_stops_the_other_with_a_clear_error(
    tmp_path: Path, how: str
) -> None:
    children = _start(how, tmp_path)
    try:
        for rank in range(WORLD):
            _wait_for(tmp_path / f"ready-{rank}", CHILD_TIMEOUT_S)
        if how == "interrupt":
            time.sleep(0.5)
            children[1].send_signal(signal.SIGINT)
    finally:
        (status_0, stderr_0), (status_1, stderr_1) = ranks.finish(children, GROUP_TIMEOUT_S + 30)
    assert status_0 != 0
    assert "DistributedError" in stderr_0 and "another rank has stopped" in stderr_0, stderr_0
    if how == "kill":
        assert status_1 == -signal.SIGKILL
    else:
        assert "KeyboardInterrupt" in stderr_1, stderr_1
        assert int((tmp_path / "interrupted-1").read_text()) > 0


def test_a_rank_that_hangs_stops_the_other_after_the_timeout(tmp_path: Path) -> None:
    children = _start("freeze", tmp_path)
    try:
        for rank in range(WORLD):
            _wait_for(tmp_path / f"ready-{rank}", CHILD_TIMEOUT_S)
        children[1].send_signal(signal.SIGSTOP)  # alive, holding its sockets open, silent
        _, stderr_0 = children[0].communicate(timeout=GROUP_TIMEOUT_S + 30)
    finally:
        for child in children:
            child.kill()
            child.communicate(timeout=30)
    assert children[0].returncode != 0
    assert "DistributedError" in stderr_0, stderr_0
    assert f"Timed out waiting {GROUP_TIMEOUT_S * 1000}ms" in stderr_0, stderr_0  # ours, not 30 min


# --- in one process --------------------------------------------------------------------------


def test_fit_without_a_group_or_torchrun_says_how_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("torch")
    for variable in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(variable, raising=False)
    net = _net("numpy", "float64", "relu", False, seed=0)
    with pytest.raises(RuntimeError, match="torchrun --nproc-per-node 2"):
        net.fit(*_data(4, "float64"), steps=1, lr=0.01, distributed=True)


def test_fit_rejects_a_distributed_that_is_not_a_group() -> None:
    pytest.importorskip("torch")
    net = _net("numpy", "float64", "relu", False, seed=0)
    with pytest.raises(TypeError, match="distributed must be True or a"):
        net.fit(*_data(4, "float64"), steps=1, lr=0.01, distributed="yes")


def test_ranks_that_share_a_gpu_are_named() -> None:
    # NCCL needs a GPU per rank; a user-made group whose ranks all stayed on
    # GPU 0 must fail before the first step (checked on the gathered places:
    # there is no GPU here to start NCCL on).
    from neurust.distributed.fit import _shared_gpu

    assert _shared_gpu([None, None]) is None
    assert _shared_gpu(["a:0", "a:1", "b:0", "b:1"]) is None
    assert _shared_gpu(["a:0", "a:1", "a:0"]) == "ranks 0 and 2 both compute on GPU 0 of a"
    assert _shared_gpu(["node:7:1", "node:7:1"]) == "ranks 0 and 1 both compute on GPU 1 of node:7"


@pytest.mark.parametrize("rows", [0, 1, 7, 8, 9])
def test_shard_gives_contiguous_shares_that_make_up_the_whole(rows: int) -> None:
    x, y = np.arange(rows * 2.0).reshape(rows, 2).copy(), np.arange(float(rows))
    shares = [nr.distributed.shard(x, y, rank=rank, world_size=3) for rank in range(3)]
    np.testing.assert_array_equal(np.concatenate([share[0] for share in shares]), x)
    np.testing.assert_array_equal(np.concatenate([share[1] for share in shares]), y)
    assert max(len(s[1]) for s in shares) - min(len(s[1]) for s in shares) <= 1
    assert all(share[0].base is x for share in shares)


def test_shard_rejects_mismatched_rows_and_ranks() -> None:
    with pytest.raises(ValueError, match="Y has 3 rows, but X has 4"):
        nr.distributed.shard(np.zeros((4, 2)), np.zeros(3), rank=0, world_size=2)
    with pytest.raises(ValueError, match="rank must be in range"):
        nr.distributed.shard(np.zeros((4, 2)), rank=2, world_size=2)


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
