import numpy as np
import pytest

from distil_explorer import Trace
from distil_explorer.analysis.attention import (
    HeadSummary,
    head_entropy,
    head_summary,
    mean_attention_distance,
    previous_token_share,
    self_attention_share,
    special_token_share,
)


def _heads(*maps: np.ndarray) -> np.ndarray:
    """Stack (T, T) maps as the heads of one layer and one sequence."""
    return np.stack(maps)[None, None].astype(np.float32)


def _previous(n: int) -> np.ndarray:
    """Every query i reads key i - 1; query 0, with no previous token, reads key 1."""
    attn = np.eye(n, k=-1)
    attn[0, 1] = 1.0
    return attn


def _padded_uniform(n: int, real: int) -> np.ndarray:
    """Uniform over the first `real` keys; padded query rows hold garbage."""
    attn = np.zeros((n, n))
    attn[:, :real] = 1.0 / real
    attn[real:] = 0.9  # padded queries: not a distribution, must be ignored
    return attn


def test_uniform_attention_has_entropy_log_n():
    attn = _heads(np.full((5, 5), 0.2))
    np.testing.assert_allclose(
        head_entropy(attn, np.ones((1, 5))), np.log(5), rtol=1e-6
    )


def test_one_hot_diagonal_has_entropy_0_distance_0_self_share_1():
    attn, mask = _heads(np.eye(4)), np.ones((1, 4))
    assert head_entropy(attn, mask).item() == 0.0
    assert mean_attention_distance(attn, mask).item() == 0.0
    assert self_attention_share(attn, mask).item() == 1.0
    assert previous_token_share(attn, mask).item() == 0.0


def test_previous_token_head_has_distance_1_and_previous_share_1():
    attn, mask = _heads(_previous(5)), np.ones((1, 5))
    assert mean_attention_distance(attn, mask).item() == 1.0
    assert previous_token_share(attn, mask).item() == 1.0
    assert self_attention_share(attn, mask).item() == 0.0
    assert head_entropy(attn, mask).item() == 0.0


def test_distance_of_attention_to_the_first_token_is_the_mean_position():
    attn = np.zeros((4, 4))
    attn[:, 0] = 1.0  # every query reads position 0: distances 0, 1, 2, 3
    assert mean_attention_distance(_heads(attn), np.ones((1, 4))).item() == 1.5


def test_shapes_are_layers_batch_heads():
    rng = np.random.default_rng(0)
    attn = rng.random((3, 2, 4, 6, 6))
    attn /= attn.sum(-1, keepdims=True)
    mask = np.ones((2, 6))
    for fn in (head_entropy, mean_attention_distance, self_attention_share):
        assert fn(attn, mask).shape == (3, 2, 4)
    ids = rng.integers(0, 10, size=(2, 6))
    assert special_token_share(attn, ids, [1], mask).shape == (3, 2, 4)


def test_special_token_share_counts_only_the_given_ids():
    uniform = _heads(np.full((4, 4), 0.25))
    ids = np.array([[101, 7, 8, 102]])
    mask = np.ones((1, 4))
    assert special_token_share(uniform, ids, [101, 102], mask).item() == 0.5
    assert special_token_share(uniform, ids, [102], mask).item() == 0.25
    assert special_token_share(uniform, ids, [5], mask).item() == 0.0


def test_padding_is_ignored_everywhere():
    # Row 0: 5 real tokens. Row 1: 3 real tokens, 2 padded with garbage queries.
    attn = np.stack(
        [_heads(np.full((5, 5), 0.2))[0, 0], _heads(_padded_uniform(5, 3))[0, 0]]
    )
    attn = attn[None]  # (1, 2, 1, 5, 5)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    entropy = head_entropy(attn, mask)
    np.testing.assert_allclose(entropy[0, :, 0], [np.log(5), np.log(3)], rtol=1e-6)
    # Real queries 0, 1, 2 over keys 0, 1, 2: mean |i - j| = (1 + 2/3 + 1) / 3.
    distance = mean_attention_distance(attn, mask)[0, 1, 0]
    np.testing.assert_allclose(distance, 8 / 9, rtol=1e-6)
    np.testing.assert_allclose(self_attention_share(attn, mask)[0, 1, 0], 1 / 3)
    np.testing.assert_allclose(previous_token_share(attn, mask)[0, 1, 0], 1 / 3)
    ids = np.array([[1, 2, 3, 4, 0], [1, 2, 3, 0, 0]])  # 0 is [PAD]
    share = special_token_share(attn, ids, [0], mask)
    np.testing.assert_allclose(share[0, :, 0], [0.2, 0.0], atol=1e-7)


def test_previous_token_share_is_nan_for_a_one_token_sequence():
    attn = np.zeros((1, 1, 1, 3, 3))
    attn[..., 0] = 1.0
    mask = np.array([[1, 0, 0]])
    assert np.isnan(previous_token_share(attn, mask)).all()
    assert self_attention_share(attn, mask).item() == 1.0


def test_head_summary_collects_every_statistic(tiny_trace):
    summary = head_summary(tiny_trace, special_ids=[1, 2])
    assert isinstance(summary, HeadSummary)
    mask = tiny_trace.padding_mask
    np.testing.assert_array_equal(
        summary.entropy, head_entropy(tiny_trace.attentions, mask)
    )
    np.testing.assert_array_equal(
        summary.previous_share, previous_token_share(tiny_trace.attentions, mask)
    )
    assert summary.special_ids == (1, 2)
    shape = (tiny_trace.num_layers, 2, tiny_trace.num_heads)
    assert summary.distance.shape == summary.self_share.shape == shape
    assert not summary.entropy.flags.writeable
    # Real keys only: 7 and 4 tokens bound the entropy.
    assert (summary.entropy[:, 0] <= np.log(7) + 1e-6).all()
    assert (summary.entropy[:, 1] <= np.log(4) + 1e-6).all()


def test_head_summary_on_a_hand_made_trace():
    attn = np.stack([_heads(np.eye(3), _previous(3))[0]])  # (1, 1, 2, 3, 3)
    trace = Trace(
        hidden_states=np.zeros((2, 1, 3, 4)),
        attentions=attn,
        token_ids=np.array([[101, 5, 102]]),
        padding_mask=np.ones((1, 3)),
        config={},
        backend="numpy",
        device="cpu",
    )
    summary = head_summary(trace, [101, 102])
    np.testing.assert_array_equal(summary.self_share[0, 0], [1.0, 0.0])
    np.testing.assert_array_equal(summary.previous_share[0, 0], [0.0, 1.0])
    np.testing.assert_allclose(summary.special_share[0, 0], [2 / 3, 1 / 3])
    assert (summary.layers, summary.heads) == ((0,), (0, 1))
    # A Trace holding some heads only: the summary says which.
    part = head_summary(trace.select(heads=[1]), [101, 102])
    assert (part.layers, part.heads) == ((0,), (1,))
    np.testing.assert_array_equal(part.previous_share[0, 0], [1.0])


@pytest.mark.parametrize(
    ("attn", "mask", "match"),
    [
        (
            np.full((1, 1, 1, 3, 4), 0.25),
            np.ones((1, 3)),
            r"attentions shape=\(1, 1, 1, 3, 4\)",
        ),
        (np.full((1, 1, 3, 3), 1 / 3), np.ones((1, 3)), "attentions shape="),
        (
            np.full((1, 1, 1, 3, 3), 1 / 3),
            np.ones((1, 4)),
            r"padding_mask shape=\(1, 4\)",
        ),
        (
            np.full((1, 1, 1, 3, 3), 1 / 3),
            np.full((1, 3), 2),
            "padding_mask values=.*allowed: 0",
        ),
        (
            np.full((1, 1, 1, 3, 3), 1 / 3),
            np.zeros((1, 3)),
            "padding_mask row 0: has no real",
        ),
        (
            np.full((1, 1, 1, 3, 3), 0.5),
            np.ones((1, 3)),
            r"attentions\[0, 0, 0, 0\]: sums to 1.5",
        ),
        (np.full((1, 1, 1, 3, 3), np.nan), np.ones((1, 3)), "non-finite"),
        (np.array([[[[[2.0, -1.0], [0.5, 0.5]]]]]), np.ones((1, 2)), "negative"),
    ],
)
def test_bad_inputs_raise_with_the_argument_named(attn, mask, match):
    with pytest.raises(ValueError, match=match):
        head_entropy(attn, mask)


def test_a_padded_key_with_weight_is_rejected():
    attn = np.full((1, 1, 1, 3, 3), 1 / 3)  # mass on key 2, which is padding
    with pytest.raises(ValueError, match="sums to 0.6667"):
        self_attention_share(attn, np.array([[1, 1, 0]]))


def test_special_token_share_checks_ids():
    attn, mask = np.full((1, 1, 1, 2, 2), 0.5), np.ones((1, 2))
    with pytest.raises(ValueError, match=r"special_ids=\[\]"):
        special_token_share(attn, np.array([[1, 2]]), [], mask)
    with pytest.raises(ValueError, match=r"token_ids shape=\(1, 3\)"):
        special_token_share(attn, np.array([[1, 2, 3]]), [1], mask)


def test_docstring_examples_run():
    import inspect
    import re

    from distil_explorer.analysis import attention

    for name in attention.__all__ if hasattr(attention, "__all__") else dir(attention):
        obj = getattr(attention, name)
        if getattr(obj, "__module__", None) != attention.__name__ or not obj.__doc__:
            continue
        for block in re.findall(r"```python\n(.+?)```", inspect.getdoc(obj), re.S):
            exec(block, {})
