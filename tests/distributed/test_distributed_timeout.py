"""One validated timeout range for distributed training: 1 ms to 30 days.

Outside it torch gives its own errors ("timed out after 0ms", an
OverflowError about days, "Python int too large to convert to C int"), so
neurust refuses the value first, from ``init(timeout=...)`` and from
``NEURUST_DISTRIBUTED_TIMEOUT`` alike, naming which and the range.
"""

from __future__ import annotations

from typing import Any

import pytest

import neurust as nr

pytest.importorskip("torch", reason="distributed training runs on torch.distributed")

OUT_OF_RANGE = [1e-9, 0.0009, 0.0, -1.0, 30 * 24 * 3600 + 1, 1e10, 1e14, 1e300, float("inf")]
RANGE = r"from 0\.001 \(1 ms\) to 2\.592e\+06 \(30 days\)"


@pytest.fixture(autouse=True)
def no_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        pytest.skip("a process group is already initialised here")
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NEURUST_DISTRIBUTED_TIMEOUT", raising=False)


@pytest.mark.parametrize("seconds", OUT_OF_RANGE, ids=repr)
def test_init_refuses_a_timeout_outside_the_range(seconds: float) -> None:
    with pytest.raises(ValueError, match=rf"^timeout must be a number of seconds {RANGE}"):
        nr.distributed.init(timeout=seconds)


@pytest.mark.parametrize("text", [*map(repr, OUT_OF_RANGE), "nan", "soon", ""])
def test_the_variable_is_refused_outside_the_range(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("NEURUST_DISTRIBUTED_TIMEOUT", text)
    with pytest.raises(ValueError, match=rf"^NEURUST_DISTRIBUTED_TIMEOUT must be .* {RANGE}"):
        nr.distributed.init()


@pytest.mark.parametrize("value", [[1], True, object()])
def test_a_timeout_that_is_not_a_number_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match=r"^timeout must be a number of seconds"):
        nr.distributed.init(timeout=value)


@pytest.mark.parametrize("seconds", [0.001, 1, 60.0, 30 * 24 * 3600])
def test_a_timeout_in_range_gets_as_far_as_the_missing_torchrun_variables(seconds: float) -> None:
    with pytest.raises(RuntimeError, match="torchrun"):
        nr.distributed.init(timeout=seconds)
