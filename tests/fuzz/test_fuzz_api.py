"""Fuzzing the rest of the module's functions: signatures, set_num_threads, get_backend.

Each batch runs in a child interpreter (see tests/support/fuzzing.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import neurust as nr
from support.fuzzing import (
    COUNTS,
    Batch,
    child_main,
    fuzz_in_child,
    mostly,
    names_one_of,
    python_objects,
)
from support.reference import public_kernel

# name -> (required positional arguments, most positional arguments, keywords allowed)
SIGNATURES: dict[str, tuple[int, int, set[str]]] = {
    "weighted_sum": (2, 2, set()),
    "relu": (1, 2, {"out"}),
    "sigmoid": (1, 2, {"out"}),
    "heaviside": (1, 2, {"out"}),
    "relu_grad": (2, 3, {"out"}),
    "sigmoid_grad": (2, 3, {"out"}),
    "linear": (2, 3, set()),
    "set_num_threads": (1, 1, set()),
    "get_num_threads": (0, 0, set()),
    "build_info": (0, 0, set()),
}


def fuzz_arity(data: st.DataObject) -> None:
    """Too many or too few arguments, or unknown keywords: a TypeError naming the function."""
    COUNTS["examples"] += 1
    name = data.draw(st.sampled_from(sorted(SIGNATURES)))
    count = data.draw(st.integers(0, 5))
    keywords = data.draw(
        st.dictionaries(
            st.sampled_from(["x", "inputs", "weights", "grad", "bias", "n", "out", "axis"]),
            st.none(),
        )
    )
    required, most, allowed = SIGNATURES[name]
    if required <= count <= most and set(keywords) <= allowed and count + len(keywords) <= most:
        return  # a valid signature
    args = tuple(np.ones(1) for _ in range(count))
    COUNTS["calls"] += 1
    try:
        public_kernel(name)(*args, **keywords)
    except TypeError as error:
        assert name in str(error) or names_one_of(str(error), list(keywords)), error
        COUNTS["rejected"] += 1
        return
    except BaseException as error:
        raise AssertionError(f"{name}(*{args}, **{keywords}) raised {error!r}") from None
    raise AssertionError(f"{name}(*{args}, **{keywords}) accepted a wrong signature")


MAX_THREADS = 4096  # set_num_threads refuses more (ValueError)


def fuzz_set_num_threads(data: st.DataObject) -> None:
    """set_num_threads on arbitrary objects; get_num_threads and build_info agree after."""
    COUNTS["examples"] += 1
    n = data.draw(
        mostly(
            st.integers(-3, 8),
            st.sampled_from([MAX_THREADS + 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1])
            | python_objects,
        ),
        label="n",
    )
    if isinstance(n, int | np.integer) and 8 < n <= MAX_THREADS:
        return  # valid, but thousands of threads per example would only be slow
    before = nr.get_num_threads()
    COUNTS["calls"] += 1
    try:
        try:
            nr.set_num_threads(n)
            raised: BaseException | None = None
        except (ValueError, TypeError) as error:
            raised = error
        except BaseException as error:
            raise AssertionError(f"set_num_threads({n!r}) raised {error!r}") from None
        integer = isinstance(n, int | np.integer) and not isinstance(n, bool)
        if integer and 1 <= n <= MAX_THREADS and (raised is None or isinstance(n, int)):
            assert raised is None, f"set_num_threads({n!r}) raised {raised!r}"
            assert nr.get_num_threads() == n
            assert nr.build_info()["num_threads"] == n
            COUNTS["accepted"] += 1
        else:  # not an int (numpy integers and bools may be refused too), or out of range
            assert raised is not None, f"set_num_threads({n!r}) was accepted"
            assert names_one_of(str(raised), ["n"]), f"set_num_threads({n!r}): {raised!r}"
            assert isinstance(raised, ValueError if integer else TypeError) or isinstance(
                n, np.integer | bool
            ), f"set_num_threads({n!r}) raised {raised!r}"
            assert nr.get_num_threads() == before
            COUNTS["rejected"] += 1
    finally:
        nr.set_num_threads(before)


def fuzz_get_backend(data: st.DataObject) -> None:
    """get_backend on arbitrary objects: a backend, or an error naming the backend."""
    COUNTS["examples"] += 1
    name = data.draw(mostly(python_objects, st.sampled_from(nr.backends.KNOWN_BACKENDS)))
    COUNTS["calls"] += 1
    try:
        backend = nr.get_backend(name)
    except (ValueError, TypeError) as error:
        assert names_one_of(str(error), ["backend", "name"]), f"get_backend({name!r}): {error!r}"
        COUNTS["rejected"] += 1
        return
    except BaseException as error:
        raise AssertionError(f"get_backend({name!r}) raised {error!r}") from None
    assert backend.name == name
    COUNTS["accepted"] += 1


BATCHES: dict[str, Batch] = {
    "arity": fuzz_arity,
    "set_num_threads": fuzz_set_num_threads,
    "get_backend": fuzz_get_backend,
}


@pytest.mark.soak
def test_fuzzed_signatures_raise_a_type_error_naming_the_function(soak: bool) -> None:
    fuzz_in_child(__file__, "arity", soak)


@pytest.mark.soak
def test_fuzzed_thread_counts_are_set_or_refused_naming_n(soak: bool) -> None:
    fuzz_in_child(__file__, "set_num_threads", soak)


@pytest.mark.soak
def test_fuzzed_backend_names_give_a_backend_or_an_error_naming_it(soak: bool) -> None:
    fuzz_in_child(__file__, "get_backend", soak)


if __name__ == "__main__":
    child_main(BATCHES)
