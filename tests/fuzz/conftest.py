"""Hypothesis settings for the fuzz suite, and the checks every fuzz test shares.

The "ci" profile (the default) is derandomized, has no deadline (2 shared
cores make timings noisy) and no example database, and keeps max_examples
small: the whole suite runs in well under a minute. `HYPOTHESIS_PROFILE=deep`
runs many more examples, with random seeds, when hunting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import traceback
from pathlib import Path

from hypothesis import HealthCheck, settings

import distil_explorer
from tests.factories import random_trace

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=20,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep", deadline=None, max_examples=500, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PACKAGE = str(Path(distil_explorer.__file__).parent)


class Hang(Exception):
    """An example ran past its time limit."""


@contextlib.contextmanager
def no_hang(seconds: float = 10.0):
    """Fail (raise Hang) when the block runs longer than `seconds`."""

    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def raised_by_us(error: BaseException) -> bool:
    """True when the innermost frame of `error`'s traceback is in distil_explorer."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(PACKAGE)


def assert_ours(error: BaseException, kinds, *culprits: str) -> None:
    """`error` is one of `kinds`, raised by our code, naming one of `culprits`."""
    assert isinstance(error, kinds), f"{type(error).__name__}: {error}"
    assert raised_by_us(error), "".join(traceback.format_exception(error))
    message = str(error)
    assert any(c in message for c in culprits), (message, culprits)


def hand_made_trace():
    """A small Trace made from numpy alone (2 layers, 2 heads, B=2, T=4)."""
    return random_trace(
        layers=2, batch=2, heads=2, length=4, hidden=8, padded=0, seed=0
    )
