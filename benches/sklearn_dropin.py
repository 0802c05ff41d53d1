"""neurust.sklearn against scikit-learn (and skorch) fitting the same MLPs.

Four workloads, each fitted with the same parameters by every library:

- ``tabular``: 20,000x10 -> 64 -> 1 regression, adam, batches of 200, 10 epochs;
- ``diabetes``: scikit-learn's diabetes data (442x10 -> 100 -> 1), MLPRegressor's
  default parameters, 200 epochs;
- ``digits``: scikit-learn's digits (1,797x64 -> 100 -> 10), MLPClassifier, adam,
  40 epochs;
- ``wide``: 8,192x256 -> 512 -> 256 -> 1 regression, sgd, batches of 256, 3 epochs.

Every fit runs in a fresh process of its own (one untimed warm-up epoch first, so the
imports and first allocations are not timed), ``--rounds`` times, the libraries taking
turns in a rotating order so that each meets the same load from elsewhere. ``--threads
1`` limits every pool to one thread (neurust's, torch's, and the BLAS/OpenMP pools
through threadpoolctl); ``--threads 0`` leaves every library at its default. The script
prints a Markdown table of the median fit time per library and the ratios of medians::

    python benches/sklearn_dropin.py --threads 1 --rounds 5

skorch (torch behind scikit-learn's API) joins where it is installed, with the same
network, optimizer, batch size and epochs in float64 (``--no-skorch`` leaves it out).
The number of epochs is pinned (``n_iter_no_change`` at least ``max_iter``) so that a
stopping rule never shortens one library's run.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

CHILD_TIMEOUT_S = 600
LIBRARIES = ("sklearn", "neurust", "skorch")

# name -> (description, estimator kind, parameters)
WORKLOADS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "tabular": (
        "20,000x10 -> 64 -> 1, adam, batches of 200, 10 epochs",
        "regressor",
        {"hidden_layer_sizes": (64,), "batch_size": 200, "max_iter": 10},
    ),
    "diabetes": (
        "diabetes (442x10 -> 100 -> 1), default parameters, 200 epochs",
        "regressor",
        {"max_iter": 200},
    ),
    "digits": (
        "digits (1,797x64 -> 100 -> 10), adam, 40 epochs",
        "classifier",
        {"max_iter": 40},
    ),
    "wide": (
        "8,192x256 -> 512 -> 256 -> 1, sgd, batches of 256, 3 epochs",
        "regressor",
        {
            "hidden_layer_sizes": (512, 256),
            "solver": "sgd",
            "batch_size": 256,
            "max_iter": 3,
            "learning_rate_init": 1e-3,
        },
    ),
}


def data(workload: str) -> tuple[np.ndarray, np.ndarray]:
    """The workload's X and y (float64), the same in every process."""
    from sklearn.datasets import load_diabetes, load_digits

    if workload == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        return X, y
    if workload == "digits":
        X, y = load_digits(return_X_y=True)
        return X / 16.0, y
    rng = np.random.default_rng(0)
    rows, columns = (20_000, 10) if workload == "tabular" else (8_192, 256)
    X = rng.standard_normal((rows, columns))
    y = np.tanh(X[:, : min(columns, 8)]).sum(axis=1) + 0.1 * rng.standard_normal(rows)
    return X, y


def parameters(workload: str) -> dict[str, Any]:
    params = {"random_state": 0, **WORKLOADS[workload][2]}
    # Every library runs all the epochs: no stopping rule ends a run early.
    params["n_iter_no_change"] = params["max_iter"] + 1
    return params


def sklearn_estimator(library: str, workload: str, max_iter: int | None = None) -> Any:
    if library == "neurust":
        from neurust.sklearn import MLPClassifier, MLPRegressor
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    params = parameters(workload)
    if max_iter is not None:
        params["max_iter"] = max_iter
    estimator = MLPClassifier if WORKLOADS[workload][1] == "classifier" else MLPRegressor
    return estimator(**params)


def skorch_estimator(workload: str, n_features: int, n_classes: int, epochs: int) -> Any:
    """skorch's net with the workload's layers, activation, optimizer and batch size."""
    import torch
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    params = parameters(workload)
    hidden = list(params.get("hidden_layer_sizes", (100,)))
    classifier = WORKLOADS[workload][1] == "classifier"
    sizes = [n_features, *hidden, n_classes if classifier else 1]
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    module = torch.nn.Sequential(*layers[:-1]).double()
    sgd = params.get("solver") == "sgd"
    common: dict[str, Any] = {
        "module": module,
        "max_epochs": epochs,
        "lr": params.get("learning_rate_init", 1e-3),
        "batch_size": params.get("batch_size", 200),
        "optimizer": torch.optim.SGD if sgd else torch.optim.Adam,
        "train_split": None,
        "verbose": 0,
        "iterator_train__shuffle": True,
    }
    if sgd:
        common.update(optimizer__momentum=0.9, optimizer__nesterov=True)
    if classifier:
        return NeuralNetClassifier(criterion=torch.nn.CrossEntropyLoss, **common)
    return NeuralNetRegressor(criterion=torch.nn.MSELoss, **common)


def child(library: str, workload: str, threads: int) -> dict[str, Any]:
    """One process's fit: a warm-up epoch, then the timed fit."""
    import contextlib
    import warnings

    warnings.simplefilter("ignore")
    X, y = data(workload)
    if library == "skorch":
        import torch  # imported before the thread limit, so that it is limited too

        torch.manual_seed(0)
    from neurust import compare

    limit = compare.thread_limit(threads) if threads else contextlib.nullcontext()
    with limit:
        if library == "skorch":
            classifier = WORKLOADS[workload][1] == "classifier"
            y_fit = y.astype(np.int64) if classifier else y.reshape(-1, 1)
            n_classes = int(y.max()) + 1 if classifier else 1
            epochs = parameters(workload)["max_iter"]
            skorch_estimator(workload, X.shape[1], n_classes, 1).fit(X, y_fit)
            model = skorch_estimator(workload, X.shape[1], n_classes, epochs)
            start = time.perf_counter()
            model.fit(X, y_fit)
            seconds = time.perf_counter() - start
            return {"seconds": seconds, "epochs": len(model.history)}
        sklearn_estimator(library, workload, max_iter=1).fit(X, y)
        model = sklearn_estimator(library, workload)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "epochs": int(model.n_iter_), "loss": float(model.loss_)}


def run_child(library: str, workload: str, threads: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", library, workload, "--threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{library} {workload} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="1: one thread; 0: defaults")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--no-skorch", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "WORKLOAD"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.threads)))
        return

    import sklearn

    import neurust

    libraries = [
        name
        for name in LIBRARIES
        if name != "skorch" or (not args.no_skorch and importlib.util.find_spec("skorch"))
    ]
    times: dict[tuple[str, str], list[float]] = {}
    epochs: dict[tuple[str, str], int] = {}
    for round_index in range(args.rounds):
        for workload in args.workloads:
            shift = round_index % len(libraries)
            for library in libraries[shift:] + libraries[:shift]:
                result = run_child(library, workload, args.threads)
                times.setdefault((library, workload), []).append(result["seconds"])
                epochs[(library, workload)] = result["epochs"]
                print(
                    f"round {round_index + 1}: {workload:9s} {library:8s} "
                    f"{1e3 * result['seconds']:9.1f} ms",
                    file=sys.stderr,
                )

    info = neurust.build_info()
    threads = "one thread per library" if args.threads == 1 else "default thread counts"
    print(
        f"\nscikit-learn {sklearn.__version__}, neurust {info['version']} "
        f"({info['profile']} build), {threads}; median of {args.rounds} processes each "
        "(min-max in brackets)\n"
    )
    header = "| workload | " + " | ".join(libraries) + " | neurust vs sklearn |"
    if "skorch" in libraries:
        header += " neurust vs skorch |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for workload in args.workloads:
        cells = [WORKLOADS[workload][0]]
        medians = {}
        for library in libraries:
            samples = times[(library, workload)]
            medians[library] = statistics.median(samples)
            cells.append(
                f"{1e3 * medians[library]:,.0f} ms "
                f"({1e3 * min(samples):,.0f}-{1e3 * max(samples):,.0f})"
            )
        cells.append(f"{medians['sklearn'] / medians['neurust']:.1f}x")
        if "skorch" in libraries:
            cells.append(f"{medians['skorch'] / medians['neurust']:.1f}x")
        print("| " + " | ".join(cells) + " |")
    mismatched = [
        workload
        for workload in args.workloads
        if len({epochs[(library, workload)] for library in libraries}) != 1
    ]
    if mismatched:
        print(f"\nnote: the libraries ran different numbers of epochs on {mismatched}")


if __name__ == "__main__":
    main()
