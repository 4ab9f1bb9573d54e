import numpy as np
import pytest

from distil_explorer import Trace
from distil_explorer.analysis.rollout import (
    MAX_FLOW_WORK,
    attention_flow,
    attention_rollout,
)

# Both tokens read token 0 (layer 0), then both read token 1 (layer 1).
TO_FIRST = np.array([[1.0, 0.0], [1.0, 0.0]])
TO_SECOND = np.array([[0.0, 1.0], [0.0, 1.0]])


def _layers(*maps: np.ndarray) -> np.ndarray:
    """Stack (T, T) maps as the layers of one sequence with one head."""
    return np.stack(maps)[:, None, None].astype(np.float32)


def _random_attention(layers, batch, heads, length, mask, seed=0) -> np.ndarray:
    """Softmax attention with padded keys at exactly 0 and garbage padded rows."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(layers, batch, heads, length, length))
    weights = np.exp(logits) * mask[None, :, None, None, :]
    attn = weights / weights.sum(-1, keepdims=True)
    padded_rows = ~mask.astype(bool)[None, :, None, :, None]
    attn = np.where(padded_rows, 0.7, attn)  # garbage that must be ignored
    return attn.astype(np.float32)


def test_identity_attention_rolls_out_to_the_identity():
    attn = np.broadcast_to(np.eye(5), (3, 2, 4, 5, 5))
    for residual in (True, False):
        rollout = attention_rollout(attn, np.ones((2, 5)), residual=residual)
        np.testing.assert_allclose(rollout, np.broadcast_to(np.eye(5), (3, 2, 5, 5)))


def test_uniform_attention_without_residual_rolls_out_uniform_over_real_tokens():
    mask = np.array([[1, 1, 1, 1, 0, 0]])
    uniform = np.zeros((6, 6))
    uniform[:, :4] = 0.25
    rollout = attention_rollout(_layers(uniform, uniform), mask, residual=False)
    expected = np.zeros((6, 6))
    expected[:4, :4] = 0.25  # padded query rows and padded keys are 0
    np.testing.assert_allclose(rollout[1, 0], expected)


def test_two_layers_two_tokens_by_hand():
    """Rollout of TO_FIRST then TO_SECOND, with the residual.

    A'_0 = 0.5 * TO_FIRST + 0.5 * I  = [[1, 0], [0.5, 0.5]]
    A'_1 = 0.5 * TO_SECOND + 0.5 * I = [[0.5, 0.5], [0, 1]]
    R_0 = A'_0
    R_1 = A'_1 @ R_0 = [[0.5 * 1 + 0.5 * 0.5, 0.5 * 0 + 0.5 * 0.5], [0.5, 0.5]]
        = [[0.75, 0.25], [0.5, 0.5]]
    """
    rollout = attention_rollout(_layers(TO_FIRST, TO_SECOND), np.ones((1, 2)))
    np.testing.assert_allclose(rollout[0, 0], [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(rollout[1, 0], [[0.75, 0.25], [0.5, 0.5]])


def test_flow_differs_from_rollout_on_the_two_layer_example_by_hand():
    """Max-flow through the graph of the rollout example above.

    Nodes: inputs x0, x1; layer-0 outputs h0, h1; layer-1 outputs o0, o1.
    Capacities (A'): h0->x0 1; h1->x0 0.5, h1->x1 0.5;
                     o0->h0 0.5, o0->h1 0.5; o1->h1 1.
    o0->x0: o0-h0-x0 carries min(0.5, 1) = 0.5, o0-h1-x0 min(0.5, 0.5) = 0.5:
            1.0 (rollout counts only 0.5 * 1 + 0.5 * 0.5 = 0.75).
    o0->x1: only o0-h1-x1, min(0.5, 0.5) = 0.5.
    Row o0 = [1.0, 0.5] / 1.5 = [2/3, 1/3]; row o1 = [0.5, 0.5] / 1 = [0.5, 0.5].
    """
    flow = attention_flow(_layers(TO_FIRST, TO_SECOND), np.ones((1, 2)))
    np.testing.assert_allclose(flow, [[2 / 3, 1 / 3], [0.5, 0.5]], atol=1e-6)


def test_flow_is_limited_by_the_narrowest_edge_of_each_path():
    """Without the residual: A_0 = [[1, 0], [0.3, 0.7]], A_1 = [[0.3, 0.7], [0, 1]].

    o0->x0: o0-h0-x0 = min(0.3, 1) = 0.3, o0-h1-x0 = min(0.7, 0.3) = 0.3: 0.6.
    o0->x1: o0-h1-x1 = min(0.7, 0.7) = 0.7 (h0 has no edge to x1).
    Row o0 = [0.6, 0.7] / 1.3; rollout's row o0 is A_1[0] @ A_0 = [0.51, 0.49].
    Row o1: a single path o1-h1 (capacity 1) splits into [0.3, 0.7].
    """
    first = np.array([[1.0, 0.0], [0.3, 0.7]])
    second = np.array([[0.3, 0.7], [0.0, 1.0]])
    attn, mask = _layers(first, second), np.ones((1, 2))
    flow = attention_flow(attn, mask, residual=False)
    np.testing.assert_allclose(flow, [[6 / 13, 7 / 13], [0.3, 0.7]], atol=1e-6)
    rollout = attention_rollout(attn, mask, residual=False)[1, 0]
    np.testing.assert_allclose(rollout, [[0.51, 0.49], [0.3, 0.7]], atol=1e-6)


def test_flow_at_the_first_layer_equals_rollout():
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    attn = _random_attention(3, 2, 2, 5, mask)
    for index in (0, 1):
        flow = attention_flow(attn, mask, index=index, layer=0)
        rollout = attention_rollout(attn, mask)[0, index]
        np.testing.assert_allclose(flow, rollout, atol=1e-5)


def test_flow_matches_networkx_maximum_flow():
    """Oracle: the same graph with float capacities, solved by networkx."""
    nx = pytest.importorskip("networkx")
    mask = np.array([[1, 1, 1, 1, 1, 0]])
    attn = _random_attention(3, 1, 2, 6, mask, seed=1)
    fused = attn[:, 0].max(axis=1).astype(np.float64)[:, :5, :5]
    fused = 0.5 * fused + 0.5 * np.eye(5)
    fused /= fused.sum(-1, keepdims=True)
    graph = nx.DiGraph()
    for level, layer in enumerate(fused):
        for i, j in np.ndindex(5, 5):
            graph.add_edge((level + 1, i), (level, j), capacity=layer[i, j])
    expected = np.array(
        [
            [nx.maximum_flow_value(graph, (3, i), (0, j)) for j in range(5)]
            for i in range(5)
        ]
    )
    expected /= expected.sum(axis=1, keepdims=True)
    flow = attention_flow(attn, mask, head_fusion="max")
    np.testing.assert_allclose(flow[:5, :5], expected, atol=1e-5)
    assert (flow[5] == 0).all() and (flow[:, 5] == 0).all()


def test_padding_is_excluded_and_real_rows_sum_to_1():
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    attn = _random_attention(3, 2, 4, 6, mask)
    for fusion in ("mean", "max", "min"):
        rollout = attention_rollout(attn, mask, head_fusion=fusion)
        np.testing.assert_allclose(rollout.sum(-1)[:, 0], 1.0, atol=1e-12)
        np.testing.assert_allclose(rollout.sum(-1)[:, 1, :4], 1.0, atol=1e-12)
        assert (rollout[:, 1, 4:] == 0).all() and (rollout[:, 1, :, 4:] == 0).all()
        flow = attention_flow(attn, mask, index=1, head_fusion=fusion)
        np.testing.assert_allclose(flow.sum(-1)[:4], 1.0, atol=1e-12)
        assert (flow[4:] == 0).all() and (flow[:, 4:] == 0).all()
    # The padded sequence's rollout is that of its real tokens alone.
    alone = attention_rollout(attn[:, 1:, :, :4, :4], np.ones((1, 4)))
    np.testing.assert_allclose(attention_rollout(attn, mask)[:, 1, :4, :4], alone[:, 0])


def test_head_fusion_takes_the_mean_max_or_min_over_heads():
    """Heads [[1, 0], [1, 0]] and [[0.5, 0.5], [0, 1]], no residual, one layer.

    mean = [[0.75, 0.25], [0.5, 0.5]]
    max  = [[1, 0.5], [1, 1]] -> rows normalised: [[2/3, 1/3], [0.5, 0.5]]
    min  = [[0.5, 0], [0, 0]] -> row 1 is all zeros: cannot be normalised.
    """
    heads = np.stack([TO_FIRST, [[0.5, 0.5], [0.0, 1.0]]])[None, None]
    mask = np.ones((1, 2))

    def fused(fusion, residual=False):
        return attention_rollout(heads, mask, head_fusion=fusion, residual=residual)

    np.testing.assert_allclose(fused("mean")[0, 0], [[0.75, 0.25], [0.5, 0.5]])
    np.testing.assert_allclose(fused("max")[0, 0], [[2 / 3, 1 / 3], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"head_fusion='min'.*\[0, 0, 1\].*zeros"):
        fused("min")
    # With the residual: min + I / 2 = [[0.75, 0], [0, 0.5]] -> [[1, 0], [0, 1]].
    np.testing.assert_allclose(fused("min", residual=True)[0, 0], np.eye(2))


def test_start_layer_leaves_earlier_layers_as_the_identity():
    attn, mask = _layers(TO_FIRST, TO_SECOND), np.ones((1, 2))
    rollout = attention_rollout(attn, mask, start_layer=1)
    np.testing.assert_allclose(rollout[0, 0], np.eye(2))
    np.testing.assert_allclose(rollout[1, 0], [[0.5, 0.5], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"head_fusion": "sum"}, r"head_fusion='sum'.*allowed: mean, max, min"),
        ({"residual": 1}, r"residual=1: allowed: True or False"),
        ({"start_layer": 2}, r"start_layer=2: out of range; allowed: 0\.\.1"),
        ({"start_layer": 0.5}, r"start_layer=0\.5: allowed: an int"),
    ],
)
def test_rollout_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attention_rollout(_layers(TO_FIRST, TO_SECOND), np.ones((1, 2)), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"index": 1}, r"index=1: out of range; allowed: 0\.\.0"),
        ({"layer": -1}, r"layer=-1: out of range; allowed: 0\.\.1"),
        ({"head_fusion": "median"}, r"head_fusion='median'"),
    ],
)
def test_flow_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attention_flow(_layers(TO_FIRST, TO_SECOND), np.ones((1, 2)), **kwargs)


def test_inputs_that_are_not_attention_are_rejected():
    with pytest.raises(ValueError, match=r"attentions shape=\(2, 2\)"):
        attention_rollout(TO_FIRST, np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"sums to 2"):
        attention_rollout(_layers(TO_FIRST * 2), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"padding_mask shape=\(1, 3\)"):
        attention_flow(_layers(TO_FIRST), np.ones((1, 3)))


def test_flow_refuses_sequences_too_long_to_solve_quickly():
    length = int((MAX_FLOW_WORK / 2) ** 0.25) + 1  # just over the bound at depth 2
    attn = np.broadcast_to(np.eye(length, dtype=np.float32), (2, 1, 1, length, length))
    with pytest.raises(ValueError, match=rf"at most {length - 1} real tokens"):
        attention_flow(attn, np.ones((1, length)))


def test_plot_rollout_returns_a_figure_without_padding():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from distil_explorer.views.hidden_plots import plot_rollout

    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=np.int32)
    trace = Trace(
        hidden_states=np.zeros((3, 2, 4, 2)),
        attentions=_random_attention(2, 2, 2, 4, mask),
        token_ids=np.array([[101, 7, 8, 102], [101, 9, 102, 0]]),
        padding_mask=mask,
        config={},
        backend="numpy",
        device="cpu",
        tokens=(("[CLS]", "a", "b", "[SEP]"), ("[CLS]", "c", "[SEP]", "[PAD]")),
    )
    fig = plot_rollout(trace, index=1)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "mixed in from the input" in ax.get_title()
    assert "layer 1" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[CLS]", "c", "[SEP]"]
    expected = attention_rollout(trace.attentions, mask)[1, 1, :3, :3]
    np.testing.assert_allclose(ax.images[0].get_array(), expected)
    assert "layer 0" in plot_rollout(trace, layer=0).axes[0].get_title()
    with pytest.raises(ValueError, match=r"layer=2: out of range"):
        plot_rollout(trace, layer=2)
