"""patch() / unpatch(): scikit-learn's MLP names resolve to neurust's while patched."""

from __future__ import annotations

from types import ModuleType

import sklearn.neural_network
import sklearn.neural_network._multilayer_perceptron

from neurust.sklearn._estimators import MLPClassifier, MLPRegressor

__all__ = ["is_patched", "patch", "unpatch"]

# Where scikit-learn defines the two names and where its users import them from.
_MODULES: tuple[ModuleType, ...] = (
    sklearn.neural_network._multilayer_perceptron,
    sklearn.neural_network,
)
_REPLACEMENTS = {"MLPRegressor": MLPRegressor, "MLPClassifier": MLPClassifier}

# scikit-learn's own classes, kept when patching; empty while unpatched.
_originals: dict[tuple[str, str], type] = {}


def patch() -> None:
    """Make ``sklearn.neural_network.MLPRegressor`` and ``MLPClassifier`` neurust's.

    Code that imports them from ``sklearn.neural_network`` (or its
    ``_multilayer_perceptron`` module) *after* this call gets
    ``neurust.sklearn.MLPRegressor`` / ``MLPClassifier``: the same parameters and
    results, computed in Rust. Names imported before the call keep what they were bound
    to. Calling it again changes nothing; ``unpatch()`` restores scikit-learn's.

    >>> import neurust.sklearn, sklearn.neural_network
    >>> neurust.sklearn.patch()
    >>> sklearn.neural_network.MLPRegressor.__module__
    'neurust.sklearn._estimators'
    >>> neurust.sklearn.unpatch()
    """
    if _originals:
        return
    for module in _MODULES:
        for name, replacement in _REPLACEMENTS.items():
            _originals[(module.__name__, name)] = getattr(module, name)
            setattr(module, name, replacement)


def unpatch() -> None:
    """Give ``sklearn.neural_network`` its own MLPRegressor and MLPClassifier back.

    Does nothing when not patched.
    """
    for module in _MODULES:
        for name in _REPLACEMENTS:
            original = _originals.pop((module.__name__, name), None)
            if original is not None:
                setattr(module, name, original)


def is_patched() -> bool:
    """Whether ``sklearn.neural_network``'s MLP names are neurust's (see ``patch``)."""
    return all(
        getattr(module, name) is replacement
        for module in _MODULES
        for name, replacement in _REPLACEMENTS.items()
    )
