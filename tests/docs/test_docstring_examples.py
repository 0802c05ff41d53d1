"""Every ``>>>`` example in the public modules' docstrings runs and prints what it shows.

The compiled module's docstrings (written in Rust) are included: ``doctest`` reads them from
the functions' ``__doc__`` at run time. Examples see their module's names and ``np``, ``nr`` and
``_core`` already imported, as numpy's own docstrings assume, and run in a temporary folder.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import neurust as nr
from neurust import _core

# The command-line modules' examples are shell commands, not Python.
_SKIPPED = ("neurust.__main__", "neurust.compare.__main__")


def _public_modules() -> list[str]:
    names = ["neurust", "neurust._core"]
    for info in pkgutil.walk_packages(nr.__path__, prefix="neurust."):
        if info.name not in _SKIPPED and info.name not in names:
            names.append(info.name)
    return sorted(names)


def _examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    globs = {**vars(module), "np": np, "nr": nr, "_core": _core}
    return [test for test in finder.find(module, module_name, globs=globs) if test.examples]


_TESTS = [test for name in _public_modules() for test in _examples(name)]


def test_the_public_modules_have_examples_to_run() -> None:
    assert sum(len(test.examples) for test in _TESTS) >= 40


@pytest.mark.parametrize("test", _TESTS, ids=[test.name for test in _TESTS])
def test_docstring_example(
    test: doctest.DocTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    threads = nr.get_num_threads()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    try:
        runner.run(test, out=failures.append)
    finally:
        nr.set_num_threads(threads)
    assert runner.failures == 0, "".join(failures)
