"""``NEURUST_NUM_THREADS`` follows ``set_num_threads``' rule; other values are ignored aloud.

Each value is tried in a fresh interpreter (the pool reads the variable once),
with a timeout: a value such as 100000 once made the first call hang for minutes.
"""

from __future__ import annotations

import json
import os

import pytest

from support.children import run_python

PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import neurust as nr
    nr.relu([1.0])
print(json.dumps({
    "threads": nr.get_num_threads(),
    "warnings": [(w.category.__name__, str(w.message)) for w in caught],
}))
"""


def probe(value: str) -> dict:
    child = run_python(PROBE, timeout=60, env={"NEURUST_NUM_THREADS": value}, check=True)
    return json.loads(child.stdout.splitlines()[-1])


@pytest.mark.parametrize("value", ["0", "-1", "abc", "100000", "4097", "2.5"])
def test_a_value_set_num_threads_refuses_is_ignored_with_a_warning(value: str) -> None:
    outcome = probe(value)
    assert outcome["threads"] == probe("")["threads"]  # the CPU count, as when unset
    assert len(outcome["warnings"]) == 1, outcome
    category, message = outcome["warnings"][0]
    assert category == "RuntimeWarning"
    assert f"NEURUST_NUM_THREADS='{value}' is ignored" in message
    assert "between 1 and 4096" in message


@pytest.mark.parametrize(("value", "threads"), [("1", 1), (" 3 ", 3)])
def test_a_valid_value_sets_the_thread_count_silently(value: str, threads: int) -> None:
    assert probe(value) == {"threads": threads, "warnings": []}


def test_a_blank_value_counts_as_unset() -> None:
    outcome = probe("")
    assert outcome["warnings"] == []
    assert 1 <= outcome["threads"] <= (os.cpu_count() or 1)
