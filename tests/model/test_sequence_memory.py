"""The memory estimate behind integrated gradients' chunks: it grows with what
a pass keeps, a backbone and its config agree, and the count that fits a
budget is the budget over the estimate, never 0."""

import pytest

from distil_explorer.config import backbone_presets
from distil_explorer.model.sequence_memory import (
    bytes_per_sequence,
    sequences_that_fit,
)
from tests.conftest import TINY

BASE = backbone_presets["distil_bert_base_en_uncased"]["config"]


def test_a_backbone_and_its_config_cost_the_same(tiny_backbone):
    for backward in (False, True):
        assert bytes_per_sequence(tiny_backbone, 12, backward=backward) == (
            bytes_per_sequence(TINY, 12, backward=backward)
        )


def test_cost_grows_with_what_the_pass_keeps():
    forward = bytes_per_sequence(BASE, 128, backward=False)
    backward = bytes_per_sequence(BASE, 128, backward=True)
    assert backward > 3 * forward  # every layer kept for the backward pass
    longer = bytes_per_sequence(BASE, 512, backward=True)
    assert longer > 4 * backward  # attention maps grow with length squared
    deeper = bytes_per_sequence({**BASE, "num_layers": 12}, 128, backward=True)
    assert deeper > 1.8 * backward


def test_the_base_model_estimate_covers_its_attention_maps_and_activations():
    # 6 layers x 12 heads x 128 x 128 float32 maps alone are 4.7 MB.
    maps = 6 * 12 * 128 * 128 * 4
    hidden = 6 * 128 * 3072 * 4
    assert bytes_per_sequence(BASE, 128, backward=True) > 2 * (maps + hidden)


def test_what_fits_is_the_budget_over_the_estimate():
    one = bytes_per_sequence(BASE, 128, backward=True)
    assert sequences_that_fit(BASE, 128, 10 * one + 1, backward=True) == 10
    assert sequences_that_fit(BASE, 128, one - 1, backward=True) == 1


def test_a_config_without_sizes_is_named():
    with pytest.raises(ValueError, match="without hidden_dim, intermediate_dim"):
        bytes_per_sequence({"num_layers": 2, "num_heads": 2}, 8, backward=True)
