"""Child interpreters for the tests: every start and every wait has a timeout.

A test that waits on a child with no timeout hangs the whole suite when the child
never ends. One way it happens: a suite started in the background or under ``nohup``
hands its children SIGINT *ignored*, Python then leaves it ignored, and a child waiting
for Ctrl-C runs on forever. So every wait here fails the test with a message, and a
child that is to be interrupted installs Python's own SIGINT handler first.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import pytest

# The tests folder: children start there, and find the ``support`` package on their path.
TESTS = Path(__file__).resolve().parent.parent

# Enough for a fresh interpreter that imports numpy, torch or jax on a loaded machine.
DEFAULT_TIMEOUT_S = 120.0

# First lines of a child that tests Ctrl-C: KeyboardInterrupt on SIGINT even when the
# parent left SIGINT ignored (a background job, nohup).
DEFAULT_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"


def environment(env: Mapping[str, str] | None, inherit: bool = True) -> dict[str, str]:
    """A child's environment: ``env`` over this process's, with ``support`` importable."""
    # faulthandler prints every thread's stack if the child dies of a signal.
    base = {**(os.environ if inherit else {}), "PYTHONFAULTHANDLER": "1", **(env or {})}
    # A test file run as a script (``python tests/fuzz/test_fuzz_X.py``) imports ``support``.
    path = [str(TESTS), *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
    return {**base, "PYTHONPATH": os.pathsep.join(path)}


def _tail(text: str | bytes | None, limit: int = 6000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-limit:]


def python_argv(code: str) -> list[str]:
    """``python -c code`` with this interpreter; ``code`` is dedented."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = TESTS,
    check: bool = False,
    inherit_env: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Runs ``argv`` to the end and returns what it printed (``cwd=None``: this directory).

    ``env`` adds to this process's environment, or with ``inherit_env=False`` is the
    child's whole environment. Fails the test (killing the child) when it runs past
    ``timeout`` seconds and, with ``check``, when it exits with a non-zero status; either
    message holds its output.
    """
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=environment(env, inherit_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(
            f"{describe(argv)} still running after {timeout:g} s; killed.\n"
            f"stdout:\n{_tail(expired.stdout)}\nstderr:\n{_tail(expired.stderr)}"
        )
    if check and done.returncode != 0:
        pytest.fail(
            f"{describe(argv)} exited with {exit_status(done.returncode)}.\n"
            f"stdout:\n{_tail(done.stdout)}\nstderr:\n{_tail(done.stderr)}"
        )
    return done


def run_python(
    code: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter (tests/ is its working directory)."""
    return run(python_argv(code), timeout=timeout, env=env, check=check)


def describe(argv: Sequence[str]) -> str:
    """A short name for a command in a failure message."""
    if len(argv) >= 2 and argv[1] == "-c":
        first = next((line for line in argv[2].splitlines() if line.strip()), "")
        return f"child `python -c` ({first.strip()[:60]}...)"
    return "child `" + " ".join(str(a) for a in argv[1:])[:100] + "`"


def exit_status(returncode: int) -> str:
    """``status 3`` or the signal's name for a child killed by one."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"status {returncode}"


class Child:
    """A child interpreter the test talks to line by line (``with Child(code) as child``).

    Its stdout is read by a thread into a queue, so every read can time out; its stderr
    is collected for failure messages. With ``interruptible``, the child installs
    Python's default SIGINT handler before anything else runs. Leaving the ``with``
    block kills the child if it still runs.
    """

    def __init__(
        self,
        code: str,
        *,
        interruptible: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: Path | str = TESTS,
    ) -> None:
        code = textwrap.dedent(code)
        if interruptible:
            code = DEFAULT_SIGINT + code
        self.argv = [sys.executable, "-c", code]
        self.process = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        """What the child has written to stderr so far (its last 6000 characters)."""
        return _tail("".join(self._stderr))

    def read_line(self, timeout: float, waiting_for: str) -> str:
        """The child's next line of output, stripped; fails the test after ``timeout`` s."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no {waiting_for} from {describe(self.argv)} within {timeout:g} s")
        if line is None:
            self._lines.put(None)  # later reads see the end too
            self.wait(timeout=10)
            pytest.fail(
                f"{describe(self.argv)} ended ({exit_status(self.process.returncode)}) "
                f"before printing {waiting_for}.\nstderr:\n{self.stderr}"
            )
        return line.strip()

    def running(self) -> bool:
        return self.process.poll() is None

    def interrupt(self) -> None:
        """Sends SIGINT, as Ctrl-C in a terminal does."""
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> int:
        """The child's exit status; fails the test when it runs past ``timeout`` seconds."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{describe(self.argv)} still running after {timeout:g} s")

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.running():
            self.process.kill()
        self.process.wait(timeout=30)
        for reader in self._readers:
            reader.join(timeout=10)
