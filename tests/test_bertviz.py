import numpy as np
import pytest

from distil_explorer.bertviz import to_bertviz
from tests.factories import random_trace

torch = pytest.importorskip("torch")


def make_trace(tokens=True):
    """2 layers, 3 heads; row 1 has its last 2 of 5 positions padded."""
    return random_trace(layers=2, heads=3, length=5, padded=2, tokens=tokens)


def test_one_tensor_per_layer_without_padding():
    trace = make_trace()
    attention, tokens = to_bertviz(trace, index=1)
    assert tokens == ["[CLS]", "w1", "[SEP]"]
    assert isinstance(attention, tuple) and len(attention) == 2
    for layer, tensor in enumerate(attention):
        assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32
        assert tuple(tensor.shape) == (1, 3, 3, 3)
        np.testing.assert_array_equal(
            tensor[0].numpy(), trace.attentions[layer, 1, :, :3, :3]
        )
        np.testing.assert_allclose(tensor.sum(-1).numpy(), 1.0, rtol=1e-6)


def test_tokens_fall_back_to_ids():
    trace = make_trace(tokens=False)
    _, tokens = to_bertviz(trace, index=0)
    assert tokens == [str(i) for i in trace.token_ids[0]]


@pytest.mark.parametrize(
    ("index", "match"), [(2, "index=2: out of range"), (1.0, "index=1.0")]
)
def test_bad_index_raises(index, match):
    with pytest.raises(ValueError, match=match):
        to_bertviz(make_trace(), index=index)


def test_bertviz_renders_the_tokens():
    bertviz = pytest.importorskip("bertviz")
    attention, tokens = to_bertviz(make_trace(), index=1)
    for view in (bertviz.head_view, bertviz.model_view):
        html = view(attention, tokens, html_action="return").data
        assert all(f'"{token}"' in html for token in tokens)
        assert "[PAD]" not in html


def test_a_selective_trace_is_refused_with_what_it_holds():
    part = make_trace().select(layers=[1])
    with pytest.raises(ValueError, match=r"bertviz needs every layer's and head's"):
        to_bertviz(part)
