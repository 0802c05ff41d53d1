"""scikit-learn's own estimator checks pass on neurust.sklearn's estimators.

``parametrize_with_checks`` yields every check scikit-learn 1.9 runs on an estimator
(cloning, parameters, pickling, dtypes, sparse input, sample weights, fitting quality,
``n_features_in_``, feature names...). Each runs on both cores, with the ``max_iter`` that
scikit-learn's own test suite gives its MLPs. A check that fails on neurust's estimator
is run on scikit-learn's own with the same settings: only a check that scikit-learn's
estimator fails too may fail here (none did with scikit-learn 1.9.1).
"""

from __future__ import annotations

import copy
import unittest
from collections.abc import Callable
from typing import Any

import pytest
from sklearn import neural_network as sk
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurust import sklearn as nk
from support.network_reference import CORES, use_core

# scikit-learn's test suite sets max_iter=100 for its MLPs (instance_generator.py).
SETTINGS = {"max_iter": 100}
SKLEARN_OF = {nk.MLPRegressor: sk.MLPRegressor, nk.MLPClassifier: sk.MLPClassifier}


@pytest.fixture(params=CORES)
def core(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return use_core(request.param, monkeypatch)


@parametrize_with_checks([nk.MLPRegressor(**SETTINGS), nk.MLPClassifier(**SETTINGS)])
def test_sklearn_estimator_check(core: str, estimator: Any, check: Callable[[Any], None]):
    # Each check gets a copy: a check that sets parameters must not leak into the next core.
    estimator = copy.deepcopy(estimator)
    try:
        check(estimator)
    except unittest.SkipTest:  # scikit-learn's way of saying a check does not apply
        raise
    except Exception as failure:
        theirs = SKLEARN_OF[type(estimator)](**estimator.get_params())
        try:
            check(theirs)
        except Exception:
            pytest.xfail(f"scikit-learn's own {type(theirs).__name__} fails it too: {failure}")
        raise


def test_the_checks_run_on_neurust_classes():
    # parametrize_with_checks names the checks by class; guard against testing sklearn's.
    assert nk.MLPRegressor.__module__ == "neurust.sklearn._estimators"
    assert issubclass(nk.MLPRegressor, sk.MLPRegressor)
    assert issubclass(nk.MLPClassifier, sk.MLPClassifier)
