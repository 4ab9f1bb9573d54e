"""Interleaved timing: every implementation runs once per round, so machine
noise (other processes, frequency changes) hits all of them alike. The order
within a round is shuffled (seeded), so no implementation always runs right
after the same neighbour (one that leaves caches cold or memory to reclaim)."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable


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
