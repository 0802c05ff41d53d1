"""A diverged distributed fit keeps the lower-loss parameters, the same on every rank.

Two ranks as child processes (gloo on 127.0.0.1). At a learning rate that
diverges, the last parameters whose loss was finite are astronomically large,
so, as ``TwoLayerNet.fit`` does in one process, every rank must hold the
parameters the fit started from (rank 0's), say so, and train again. The
losses compared are over every rank's rows, so the ranks agree.
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
ROWS, INPUTS, HIDDEN, OUTPUTS = 16, 5, 4, 2
DIVERGING_LR = 1e9
BACKENDS = ("rust", "numpy")
REDUCTIONS = ("sum", "mean")


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.standard_normal((ROWS, INPUTS)), rng.standard_normal((ROWS, OUTPUTS))


def _diverge(backend: str, reduction: str, seed: int, x: Any, y: Any, **options: Any) -> Any:
    """Fit until the loss overflows; the net, the message and the history it kept."""
    net = nr.TwoLayerNet(INPUTS, HIDDEN, OUTPUTS, seed=seed, backend=backend)
    try:
        net.fit(x, y, steps=50, lr=DIVERGING_LR, reduction=reduction, **options)
    except FloatingPointError as error:
        message = str(error)
    else:
        raise AssertionError("the fit did not diverge")
    assert net.history_ is not None
    return net, message, [float(v) for v in net.history_]


def _child(out: Path) -> None:
    nr.set_num_threads(1)
    rank = int(os.environ["RANK"])
    x, y = nr.distributed.shard(*_data())
    results: dict[str, Any] = {}
    for backend in BACKENDS:
        for reduction in REDUCTIONS:
            # Each rank starts from its own seed: rank 0's parameters are broadcast.
            net, message, history = _diverge(backend, reduction, rank, x, y, distributed=True)
            results[f"{backend}-{reduction}"] = {
                "message": message,
                "history": history,
                "params": {k: v.tolist() for k, v in net.parameters().items()},
            }
            again = net.fit(x, y, steps=5, lr=1e-3, reduction=reduction, distributed=True)
            results[f"{backend}-{reduction}"]["again"] = [float(v) for v in again]
    (out / f"diverged-{rank}.json").write_text(json.dumps(results))
    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("diverged")
    ranks.run([__file__, str(out)], WORLD, GROUP_TIMEOUT_S, CHILD_TIMEOUT_S)
    return [json.loads((out / f"diverged-{rank}.json").read_text()) for rank in range(WORLD)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_every_rank_keeps_the_starting_parameters_as_one_process_does(
    outcomes: list[dict[str, Any]], backend: str, reduction: str
) -> None:
    _, message, history = _diverge(backend, reduction, 0, *_data())
    assert "kept as they were before this fit" in message
    start = nr.TwoLayerNet(INPUTS, HIDDEN, OUTPUTS, seed=0).parameters()
    for rank in range(WORLD):
        outcome = outcomes[rank][f"{backend}-{reduction}"]
        assert outcome["message"] == message
        assert len(outcome["history"]) == len(history)
        for name, value in outcome["params"].items():
            np.testing.assert_array_equal(value, start[name])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_every_rank_trains_again_after_the_divergence(
    outcomes: list[dict[str, Any]], backend: str, reduction: str
) -> None:
    again = [outcomes[rank][f"{backend}-{reduction}"]["again"] for rank in range(WORLD)]
    assert again[0] == again[1]
    assert np.all(np.isfinite(again[0])) and again[0][-1] < again[0][0]


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
