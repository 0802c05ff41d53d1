"""neurust.sklearn's estimators in scikit-learn's ecosystem, and their answers to bad input.

Pipelines, grid search, cross-validation, ``clone``, pickling, ``patch()``, pandas
feature names, predictions from several threads, scikit-learn's own exceptions and
warnings, the ImportError without scikit-learn, and Ctrl-C during a fit.
"""

from __future__ import annotations

import pickle
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import neurust.sklearn
from neurust import sklearn as nk
from support.children import Child, run_python
from support.network_reference import CORES, use_core


@pytest.fixture(params=CORES)
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_core(request.param, monkeypatch)


@pytest.fixture
def restore_sklearn():
    """Unpatch after a test that patches, whatever it did."""
    yield
    nk.unpatch()


def regression_data(n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 4))
    return X, X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=n)


def classification_data(n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    X, y = regression_data(n)
    return X, np.digitize(y, [-1.0, 1.0])  # three classes


def quietly(function: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return function(*args, **kwargs)


def assert_close(ours: Any, theirs: Any, core: str) -> None:
    if core == "reference":
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)


# --- scikit-learn's tools hold them ---------------------------------------------------


def test_estimators_are_sklearn_estimators_of_the_right_kind():
    assert is_regressor(nk.MLPRegressor()) and not is_classifier(nk.MLPRegressor())
    assert is_classifier(nk.MLPClassifier())
    assert nk.MLPRegressor().get_params() == sk.MLPRegressor().get_params()
    assert nk.MLPClassifier().get_params() == sk.MLPClassifier().get_params()


def test_pipeline_scores_as_sklearns(core: str):
    X, y = regression_data()
    ours = make_pipeline(
        StandardScaler(), nk.MLPRegressor(hidden_layer_sizes=(12,), max_iter=30, random_state=0)
    )
    theirs = make_pipeline(
        StandardScaler(), sk.MLPRegressor(hidden_layer_sizes=(12,), max_iter=30, random_state=0)
    )
    quietly(ours.fit, X, y)
    quietly(theirs.fit, X, y)
    assert_close(ours.predict(X), theirs.predict(X), core)
    assert_close(ours.score(X, y), theirs.score(X, y), core)


def test_grid_search_picks_what_sklearns_picks(core: str):
    X, y = classification_data()
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (10,)]}
    ours = GridSearchCV(nk.MLPClassifier(max_iter=30, random_state=0), grid, cv=3)
    theirs = GridSearchCV(sk.MLPClassifier(max_iter=30, random_state=0), grid, cv=3)
    quietly(ours.fit, X, y)
    quietly(theirs.fit, X, y)
    assert ours.best_params_ == theirs.best_params_
    assert isinstance(ours.best_estimator_, nk.MLPClassifier)
    assert_close(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], core)


def test_cross_val_score_as_sklearns(core: str):
    X, y = regression_data()
    for solver in ("adam", "lbfgs"):
        params = {"hidden_layer_sizes": (8,), "max_iter": 25, "random_state": 1, "solver": solver}
        ours = quietly(cross_val_score, nk.MLPRegressor(**params), X, y, cv=4)
        theirs = quietly(cross_val_score, sk.MLPRegressor(**params), X, y, cv=4)
        assert_close(ours, theirs, core)


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(core: str):
    X, y = classification_data()
    model = quietly(nk.MLPClassifier((5,), max_iter=5, random_state=0).fit, X, y)
    copy = clone(model)
    assert type(copy) is nk.MLPClassifier
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "coefs_")
    with pytest.raises(NotFittedError):
        copy.predict(X)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_pickled_model_predicts_the_same_and_warm_starts_the_same(core: str, solver: str):
    X, y = classification_data()
    model = quietly(
        nk.MLPClassifier((6,), solver=solver, max_iter=10, random_state=0, warm_start=True).fit,
        X,
        y,
    )
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    quietly(model.fit, X, y)
    quietly(restored.fit, X, y)
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert restored.loss_ == model.loss_


# --- patch() ---------------------------------------------------------------------------


def test_patch_makes_sklearn_names_resolve_to_neurust_and_unpatch_restores(
    core: str, restore_sklearn: None
):
    import sklearn.neural_network
    import sklearn.neural_network._multilayer_perceptron as mlp

    original = (sklearn.neural_network.MLPRegressor, sklearn.neural_network.MLPClassifier)
    assert not nk.is_patched()
    nk.patch()
    nk.patch()  # idempotent
    assert nk.is_patched()
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    assert MLPRegressor is nk.MLPRegressor and MLPClassifier is nk.MLPClassifier
    assert mlp.MLPRegressor is nk.MLPRegressor and mlp.MLPClassifier is nk.MLPClassifier
    # Existing code runs unchanged on the patched names.
    X, y = classification_data()
    assert quietly(MLPClassifier((4,), max_iter=5, random_state=0).fit, X, y).score(X, y) > 0
    nk.unpatch()
    nk.unpatch()  # idempotent
    assert not nk.is_patched()
    assert (sklearn.neural_network.MLPRegressor, sklearn.neural_network.MLPClassifier) == original
    assert (mlp.MLPRegressor, mlp.MLPClassifier) == original


# --- pandas ----------------------------------------------------------------------------


def test_feature_names_in_from_a_dataframe_and_checked_at_predict(core: str):
    pd = pytest.importorskip("pandas")
    X, y = regression_data()
    frame = pd.DataFrame(X, columns=["toes", "record", "fans", "wins"])
    model = quietly(
        nk.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit, frame, y
    )
    np.testing.assert_array_equal(model.feature_names_in_, ["toes", "record", "fans", "wins"])
    assert model.n_features_in_ == 4
    np.testing.assert_array_equal(model.predict(frame), model.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame.rename(columns={"toes": "feet"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X)


# --- threads -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_predict_from_many_threads_at_once_gives_the_serial_answers(core: str, kind: str):
    X, y = classification_data(400)
    model = quietly(nk.MLPClassifier((32, 16), max_iter=5, random_state=0).fit, X, y)
    chunks = [X[i : i + 50] for i in range(0, 400, 50)] * 4
    if kind == "sparse":
        chunks = [sp.csr_matrix(chunk) for chunk in chunks]
    serial = [model.predict_proba(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(model.predict_proba, chunks))
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)


# --- bad input gets scikit-learn's answers ------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("estimator", [nk.MLPRegressor, nk.MLPClassifier])
def test_non_finite_input_is_a_value_error(core: str, estimator: Any, bad: float):
    X, y = classification_data()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains"):
        estimator(max_iter=2).fit(X, y)
    model = quietly(
        estimator(hidden_layer_sizes=(3,), max_iter=2).fit, np.nan_to_num(X, posinf=0.0), y
    )
    with pytest.raises(ValueError, match="Input X contains"):
        model.predict(X)


def test_non_finite_regression_target_is_a_value_error(core: str):
    X, y = regression_data()
    y[0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        nk.MLPRegressor(max_iter=2).fit(X, y)


@pytest.mark.parametrize("estimator", [nk.MLPRegressor, nk.MLPClassifier])
def test_mismatched_lengths_are_a_value_error(core: str, estimator: Any):
    X, y = classification_data()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        estimator(max_iter=2).fit(X, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        estimator(max_iter=2).fit(X, y, sample_weight=np.ones(len(y) - 2))


def test_wrong_feature_count_at_predict_is_a_value_error(core: str):
    X, y = regression_data()
    model = quietly(nk.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit, X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


def test_partial_fit_with_labels_it_has_not_seen_is_a_value_error(core: str):
    X, y = classification_data()
    model = nk.MLPClassifier((4,))
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match="classes not in"):
        model.partial_fit(X, y)


def test_partial_fit_is_not_available_for_lbfgs_nor_with_early_stopping(core: str):
    X, y = regression_data()
    assert not hasattr(nk.MLPClassifier(solver="lbfgs"), "partial_fit")
    # scikit-learn 1.9's regressor offers it whatever the solver; so does neurust's.
    assert hasattr(nk.MLPRegressor(solver="lbfgs"), "partial_fit") == hasattr(
        sk.MLPRegressor(solver="lbfgs"), "partial_fit"
    )
    with pytest.raises(ValueError, match="early_stopping"):
        nk.MLPRegressor(early_stopping=True).partial_fit(X, y)


@pytest.mark.parametrize("estimator", [nk.MLPRegressor, nk.MLPClassifier])
def test_predict_before_fit_is_not_fitted_error(estimator: Any):
    X, _ = classification_data()
    with pytest.raises(NotFittedError):
        estimator().predict(X)
    if estimator is nk.MLPClassifier:
        with pytest.raises(NotFittedError):
            estimator().predict_proba(X)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_max_iter_reached_is_a_convergence_warning(core: str, solver: str):
    X, y = regression_data()
    with pytest.warns(ConvergenceWarning):
        nk.MLPRegressor(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0).fit(
            X, y
        )


def test_bad_parameter_is_sklearns_invalid_parameter_error(core: str):
    X, y = regression_data()
    with pytest.raises(ValueError, match="activation"):
        nk.MLPRegressor(activation="softplus").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        nk.MLPRegressor(hidden_layer_sizes=(4, 0)).fit(X, y)


# --- without scikit-learn; Ctrl-C ----------------------------------------------------------

_WITHOUT_SKLEARN = """
import importlib.abc, sys

class NoSklearn(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("sklearn", "scipy"):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoSklearn())
import neurust  # neurust itself needs neither
try:
    import neurust.sklearn
except ImportError as error:
    print("ImportError:", error)
else:
    print("imported")
"""


def test_import_without_sklearn_says_how_to_install_it():
    done = run_python(_WITHOUT_SKLEARN, timeout=120, check=True)
    assert "ImportError:" in done.stdout, done.stdout + done.stderr
    assert 'pip install "neurust[sklearn]"' in done.stdout


_INTERRUPTED_FIT = """
import time, warnings
import numpy as np
from neurust.sklearn import MLPRegressor

rng = np.random.RandomState(0)
X = rng.normal(size=(20000, 64))
y = X[:, 0]
model = MLPRegressor(hidden_layer_sizes=(256, 256), batch_size=20000, max_iter=100000, tol=0.0,
                     n_iter_no_change=10**9, random_state=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("fitting", flush=True)
    model.fit(X, y)
print("returned", model.n_iter_, flush=True)
print("warned", any("interrupted" in str(w.message) for w in caught), flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX signals")
def test_ctrl_c_during_fit_stops_it_as_sklearn_does():
    # scikit-learn catches the KeyboardInterrupt, warns "Training interrupted by user."
    # and returns the model as it stands; neurust's Rust epochs must let it arrive.
    from neurust import _core

    if not hasattr(_core, "Network"):
        pytest.skip("this build of neurust._core has no Network yet")
    with Child(_INTERRUPTED_FIT, interruptible=True) as child:
        assert child.read_line(timeout=120, waiting_for="'fitting'") == "fitting"
        time.sleep(1.0)  # into the epochs
        sent = time.perf_counter()
        child.interrupt()
        returned = child.read_line(timeout=30, waiting_for="'returned'")
        elapsed = time.perf_counter() - sent
        warned = child.read_line(timeout=10, waiting_for="'warned'")
        assert child.wait(timeout=30) == 0, child.stderr
    assert returned.startswith("returned")
    assert warned == "warned True"
    assert elapsed < 2.0, f"fit returned {elapsed:.2f} s after Ctrl-C"


def test_package_exports():
    assert set(neurust.sklearn.__all__) == {
        "MLPClassifier",
        "MLPRegressor",
        "is_patched",
        "patch",
        "unpatch",
    }
