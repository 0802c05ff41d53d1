"""Fixtures shared by the tests: every backend, every dtype, the thread count."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import settings

import neurust as nr
from neurust.backends import KNOWN_BACKENDS
from support.reference import DTYPES, ELEMENTWISE

# No deadline: the first calls of a kernel compile (jax) or start threads (rayon).
settings.register_profile("neurust", deadline=None)
settings.load_profile("neurust")


@pytest.fixture(scope="session", params=KNOWN_BACKENDS)
def backend(request: pytest.FixtureRequest) -> nr.Backend:
    """Every backend that can run here; the others skip, saying why."""
    try:
        return nr.get_backend(request.param)
    except nr.BackendUnavailableError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session", params=DTYPES, ids=lambda dtype: dtype.name)
def dtype(request: pytest.FixtureRequest) -> np.dtype:
    """float64 and float32; their tolerances are ``reference.RTOL``."""
    return request.param


@pytest.fixture(scope="session", params=list(ELEMENTWISE))
def elementwise_kernel(request: pytest.FixtureRequest) -> str:
    """The name of every elementwise kernel (see ``reference.ELEMENTWISE``)."""
    return request.param


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Put the thread count back after a test that changes it."""
    before = nr.get_num_threads()
    yield
    nr.set_num_threads(before)


# --- the soak (tests marked ``soak``: memory, threads, the net, fuzzing) ------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the full-length reliability soak (1,000,000 calls, 1,000 fits, long fuzzing)",
    )


@pytest.fixture(scope="session")
def soak(request: pytest.FixtureRequest) -> bool:
    """True under ``--soak``: tests marked ``soak`` then run their full length."""
    return bool(request.config.getoption("--soak"))
