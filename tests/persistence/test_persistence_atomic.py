"""A save is all or nothing: the previous file survives any failed, killed or concurrent save.

``save`` writes a temporary file beside the target, syncs it and renames it
over the target. A full disk (a file-size limit stands in for one), an
exception or Ctrl-C mid-write leaves the old file loadable and no temporary
file behind; of several threads or processes saving to one path, one whole
file wins, and a reader never sees a torn one.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from neurust import _atomic, _persistence
from support.children import Child, run_python


def same_parameters(net: nr.TwoLayerNet, other: nr.TwoLayerNet) -> bool:
    mine, theirs = net.parameters(), other.parameters()
    return all(np.array_equal(mine[name], theirs[name]) for name in mine)


def only_the_target(folder: Path, name: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [name]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_save_that_hits_a_full_disk_leaves_the_old_file(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    nr.TwoLayerNet(1000, 100, 1, seed=0).save(good)  # about 800 kB
    done = run_python(
        f"""
        import resource, signal
        import neurust as nr
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: OSError
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            nr.TwoLayerNet(1000, 100, 1, seed=1).save({str(good)!r})
        except OSError as error:
            print("refused:", error.errno)
        """,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused:"), done.stdout
    assert same_parameters(nr.TwoLayerNet.load(good), nr.TwoLayerNet(1000, 100, 1, seed=0))
    only_the_target(tmp_path, "good.npz")


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError, RuntimeError])
def test_a_save_interrupted_mid_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: type[BaseException]
) -> None:
    good = tmp_path / "net.npz"
    nr.TwoLayerNet(30, 20, 2, seed=0).save(good)
    real_savez = np.savez

    def half_then_stop(file: Any, **arrays: Any) -> None:
        real_savez(file, **arrays)
        file.truncate(file.tell() // 2)
        raise stop("stopped mid-write")

    monkeypatch.setattr(_persistence.np, "savez", half_then_stop)
    with pytest.raises(stop):
        nr.TwoLayerNet(30, 20, 2, seed=1).save(good)
    monkeypatch.undo()
    assert same_parameters(nr.TwoLayerNet.load(good), nr.TwoLayerNet(30, 20, 2, seed=0))
    only_the_target(tmp_path, "net.npz")


def test_a_save_into_a_missing_folder_fails_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        nr.TwoLayerNet(3, 4, 1).save(tmp_path / "missing" / "net.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_still_adds_npz_and_keeps_the_umask_mode(tmp_path: Path) -> None:
    nr.TwoLayerNet(3, 4, 1, seed=0).save(tmp_path / "net")
    only_the_target(tmp_path, "net.npz")
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert (tmp_path / "net.npz").stat().st_mode == plain.stat().st_mode


def test_threads_saving_to_one_path_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "net.npz"
    nets = [nr.TwoLayerNet(200, 50, 1, seed=seed) for seed in range(6)]
    errors: list[BaseException] = []

    def save_often(net: nr.TwoLayerNet) -> None:
        try:
            for _ in range(15):
                net.save(target)
                loaded = nr.TwoLayerNet.load(target)  # never a torn file
                assert any(same_parameters(loaded, other) for other in nets)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=save_often, args=(net,)) for net in nets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a saving thread hung"
    assert errors == []
    assert any(same_parameters(nr.TwoLayerNet.load(target), net) for net in nets)
    only_the_target(tmp_path, "net.npz")


def test_processes_saving_to_one_path_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "net.npz"
    writer = f"""
        import sys
        import neurust as nr
        net = nr.TwoLayerNet(200, 50, 1, seed=int(sys.argv[1]))
        print("ready", flush=True)
        for _ in range(40):
            net.save({str(target)!r})
        print("done", flush=True)
        """
    children = []
    try:
        for seed in range(3):
            child = Child(writer.replace("sys.argv[1]", repr(str(seed))))
            children.append(child)
        for child in children:
            assert child.read_line(120, "ready") == "ready"
        nets = [nr.TwoLayerNet(200, 50, 1, seed=seed) for seed in range(3)]
        deadline = time.monotonic() + 120
        while any(child.running() for child in children) and time.monotonic() < deadline:
            if target.exists():  # a reader sees an old or a new file, whole
                loaded = nr.TwoLayerNet.load(target)
                assert any(same_parameters(loaded, net) for net in nets)
        for child in children:
            assert child.read_line(60, "done") == "done"
            assert child.wait(timeout=60) == 0, child.stderr
    finally:
        for child in children:
            child.__exit__(None, None, None)
    assert any(same_parameters(nr.TwoLayerNet.load(target), net) for net in nets)
    only_the_target(tmp_path, "net.npz")


def test_replacing_removes_its_temporary_file_on_keyboard_interrupt(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), _atomic.replacing(target) as file:
        file.write(b"new, half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    only_the_target(tmp_path, "out.bin")
