"""The statistics behind benchmarks/forward.py's verdicts (issue 17).

The timings themselves are never asserted (that is the benchmarks' job);
what is checked is that a verdict of "met", "within noise" or "missed"
follows from the samples, so a benchmark cannot print "met" for a loss.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from _timing import paired_ratio, spread_ratio, verdict  # noqa: E402


def _rounds(seed=0, n=41):
    """Per-round seconds with slow spells that hit every call in a round."""
    rng = np.random.default_rng(seed)
    machine = np.exp(0.3 * rng.standard_normal(n))  # the whole round's speed
    return machine, rng


def test_a_per_round_ratio_sees_through_slow_spells():
    machine, rng = _rounds()
    # Rounds vary by +-30% with the machine; one call is 3% slower than the
    # other in every round. The paired interval resolves the 3%.
    slower = 1.03 * machine * (1 + 0.002 * rng.standard_normal(machine.size))
    value, low, high = paired_ratio(list(slower), list(machine))
    assert 1.02 < low <= value <= high < 1.04
    assert verdict(value, low, high, 1.00) == "missed"
    assert verdict(value, low, high, 1.10) == "met"
    assert paired_ratio(list(machine), list(machine)) == (1.0, 1.0, 1.0)


def test_an_interval_reaching_the_target_is_within_noise():
    machine, rng = _rounds(seed=1)
    a = machine * (1 + 0.05 * rng.standard_normal(machine.size))
    value, low, high = paired_ratio(list(a * 1.005), list(machine))
    assert low < 1.0 < high
    assert verdict(value, low, high, 1.0) == "within noise"


def test_the_interval_is_seeded_and_brackets_the_median():
    machine, rng = _rounds(seed=2)
    a = list(machine * (1 + 0.05 * rng.standard_normal(machine.size)))
    b = list(machine)
    assert paired_ratio(a, b) == paired_ratio(a, b)
    value, low, high = paired_ratio(a, b)
    assert low <= value <= high


def test_spread_ratio_compares_interquartile_ranges():
    rng = np.random.default_rng(3)
    narrow = 1 + 0.01 * rng.standard_normal(200)
    wide = 1 + 0.04 * rng.standard_normal(200)
    value, low, high = spread_ratio(list(wide), list(narrow))
    assert 3.0 < low <= value <= high < 5.5
    assert verdict(value, low, high, 1.0) == "missed"
    value, low, high = spread_ratio(list(narrow), list(wide))
    assert verdict(value, low, high, 1.0) == "met"


@pytest.mark.parametrize(
    "value,low,high,expected",
    [
        (1.00, 0.98, 1.02, "met"),
        (1.01, 0.99, 1.03, "within noise"),
        (1.01, 1.005, 1.02, "missed"),
    ],
)
def test_verdict_edges(value, low, high, expected):
    assert verdict(value, low, high, 1.00) == expected
