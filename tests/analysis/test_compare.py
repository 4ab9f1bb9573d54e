import dataclasses

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.analysis.compare import compare_traces
from tests.conftest import TINY, tiny_inputs


def test_a_trace_equals_itself(tiny_trace):
    diff = compare_traces(tiny_trace, tiny_trace)
    assert diff.max_abs == 0.0
    assert diff.attention_max.shape == (TINY["num_layers"], TINY["num_heads"])
    real = tiny_trace.padding_mask.astype(bool)
    np.testing.assert_allclose(diff.hidden_cosine[:, real], 1.0, atol=1e-6)
    assert np.isnan(diff.hidden_cosine[:, ~real]).all()


def test_a_known_change_is_measured_where_it_is(tiny_trace):
    attentions = np.array(tiny_trace.attentions)
    attentions[1, 0, 1, 2, 3] += 0.25
    hidden = np.array(tiny_trace.hidden_states)
    hidden[2, 1, 6] += 100.0  # a padded position of row 1: ignored
    changed = dataclasses.replace(
        tiny_trace, attentions=attentions, hidden_states=hidden
    )
    diff = compare_traces(tiny_trace, changed)
    assert diff.attention_max[1, 1] == pytest.approx(0.25)
    assert diff.attention_max.sum() == pytest.approx(0.25)
    assert diff.hidden_max.max() == 0.0


def test_reduced_precision_differs_slightly():
    full = DistilBertBackbone(**TINY)
    low = DistilBertBackbone(**TINY, dtype="mixed_bfloat16")
    low.set_weights(full.get_weights())
    diff = compare_traces(capture(full, tiny_inputs()), capture(low, tiny_inputs()))
    assert 0 < diff.max_abs < 0.1


def test_different_widths_compare_attention_only(tiny_trace):
    wider = DistilBertBackbone(**{**TINY, "hidden_dim": 16})
    diff = compare_traces(tiny_trace, capture(wider, tiny_inputs()))
    assert diff.hidden_max is None and diff.attention_max is not None
    assert "hidden states" in diff.notes[0]


def test_different_inputs_are_refused(tiny_trace, tiny_backbone):
    other = capture(tiny_backbone, tiny_inputs(seed=5))
    with pytest.raises(ValueError, match="same input"):
        compare_traces(tiny_trace, other)


def test_a_different_input_is_refused_saying_where(tiny_trace):
    ids = np.array(tiny_trace.token_ids)
    ids[0, 3] = (ids[0, 3] + 1) % TINY["vocabulary_size"]
    other = dataclasses.replace(tiny_trace, token_ids=ids)
    with pytest.raises(ValueError, match=r"b: token_ids at sequence 0, position 3"):
        compare_traces(tiny_trace, other)
    mask = np.array(tiny_trace.padding_mask)
    mask[1, 1] = 0
    with pytest.raises(ValueError, match=r"b: padding_mask at sequence 1, position 1"):
        compare_traces(tiny_trace, dataclasses.replace(tiny_trace, padding_mask=mask))


def test_attentions_are_compared_only_when_the_same_maps_were_kept(
    tiny_trace, tiny_backbone
):
    last = capture(tiny_backbone, tiny_inputs(), layers=[-1], heads=[1])
    diff = compare_traces(tiny_trace, last)
    assert diff.attention_max is None
    assert diff.hidden_max.max() < 1e-5  # the other layers ran the fused path
    assert diff.notes == (
        "attentions: a holds layers 0, 1 x heads 0, 1, b holds layers 1 x heads 1",
    )
    same = compare_traces(last, last)
    assert same.attention_max.shape == (1, 1)
    assert (same.attention_layers, same.attention_heads) == ((1,), (1,))


def test_attention_mean_is_the_mean_over_real_pairs(tiny_trace):
    attentions = np.array(tiny_trace.attentions)
    attentions[0, 0, 1, 0, 0] += 0.3  # one real pair of layer 0, head 1
    b = dataclasses.replace(tiny_trace, attentions=attentions)
    diff = compare_traces(tiny_trace, b)
    real = tiny_trace.padding_mask.astype(bool)
    pairs = sum(int(row.sum()) ** 2 for row in real)
    expected = np.zeros_like(diff.attention_mean)
    expected[0, 1] = 0.3 / pairs
    np.testing.assert_allclose(diff.attention_mean, expected, atol=1e-7)
