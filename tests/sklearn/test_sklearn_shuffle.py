"""The epoch shuffle makes numpy's draws: the same array and the same generator state after.

``_shuffle`` shuffles in the compiled core (``_core._legacy_shuffle``) with the
RandomState's own bit generator. Each test runs numpy's ``RandomState.shuffle`` on one
generator and the native shuffle on a twin of it, then compares the arrays, the states
(``get_state``) and the next draws. The fits' agreement with scikit-learn
(test_sklearn_agreement.py) checks the same draws end to end.
"""

from __future__ import annotations

import datetime
import threading
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils import shuffle as sklearn_shuffle

from neurust import _core
from neurust.sklearn._estimators import _shuffle

SIZES = (0, 1, 2, 3, 442, 1000)
SEEDS = (0, 1, 2, 3, 42, 1234, 2**31 - 1, 2**32 - 1)

# RandomState(seed) seeds MT19937 as legacy numpy did; a BitGenerator is used as given.
GENERATORS: dict[str, Callable[[int], np.random.RandomState]] = {
    "legacy-mt19937": np.random.RandomState,
    "mt19937": lambda seed: np.random.RandomState(np.random.MT19937(seed)),
    "pcg64": lambda seed: np.random.RandomState(np.random.PCG64(seed)),
    "philox": lambda seed: np.random.RandomState(np.random.Philox(seed)),
    "sfc64": lambda seed: np.random.RandomState(np.random.SFC64(seed)),
}


def twins(kind: str, seed: int, draws_before: int = 0) -> tuple[Any, Any]:
    """Two RandomStates in the same state, after ``draws_before`` 32-bit draws each."""
    pair = (GENERATORS[kind](seed), GENERATORS[kind](seed))
    if draws_before:
        for random_state in pair:
            # randint below 2**32 draws 32 bits a value: an odd count leaves PCG64
            # and its kind with half a 64-bit word pending.
            random_state.randint(0, 1000, size=draws_before)
    return pair


def assert_same_state(ours: np.random.RandomState, numpys: np.random.RandomState) -> None:
    """The same generator state, and the same draws from it next."""
    if isinstance(numpys._bit_generator, np.random.MT19937):
        _, our_key, our_pos, *our_gauss = ours.get_state(legacy=True)
        _, key, pos, *gauss = numpys.get_state(legacy=True)
        np.testing.assert_array_equal(our_key, key)
        assert (our_pos, our_gauss) == (pos, gauss)
    assert_equal_nested(ours.get_state(legacy=False), numpys.get_state(legacy=False))
    np.testing.assert_array_equal(ours.randint(0, 2**31, size=5), numpys.randint(0, 2**31, size=5))
    np.testing.assert_array_equal(ours.random_sample(3), numpys.random_sample(3))
    assert ours._bit_generator.random_raw() == numpys._bit_generator.random_raw()


def assert_equal_nested(ours: Any, expected: Any) -> None:
    if isinstance(expected, dict):
        assert ours.keys() == expected.keys()
        for key in expected:
            assert_equal_nested(ours[key], expected[key])
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(ours, expected)
    else:
        assert ours == expected


def numpys_shuffle(random_state: np.random.RandomState, sample_idx: np.ndarray) -> np.ndarray:
    """scikit-learn's draw: ``np.arange(n)`` shuffled by numpy, indexing ``sample_idx``."""
    permutation = np.arange(sample_idx.shape[0])
    random_state.shuffle(permutation)
    return sample_idx[permutation]


def check(kind: str, seed: int, n: int, draws_before: int = 0, permuted: bool = False) -> None:
    ours, numpys = twins(kind, seed, draws_before)
    sample_idx = np.arange(n)
    if permuted:
        sample_idx = np.random.default_rng(seed).permutation(n)
    expected = numpys_shuffle(numpys, sample_idx)
    shuffled = _shuffle(sample_idx.copy(), ours)
    np.testing.assert_array_equal(shuffled, expected)
    assert_same_state(ours, numpys)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed", SEEDS)
def test_same_array_and_state_as_numpys_shuffle(seed: int, n: int):
    check("legacy-mt19937", seed, n)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_any_bit_generator_draws_as_numpy(kind: str, n: int):
    for seed in (0, 7, 2**32 - 1):
        check(kind, seed, n)


@pytest.mark.parametrize("kind", sorted(GENERATORS))
@pytest.mark.parametrize("draws_before", [1, 3, 623, 624, 625, 1000])
def test_a_generator_part_way_through_its_buffer(kind: str, draws_before: int):
    for n in (2, 442, 1000):
        check(kind, 11, n, draws_before=draws_before)


@pytest.mark.parametrize("kind", ["legacy-mt19937", "pcg64"])
@pytest.mark.parametrize("n", [2, 3, 442, 1000])
def test_permuted_sample_idx_is_indexed_as_numpy(kind: str, n: int):
    check(kind, 5, n, permuted=True)


@settings(max_examples=60)
@given(
    kind=st.sampled_from(sorted(GENERATORS)),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 3000),
    draws_before=st.integers(0, 1300),
    permuted=st.booleans(),
)
def test_random_sizes_and_states(kind: str, seed: int, n: int, draws_before: int, permuted: bool):
    check(kind, seed, n, draws_before=draws_before, permuted=permuted)


def test_same_as_sklearns_shuffle_epoch_after_epoch():
    ours, theirs = twins("legacy-mt19937", 3)
    sample_idx = np.arange(442)
    expected = sample_idx.copy()
    for _ in range(20):
        sample_idx = _shuffle(sample_idx, ours)
        expected = sklearn_shuffle(expected, random_state=theirs)
        np.testing.assert_array_equal(sample_idx, expected)
    assert_same_state(ours, theirs)


def test_a_random_state_is_shuffled_in_place_and_others_into_a_new_array():
    sample_idx = np.arange(50)
    assert _shuffle(sample_idx, np.random.RandomState(0)) is sample_idx

    class Counting(np.random.RandomState):
        """A subclass may change ``shuffle``: it takes numpy's path, through its method."""

        calls = 0

        def shuffle(self, x: Any) -> None:
            Counting.calls += 1
            super().shuffle(x)

    original = np.arange(50)
    shuffled = _shuffle(original, Counting(0))
    assert shuffled is not original and Counting.calls == 1
    np.testing.assert_array_equal(original, np.arange(50))
    np.testing.assert_array_equal(shuffled, numpys_shuffle(np.random.RandomState(0), original))


def test_the_shuffle_waits_for_the_generators_lock():
    random_state = np.random.RandomState(0)
    sample_idx = np.arange(442)
    with random_state._bit_generator.lock:
        worker = threading.Thread(target=_shuffle, args=(sample_idx, random_state))
        worker.start()
        worker.join(0.2)
        assert worker.is_alive(), "the shuffle ran while another thread held the lock"
        np.testing.assert_array_equal(sample_idx, np.arange(442))
    worker.join(10)
    assert not worker.is_alive()
    np.testing.assert_array_equal(
        sample_idx, numpys_shuffle(np.random.RandomState(0), np.arange(442))
    )


# --- bad arguments: refused before any draw ---------------------------------------------------

NOT_BIT_GENERATORS = {
    "object": object(),
    "random-state": np.random.RandomState(0),
    "capsule-not-a-capsule": types.SimpleNamespace(capsule=3),
    "capsule-of-another-name": types.SimpleNamespace(capsule=datetime.datetime_CAPI),
}


@pytest.mark.parametrize("name", sorted(NOT_BIT_GENERATORS))
def test_not_a_bit_generator_raises_type_error(name: str):
    with pytest.raises(TypeError, match=r"^bit_generator must be a numpy BitGenerator"):
        _core._legacy_shuffle(NOT_BIT_GENERATORS[name], np.arange(5))  # type: ignore[arg-type]


def read_only(x: np.ndarray) -> np.ndarray:
    x.setflags(write=False)
    return x


BAD_ARRAYS: dict[str, tuple[type[Exception], str, Callable[[], Any]]] = {
    "list": (TypeError, "^x must be a numpy.ndarray of intp, got list", lambda: [0, 1, 2]),
    "float64": (TypeError, "^x has dtype float64, but intp", lambda: np.arange(5.0)),
    "int32": (TypeError, "^x has dtype int32, but intp", lambda: np.arange(5, dtype=np.int32)),
    "2-D": (ValueError, r"^x must be 1-D, got shape \(2, 3\)", lambda: np.zeros((2, 3), np.intp)),
    "0-D": (ValueError, r"^x must be 1-D, got shape \(\)", lambda: np.array(3, np.intp)),
    "strided": (ValueError, "^x must be a C-contiguous", lambda: np.arange(10)[::2]),
    "read-only": (ValueError, "^x is read-only", lambda: read_only(np.arange(5))),
}


@pytest.mark.parametrize("name", sorted(BAD_ARRAYS))
def test_bad_array_raises_and_draws_nothing(name: str):
    error, message, make = BAD_ARRAYS[name]
    x = make()
    random_state, untouched = twins("legacy-mt19937", 0)
    with pytest.raises(error, match=message):
        _core._legacy_shuffle(random_state._bit_generator, x)
    assert_same_state(random_state, untouched)
