"""scikit-learn's MLPRegressor and MLPClassifier, with their arithmetic in Rust.

>>> from neurust.sklearn import MLPClassifier, MLPRegressor, patch, unpatch

The estimators take scikit-learn 1.9's parameters and give its numbers (see
``MLPRegressor``); ``patch()`` makes ``sklearn.neural_network``'s names resolve to them.
Needs the ``sklearn`` extra: ``pip install "neurust[sklearn]"``.
"""

try:
    import scipy.optimize  # noqa: F401
    import sklearn.neural_network  # noqa: F401
except ImportError as error:
    raise ImportError(
        "neurust.sklearn needs scikit-learn and scipy, which are not installed: "
        'pip install "neurust[sklearn]"'
    ) from error

from neurust.sklearn._estimators import MLPClassifier, MLPRegressor
from neurust.sklearn._patch import is_patched, patch, unpatch

__all__ = ["MLPClassifier", "MLPRegressor", "is_patched", "patch", "unpatch"]
