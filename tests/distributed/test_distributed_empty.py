"""Ranks with no rows take part in a distributed fit (two ranks as child processes).

``shard`` gives a rank no rows when there are fewer rows than ranks. Such a
rank adds nothing to the gradients, "mean" divides by the global row count,
and the curve is that of one process fitting all the rows. When no rank has
any rows, every rank raises the same clear ValueError.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import neurust as nr
from support import ranks

WORLD = 2
CHILD_TIMEOUT_S = 240
GROUP_TIMEOUT_S = 120
STEPS = 6
BACKENDS = ("rust", "numpy")


def _data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.standard_normal((rows, 5)), rng.standard_normal((rows, 2))


def _fit(backend: str, x: np.ndarray, y: np.ndarray, reduction: str, **options: Any) -> Any:
    net = nr.TwoLayerNet(5, 4, 2, bias=True, seed=0, backend=backend)
    history = net.fit(x, y, steps=STEPS, lr=0.01, reduction=reduction, **options)
    return [float(v) for v in history], {k: v.tolist() for k, v in net.parameters().items()}


def _child(out: Path) -> None:
    nr.set_num_threads(1)
    rank = int(os.environ["RANK"])
    results: dict[str, Any] = {}
    for backend in BACKENDS:
        for rows in (1, 3):  # rank 0 holds no rows of one; the ranks hold 1 and 2 of three
            x, y = nr.distributed.shard(*_data(rows))
            for reduction in ("sum", "mean"):
                key = f"{backend}-{rows}-{reduction}"
                results[key] = _fit(backend, x, y, reduction, distributed=True)
        x, y = nr.distributed.shard(*_data(1))
        results[f"{backend}-1-batch"] = _fit(backend, x, y, "mean", batch_size=1, distributed=True)
    try:
        x, y = nr.distributed.shard(*_data(0))
        _fit("rust", x, y, "sum", distributed=True)
    except ValueError as error:
        results["none"] = str(error)
    (out / f"empty-{rank}.json").write_text(json.dumps(results))
    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("empty")
    ranks.run([__file__, str(out)], WORLD, GROUP_TIMEOUT_S, CHILD_TIMEOUT_S)
    return [json.loads((out / f"empty-{rank}.json").read_text()) for rank in range(WORLD)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_ranks_with_no_rows_follow_the_curve_of_one_process(
    outcomes: list[dict[str, Any]], backend: str, rows: int, reduction: str
) -> None:
    expected_history, expected_params = _fit(backend, *_data(rows), reduction)
    for rank in range(WORLD):
        history, params = outcomes[rank][f"{backend}-{rows}-{reduction}"]
        np.testing.assert_allclose(history, expected_history, rtol=1e-10)
        for name, value in params.items():
            np.testing.assert_allclose(value, expected_params[name], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rank_with_no_rows_takes_part_in_mini_batches(
    outcomes: list[dict[str, Any]], backend: str
) -> None:
    expected_history, _ = _fit(backend, *_data(1), "mean", batch_size=1)
    for rank in range(WORLD):
        np.testing.assert_allclose(outcomes[rank][f"{backend}-1-batch"][0], expected_history)


def test_when_no_rank_has_rows_every_rank_says_so(outcomes: list[dict[str, Any]]) -> None:
    for rank in range(WORLD):
        assert outcomes[rank]["none"] == (
            "no rank holds any rows (all 2 have an empty X); the loss and its gradients need "
            "at least one sample"
        )


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
