"""Run every Python code block of the README and of the documentation pages as a test.

Each page's blocks run in order in one namespace, inside a temporary folder (examples
save files), and leave neurust's thread count as they found it. A block that cannot run
here (one that needs ``torchrun``'s ranks) is preceded by ``<!-- skip: next -->``, which
the page's reader does not see.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser


def _enter_folder(namespace: dict[str, Any]) -> None:
    import neurust as nr

    namespace["__docs_state__"] = (os.getcwd(), tempfile.mkdtemp(), nr.get_num_threads())
    os.chdir(namespace["__docs_state__"][1])


def _leave_folder(namespace: dict[str, Any]) -> None:
    import neurust as nr

    cwd, folder, threads = namespace["__docs_state__"]
    os.chdir(cwd)
    shutil.rmtree(folder, ignore_errors=True)
    nr.set_num_threads(threads)


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md"],
    setup=_enter_folder,
    teardown=_leave_folder,
).pytest()
