"""neurust.sklearn's estimators give scikit-learn's numbers, over a grid of parameters.

Each case fits scikit-learn's own estimator and neurust's on the same data with the same
``random_state`` and compares everything fitting produces: the loss curve, the
coefficients and intercepts, ``n_iter_``, ``t_``, ``loss_``, ``best_loss_``, the
validation scores and the predictions.

On the reference core (scikit-learn's own arithmetic behind the Network interface) the
agreement is exact: it proves the Python layer's random draws, schedules and stopping
rules. On the Rust core it is within ``TOLERANCES``: float64 to 1e-9 relative on the loss
curve and 1e-8 on the coefficients; float32 looser, as its rounding allows.
"""

from __future__ import annotations

import itertools
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import neural_network as sk

from neurust import sklearn as nk
from support.network_reference import CORES, use_core

# (loss curve and scores: largest relative difference; coefficients, intercepts and
# predictions: largest difference relative to the largest magnitude), per dtype.
TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-8), np.dtype(np.float32): (2e-3, 2e-3)}

N_SAMPLES, N_FEATURES = 120, 6

SOLVERS: dict[str, dict[str, Any]] = {
    "adam": {"solver": "adam", "learning_rate_init": 0.01},
    "sgd-nesterov": {"solver": "sgd", "learning_rate_init": 0.02, "momentum": 0.9},
    "sgd-plain": {"solver": "sgd", "learning_rate_init": 0.05, "momentum": 0.0},
    "sgd-momentum-invscaling": {
        "solver": "sgd",
        "learning_rate": "invscaling",
        "learning_rate_init": 0.2,
        "power_t": 0.3,
        "nesterovs_momentum": False,
    },
    # A tolerance large enough that the adaptive schedule divides the rate on the way.
    "sgd-adaptive": {
        "solver": "sgd",
        "learning_rate": "adaptive",
        "learning_rate_init": 0.05,
        "tol": 5e-3,
        "n_iter_no_change": 2,
    },
    "lbfgs": {"solver": "lbfgs"},
}
OUTPUTS = ("regression", "multi-output", "poisson", "binary", "multiclass", "multilabel")
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def make_data(output: str, dtype: Any = np.float64, seed: int = 0) -> tuple[np.ndarray, Any]:
    """A small problem of each output kind, the same for both estimators."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    signal = X @ rng.normal(size=(N_FEATURES, 3))
    if output == "regression":
        y: Any = signal[:, 0] + 0.1 * rng.normal(size=N_SAMPLES)
    elif output == "multi-output":
        y = signal[:, :2]
    elif output == "poisson":
        y = rng.poisson(np.exp(0.3 * signal[:, 0])).astype(np.float64)
    elif output == "binary":
        y = np.where(signal[:, 0] > 0, "yes", "no")
    elif output == "multiclass":
        y = np.argmax(signal, axis=1) * 10 + 1
    else:  # multilabel
        y = (signal > 0).astype(int)
    if np.issubdtype(np.asarray(y).dtype, np.floating):
        y = np.asarray(y, dtype=dtype)
    return X.astype(dtype), y


def estimators(output: str, **params: Any) -> tuple[Any, Any]:
    """scikit-learn's estimator and neurust's, with the same parameters."""
    regression = output in ("regression", "multi-output", "poisson")
    if output == "poisson":
        params["loss"] = "poisson"
        # exp() as the output's activation: smaller steps, or the weights blow up.
        params["learning_rate_init"] = params.get("learning_rate_init", 0.001) / 10
    pair = (
        (sk.MLPRegressor, nk.MLPRegressor) if regression else (sk.MLPClassifier, nk.MLPClassifier)
    )
    return pair[0](**params), pair[1](**params)


def fit_quietly(model: Any, *args: Any, method: str = "fit", **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(model, method)(*args, **kwargs)


def relative_difference(ours: Any, theirs: Any) -> float:
    """The largest difference relative to the largest magnitude of ``theirs``."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape
    if ours.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(theirs))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(ours - theirs))) / scale


def elementwise_relative_difference(ours: Any, theirs: Any) -> float:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape
    if ours.size == 0:
        return 0.0
    finite = np.isfinite(theirs)
    np.testing.assert_array_equal(np.isfinite(ours), finite)
    scale = np.maximum(np.abs(theirs[finite]), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(ours[finite] - theirs[finite]) / scale, initial=0.0))


def differences(ours: Any, theirs: Any, X: Any) -> dict[str, float]:
    """How far each fitted number of ``ours`` is from ``theirs`` (0.0: equal)."""
    found = {
        "loss_curve_": elementwise_relative_difference(
            getattr(ours, "loss_curve_", []), getattr(theirs, "loss_curve_", [])
        ),
        "loss_": elementwise_relative_difference(ours.loss_, theirs.loss_),
        "coefs_": max(map(relative_difference, ours.coefs_, theirs.coefs_)),
        "intercepts_": max(map(relative_difference, ours.intercepts_, theirs.intercepts_)),
    }
    if getattr(theirs, "validation_scores_", None) is not None:
        found["validation_scores_"] = elementwise_relative_difference(
            ours.validation_scores_, theirs.validation_scores_
        )
    if hasattr(theirs, "predict_proba"):
        found["predict_proba"] = relative_difference(ours.predict_proba(X), theirs.predict_proba(X))
    else:
        found["predict"] = relative_difference(ours.predict(X), theirs.predict(X))
    return found


def assert_agree(ours: Any, theirs: Any, X: Any, exact: bool) -> None:
    """Exact agreement (on the reference core), or within TOLERANCES (on the Rust core)."""
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(ours, name, None) == getattr(theirs, name, None), name
    assert [c.dtype for c in ours.coefs_] == [c.dtype for c in theirs.coefs_]
    if exact:
        assert getattr(ours, "loss_curve_", None) == getattr(theirs, "loss_curve_", None)
        assert ours.loss_ == theirs.loss_
        assert getattr(ours, "best_loss_", None) == getattr(theirs, "best_loss_", None)
        assert getattr(ours, "validation_scores_", None) == getattr(
            theirs, "validation_scores_", None
        )
        assert getattr(ours, "best_validation_score_", None) == getattr(
            theirs, "best_validation_score_", None
        )
        for mine, its in zip(
            ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
        ):
            np.testing.assert_array_equal(mine, its)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        if hasattr(theirs, "predict_proba"):
            np.testing.assert_array_equal(ours.predict_proba(X), theirs.predict_proba(X))
        return
    # float32 data trains in float32 also under lbfgs, where scipy hands back float64
    # coefficients at the end: the data's dtype sets the tolerance.
    trained_in = np.dtype(np.float32) if X.dtype == np.float32 else theirs.coefs_[0].dtype
    loss_tolerance, coef_tolerance = TOLERANCES[trained_in]
    found = differences(ours, theirs, X)
    for name, difference in found.items():
        tolerance = loss_tolerance if "loss" in name or "scores" in name else coef_tolerance
        assert difference <= tolerance, f"{name} differs by {difference:.3g} > {tolerance:g}"


@pytest.fixture(params=CORES)
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_core(request.param, monkeypatch)


# Every solver x output kind x activation, in float64 on dense data; the options that
# change the loop (early stopping, sample weights, the batch size, shuffling) take turns.
GRID = [
    pytest.param(solver, output, activation, index, id=f"{solver}-{output}-{activation}")
    for index, (solver, output, activation) in enumerate(
        itertools.product(SOLVERS, OUTPUTS, ACTIVATIONS)
    )
]


@pytest.mark.parametrize(("solver", "output", "activation", "index"), GRID)
def test_fit_matches_sklearn(core: str, solver: str, output: str, activation: str, index: int):
    X, y = make_data(output, seed=index % 3)
    params = {
        **SOLVERS[solver],
        "activation": activation,
        "hidden_layer_sizes": (7, 5) if index % 2 else (9,),
        "max_iter": 25,
        "random_state": index,
        "alpha": (1e-4, 1e-2, 0.0)[index % 3],
        "batch_size": (32, "auto", 50, 120)[index % 4],
        "shuffle": index % 5 != 4,
        "early_stopping": SOLVERS[solver]["solver"] != "lbfgs" and index % 4 == 1,
        "n_iter_no_change": SOLVERS[solver].get("n_iter_no_change", 3),
    }
    if params["early_stopping"]:
        params["validation_fraction"] = 0.2
    sample_weight = (
        np.random.RandomState(index).uniform(0.5, 2.0, N_SAMPLES) if index % 3 == 2 else None
    )
    theirs, ours = estimators(output, **params)
    fit_quietly(theirs, X, y, sample_weight=sample_weight)
    fit_quietly(ours, X, y, sample_weight=sample_weight)
    assert_agree(ours, theirs, X, exact=core == "reference")


@pytest.mark.parametrize("layout", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "lbfgs"])
@pytest.mark.parametrize("output", ["regression", "multiclass", "multilabel"])
def test_sparse_fit_matches_sklearn(core: str, layout: str, solver: str, output: str):
    X, y = make_data(output)
    X[np.random.RandomState(1).uniform(size=X.shape) < 0.6] = 0.0
    X_sparse = sp.csr_matrix(X) if layout == "csr" else sp.csc_matrix(X)
    params = {**SOLVERS[solver], "hidden_layer_sizes": (8,), "max_iter": 20, "random_state": 3}
    params["batch_size"] = 40
    theirs, ours = estimators(output, **params)
    fit_quietly(theirs, X_sparse, y)
    fit_quietly(ours, X_sparse, y)
    # The Network reads CSR; scikit-learn's own products on CSC data round differently
    # (its fits on CSR and CSC data differ in the last bits), so CSC agrees to tolerance.
    exact = core == "reference" and layout == "csr"
    assert_agree(ours, theirs, X_sparse, exact)
    # The sparse model predicts the dense data as scikit-learn's does.
    assert_agree(ours, theirs, X, exact)


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-adaptive", "lbfgs"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_float32_fit_matches_sklearn_and_stays_float32(core: str, solver: str, output: str):
    X, y = make_data(output, dtype=np.float32)
    params = {**SOLVERS[solver], "hidden_layer_sizes": (8, 4), "max_iter": 20}
    params.update(random_state=5, batch_size=32, early_stopping=solver == "adam")
    theirs, ours = estimators(output, **params)
    fit_quietly(theirs, X, y)
    fit_quietly(ours, X, y)
    assert_agree(ours, theirs, X, exact=core == "reference")
    if solver != "lbfgs":  # scikit-learn's lbfgs hands back scipy's float64 solution
        assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
        output_of = ours.predict_proba if hasattr(ours, "predict_proba") else ours.predict
        assert output_of(X[:3]).dtype == np.float32


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum-invscaling", "lbfgs"])
@pytest.mark.parametrize("output", ["regression", "binary", "multiclass"])
def test_warm_start_continues_as_sklearn(core: str, solver: str, output: str):
    X, y = make_data(output)
    params = {**SOLVERS[solver], "hidden_layer_sizes": (6,), "max_iter": 8, "random_state": 7}
    params["batch_size"] = 25
    theirs, ours = estimators(output, warm_start=True, **params)
    for seed in (0, 1, 2):
        X_now = X + 0.1 * seed
        fit_quietly(theirs, X_now, y)
        fit_quietly(ours, X_now, y)
        assert_agree(ours, theirs, X, exact=core == "reference")


@pytest.mark.parametrize("solver", ["adam", "sgd-nesterov", "sgd-momentum-invscaling"])
@pytest.mark.parametrize(
    "output", ["regression", "multi-output", "binary", "multiclass", "multilabel"]
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_partial_fit_continues_as_sklearn_also_after_pickling(
    core: str, solver: str, output: str, weighted: bool
):
    X, y = make_data(output)
    params = {**SOLVERS[solver], "hidden_layer_sizes": (6, 3), "random_state": 11}
    params["batch_size"] = 30
    theirs, ours = estimators(output, **params)
    extra: dict[str, Any] = {}
    if output in ("binary", "multiclass"):
        extra["classes"] = np.unique(y)
    elif output == "multilabel":
        extra["classes"] = np.arange(y.shape[1])
    rng = np.random.RandomState(0)
    for step in range(6):
        rows = rng.choice(N_SAMPLES, size=60, replace=False)
        weight = rng.uniform(0.5, 2.0, 60) if weighted else None
        fit_quietly(theirs, X[rows], y[rows], method="partial_fit", sample_weight=weight, **extra)
        fit_quietly(ours, X[rows], y[rows], method="partial_fit", sample_weight=weight, **extra)
        assert_agree(ours, theirs, X, exact=core == "reference")
        if step == 2:
            # The optimizer's state (velocities, Adam's moments) survives the round trip.
            ours = pickle.loads(pickle.dumps(ours))


def agreement_table() -> str:
    """The largest differences to scikit-learn per solver and output kind, as markdown.

    Run ``PYTHONPATH=tests python tests/sklearn/test_sklearn_agreement.py`` (from the
    repository root) for the figures of the current core over this module's grid
    (float64, dense).
    """
    rows = [
        "| solver | output | loss curve | coefficients | predictions |",
        "|---|---|---|---|---|",
    ]
    for solver, output in itertools.product(SOLVERS, OUTPUTS):
        worst = {"loss": 0.0, "coef": 0.0, "predict": 0.0}
        for index, activation in enumerate(ACTIVATIONS):
            X, y = make_data(output, seed=index % 3)
            params = {**SOLVERS[solver], "activation": activation, "max_iter": 25}
            params.update(hidden_layer_sizes=(7, 5), random_state=index, batch_size=32)
            theirs, ours = estimators(output, **params)
            fit_quietly(theirs, X, y)
            fit_quietly(ours, X, y)
            found = differences(ours, theirs, X)
            worst["loss"] = max(worst["loss"], found["loss_curve_"], found["loss_"])
            worst["coef"] = max(worst["coef"], found["coefs_"], found["intercepts_"])
            worst["predict"] = max(
                worst["predict"], found.get("predict", 0.0), found.get("predict_proba", 0.0)
            )
        rows.append(
            f"| {solver} | {output} | {worst['loss']:.1e} | {worst['coef']:.1e} "
            f"| {worst['predict']:.1e} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(agreement_table())


@pytest.mark.parametrize("solver", ["sgd-adaptive", "adam"])
def test_verbose_prints_what_sklearn_prints(
    core: str, solver: str, capsys: pytest.CaptureFixture[str]
):
    X, y = make_data("regression")
    params = {**SOLVERS[solver], "hidden_layer_sizes": (5,), "max_iter": 12, "random_state": 2}
    params.update(verbose=True, early_stopping=solver == "adam", tol=1e-2, n_iter_no_change=2)
    theirs, ours = estimators("regression", **params)
    fit_quietly(theirs, X, y)
    printed_by_sklearn = capsys.readouterr().out
    fit_quietly(ours, X, y)
    printed = capsys.readouterr().out
    assert "Iteration 1, loss = " in printed
    if core == "reference":
        assert printed == printed_by_sklearn
    else:
        assert len(printed.splitlines()) == len(printed_by_sklearn.splitlines())


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32, np.int64])
def test_float32_model_predicts_in_numpys_promoted_dtype_as_sklearn(core: str, x_dtype: Any):
    X, y = make_data("regression", dtype=np.float32)
    theirs, ours = estimators("regression", hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    fit_quietly(theirs, X, y)
    fit_quietly(ours, X, y)
    X_new = (10 * X).astype(x_dtype)
    expected = theirs.predict(X_new)
    found = ours.predict(X_new)
    assert found.dtype == expected.dtype
    if core == "reference":
        np.testing.assert_array_equal(found, expected)
    else:
        np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-5)


@settings(max_examples=25)
@given(
    n_samples=st.integers(8, 60),
    n_features=st.integers(1, 5),
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    n_outputs=st.integers(1, 3),
    batch_size=st.integers(1, 70),
    solver=st.sampled_from(["adam", "sgd"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_shapes_match_sklearn_on_the_reference_core(
    n_samples: int,
    n_features: int,
    hidden: list[int],
    n_outputs: int,
    batch_size: int,
    solver: str,
    seed: int,
):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = rng.normal(size=(n_samples, n_outputs))
    params = {"hidden_layer_sizes": tuple(hidden), "batch_size": batch_size, "solver": solver}
    params.update(max_iter=4, random_state=seed, learning_rate_init=0.01)
    theirs = fit_quietly(sk.MLPRegressor(**params), X, y)
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_core("reference", monkeypatch)
        ours = fit_quietly(nk.MLPRegressor(**params), X, y)
        assert_agree(ours, theirs, X, exact=True)
