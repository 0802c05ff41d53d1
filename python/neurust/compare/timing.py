"""Timing one call fairly: warm-up, timeit-style calibration, samples, interleaving."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Clock = Callable[[], int]
"""A monotonic clock in integer nanoseconds, like :func:`time.perf_counter_ns`."""
Sync = Callable[[Any], None]
"""Blocks until the result of one call is computed (CUDA, JAX); None for eager backends."""

DEFAULT_MIN_SAMPLE_S = 0.05
QUICK_MIN_SAMPLE_S = 0.01
# A longer sample buys nothing a longer --repeat does not, and keeps a run finite.
MAX_MIN_SAMPLE_S = 10.0
DEFAULT_REPEAT = 5
QUICK_REPEAT = 3


@dataclass(frozen=True)
class Timing:
    """The samples of one measurement, each the mean time of one call in a batch.

    Attributes
    ----------
    samples_ns : tuple of float
        Time per call of each sample, in nanoseconds.
    calls_per_sample : int
        How many calls each sample timed back to back.
    warmup_calls : int
        Calls made before the samples (warm-up, and calibration batches
        shorter than a sample).
    """

    samples_ns: tuple[float, ...]
    calls_per_sample: int
    warmup_calls: int

    @property
    def median_ns(self) -> float:
        """The median time per call, in nanoseconds."""
        return float(np.median(self.samples_ns))

    @property
    def q1_ns(self) -> float:
        """The first quartile of the time per call, in nanoseconds."""
        return float(np.percentile(self.samples_ns, 25))

    @property
    def q3_ns(self) -> float:
        """The third quartile of the time per call, in nanoseconds."""
        return float(np.percentile(self.samples_ns, 75))

    @property
    def iqr_ns(self) -> float:
        """The interquartile range of the time per call, in nanoseconds."""
        return self.q3_ns - self.q1_ns


class Timer:
    """Time one zero-argument call: warm-up, timeit-style calibration, samples.

    Parameters
    ----------
    call : callable
        The work to time, with its inputs already bound and on the device.
    sync : callable, optional
        Called with the result of every call, inside the timed region: it must
        block until that result is computed (``torch.cuda.synchronize``,
        ``jax.block_until_ready``). None for backends that compute eagerly.
    clock : callable, optional
        Integer nanoseconds; :func:`time.perf_counter_ns` unless a test injects
        a fake one.
    min_sample_ns : float, optional
        Calibration grows the number of calls per sample until one sample lasts
        at least this long, so that the clock's resolution and the loop's
        overhead stay small against what is measured.
    max_calls_per_sample : int, optional
        Upper bound for calibration (a guard against a call that takes no time).
    max_sample_factor : float, optional
        A sample stops early, between tenths of its batch, once it has lasted
        this many times ``min_sample_ns``: when a shared machine gets busy
        after calibration, a batch sized for a fast call would otherwise run
        for minutes.

    Examples
    --------
    >>> timer = Timer(lambda: sum(range(100)))
    >>> _ = timer.warm_up()
    >>> timer.calibrate() >= 1
    True
    >>> timer.sample() > 0
    True
    """

    def __init__(
        self,
        call: Callable[[], Any],
        *,
        sync: Sync | None = None,
        clock: Clock = time.perf_counter_ns,
        min_sample_ns: float = DEFAULT_MIN_SAMPLE_S * 1e9,
        max_calls_per_sample: int = 10_000_000,
        max_sample_factor: float = 20.0,
    ) -> None:
        self.call = call
        self.sync = sync
        self.clock = clock
        self.min_sample_ns = min_sample_ns
        self.max_calls_per_sample = max_calls_per_sample
        self.max_sample_ns = max_sample_factor * min_sample_ns
        self.calls_per_sample = 1
        self.warmup_calls = 0
        self._first_sample: float | None = None

    def _time_batch(self, calls: int) -> int:
        """Nanoseconds that ``calls`` back-to-back calls take, synchronised."""
        call, sync, clock = self.call, self.sync, self.clock
        # Two loops rather than a branch inside one: for the cheapest calls
        # the loop's own cost is part of what is measured and must stay minimal.
        if sync is None:
            start = clock()
            for _ in itertools.repeat(None, calls):
                call()
            return clock() - start
        start = clock()
        for _ in itertools.repeat(None, calls):
            sync(call())
        return clock() - start

    def warm_up(self, calls: int = 1) -> Any:
        """Make ``calls`` calls (at least one) and return the first one's result.

        The first call of a backend may compile (JAX), create a CUDA context,
        start threads or fault in memory; none of that belongs in a sample.
        """
        result = self.call()
        if self.sync is not None:
            self.sync(result)
        if calls > 1:
            self._time_batch(calls - 1)
        self.warmup_calls += max(calls, 1)
        return result

    def calibrate(self) -> int:
        """Choose how many calls make one sample (1, 2, 5, 10, 20, 50, ...).

        The last batch timed here already has the chosen length and follows
        the warm-up, so it is kept as the first sample: a call of seconds is
        then made once fewer.

        Returns
        -------
        int
            The number of calls per sample, also kept in ``calls_per_sample``.
        """
        calls = 1
        for factor in itertools.cycle((2, 2.5, 2)):
            elapsed = self._time_batch(calls)
            if elapsed >= self.min_sample_ns or calls >= self.max_calls_per_sample:
                break
            self.warmup_calls += calls
            calls = min(int(calls * factor), self.max_calls_per_sample)
        self.calls_per_sample = calls
        self._first_sample = elapsed / calls
        return calls

    def sample(self) -> float:
        """Time one batch of ``calls_per_sample`` calls; return nanoseconds per call.

        The batch runs in tenths, and stops after the tenth that takes it past
        ``max_sample_ns``; the per-call time is then over the calls made.
        """
        if self._first_sample is not None:
            sample, self._first_sample = self._first_sample, None
            return sample
        total = self.calls_per_sample
        chunk = max(1, total // 10)
        elapsed = done = 0
        while done < total and elapsed <= self.max_sample_ns:
            calls = min(chunk, total - done)
            elapsed += self._time_batch(calls)
            done += calls
        return elapsed / done

    def timing(self, samples: Sequence[float]) -> Timing:
        """Wrap samples taken with this timer into a :class:`Timing`."""
        return Timing(tuple(samples), self.calls_per_sample, self.warmup_calls)


def measure(
    call: Callable[[], Any],
    *,
    repeat: int = DEFAULT_REPEAT,
    warmup: int = 1,
    sync: Sync | None = None,
    clock: Clock = time.perf_counter_ns,
    min_sample_ns: float = DEFAULT_MIN_SAMPLE_S * 1e9,
) -> Timing:
    """Time a call: ``warmup`` calls, calibration, then ``repeat`` samples.

    Parameters
    ----------
    call : callable
        The work to time (no arguments).
    repeat : int
        The number of samples; the median and quartiles are taken over them.
    warmup : int
        Calls before calibration, not timed.
    sync, clock, min_sample_ns
        As for :class:`Timer`.

    Returns
    -------
    Timing
        The per-call time of each sample.

    Examples
    --------
    >>> timing = measure(lambda: None, repeat=3, min_sample_ns=1e5)
    >>> len(timing.samples_ns)
    3
    """
    timer = Timer(call, sync=sync, clock=clock, min_sample_ns=min_sample_ns)
    timer.warm_up(warmup)
    timer.calibrate()
    return timer.timing([timer.sample() for _ in range(repeat)])


def measure_interleaved(
    timers: Mapping[str, Timer],
    repeat: int,
    on_sample: Callable[[str], None] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
    settle: Callable[[], object] | None = None,
) -> dict[str, Timing]:
    """Take ``repeat`` samples of each (warmed-up, calibrated) timer, in rounds.

    Each round samples every timer once, so a slow period on a shared machine
    lands on all of them instead of on whichever ran then; and each round
    starts one timer later than the previous one, so no timer always follows
    the same other one.

    Parameters
    ----------
    timers : mapping of str to Timer
        Calibrated timers, by name.
    repeat : int
        The number of rounds.
    on_sample : callable, optional
        Called with the name after each sample (progress reporting).
    on_error : callable, optional
        Called with the name and the exception when a timed call raises; that
        timer takes no more samples and is left out of the result. Without
        it, the exception propagates.
    settle : callable, optional
        Called before each sample, outside the timed region: waits until the
        previous sample's thread pools are idle
        (:func:`~neurust.compare.threads.wait_until_idle`).

    Returns
    -------
    dict of str to Timing
        The timing of each timer that finished, by name.
    """
    samples: dict[str, list[float]] = {name: [] for name in timers}
    running = dict(timers)
    names = list(timers)
    for round_ in range(repeat):
        shift = round_ % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            timer = running.get(name)
            if timer is None:
                continue
            if settle is not None:
                settle()
            try:
                samples[name].append(timer.sample())
            except Exception as error:
                if on_error is None:
                    raise
                on_error(name, error)
                del running[name]
            if on_sample is not None:
                on_sample(name)
    return {name: timer.timing(samples[name]) for name, timer in running.items()}
