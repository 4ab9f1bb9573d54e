"""Interleaved timing: every implementation runs once per round, so machine
noise (other processes, frequency changes) hits all of them alike. The order
within a round is shuffled (seeded), so no implementation always runs right
after the same neighbour (one that leaves caches cold or memory to reclaim)."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import numpy as np


def interleaved_medians(
    functions: dict[str, Callable[[], object]], rounds: int = 10, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each function, measured round-robin."""
    samples = interleaved_samples(functions, rounds, warmup)
    return {name: statistics.median(values) for name, values in samples.items()}


def interleaved_samples(
    functions: dict[str, Callable[[], object]], rounds: int = 10, warmup: int = 2
) -> dict[str, list[float]]:
    """Every round's seconds per call of each function, measured round-robin."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    order = list(functions.items())
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name, function in order:
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
    return samples


def paired_ratio(
    numerator: list[float], denominator: list[float], resamples: int = 2000
) -> tuple[float, float, float]:
    """Median of the per-round ratios, with a 95% bootstrap interval.

    Both lists hold one time per round of `interleaved_samples`. A round's
    two calls ran seconds apart, so a slow spell of the machine slows both:
    the per-round ratio cancels it, where a ratio of medians does not.
    Returns (median, low, high); resampling is seeded, so a rerun on the
    same samples prints the same interval.
    """
    ratios = np.asarray(numerator) / np.asarray(denominator)
    picks = _resampled_rounds(len(ratios), resamples)
    low, high = np.quantile(np.median(ratios[picks], axis=1), [0.025, 0.975])
    return float(np.median(ratios)), float(low), float(high)


def spread_ratio(
    numerator: list[float], denominator: list[float], resamples: int = 2000
) -> tuple[float, float, float]:
    """IQR of `numerator` over IQR of `denominator`, with a 95% interval.

    Rounds are resampled together (the same round indices for both), as
    `paired_ratio` does. Returns (ratio, low, high).
    """
    a, b = np.asarray(numerator), np.asarray(denominator)

    def iqr(x, axis=None):
        q1, q3 = np.quantile(x, [0.25, 0.75], axis=axis)
        return q3 - q1

    picks = _resampled_rounds(len(a), resamples)
    boot = iqr(a[picks], axis=1) / np.maximum(iqr(b[picks], axis=1), 1e-12)
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(iqr(a) / max(iqr(b), 1e-12)), float(low), float(high)


def _resampled_rounds(rounds: int, resamples: int) -> np.ndarray:
    """(resamples, rounds) round indices drawn with replacement, seeded."""
    return np.random.default_rng(0).integers(0, rounds, (resamples, rounds))


def verdict(value: float, low: float, high: float, target: float) -> str:
    """ "met" (median at or under target), "missed" (the whole interval above
    it), or "within noise" (median above, interval reaching the target)."""
    if value <= target:
        return "met"
    return "missed" if low > target else "within noise"
