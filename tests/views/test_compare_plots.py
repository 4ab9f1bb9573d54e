"""plot_difference drawn off-screen (Agg) from hand-made Traces."""

import dataclasses

import numpy as np
import pytest

from distil_explorer import plot_difference
from distil_explorer.analysis.compare import compare_traces
from distil_explorer.trace import Trace
from distil_explorer.views.compare_plots import trace_label
from tests.views.test_plots import HEADS, LAYERS, make_trace

REAL = ["[CLS]", "hi", "!", "[SEP]"]  # sequence 1 of make_trace, padding cut


def changed(trace: Trace, seed: int = 1, **fields) -> Trace:
    """`trace` with every real attention weight moved a little."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(scale=0.01, size=trace.attentions.shape)
    mask = trace.padding_mask[None, :, None, None, :]
    return dataclasses.replace(
        trace, attentions=trace.attentions + noise * mask, **fields
    )


@pytest.fixture(scope="module")
def pair():
    a = make_trace()
    return a, changed(a, backend="jax", config={"dtype": "float32"})


def _axes(fig, title_start):
    found = [ax for ax in fig.axes if ax.get_title().startswith(title_start)]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def test_the_difference_panel_shows_exactly_a_minus_b(pair):
    a, b = pair
    fig = plot_difference(a, b, layer=1, head=2, index=1)
    ax = fig.axes[2]
    assert ax.get_title().startswith("A - B, layer 1, head 2")
    image = ax.get_images()[0]
    expected = a.attentions[1, 1, 2, :4, :4] - b.attentions[1, 1, 2, :4, :4]
    np.testing.assert_array_equal(image.get_array(), expected)  # padding cut
    limit = np.abs(expected).max()
    assert image.get_clim() == (-limit, limit)  # centred at 0
    assert image.get_cmap().name == "RdBu_r"
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [t.get_text() for t in ax.get_yticklabels()] == REAL
    assert "A - B" in [c.get_ylabel() for c in fig.axes]  # its own colour bar


def test_a_and_b_share_one_scale_and_carry_their_labels(pair):
    a, b = pair
    fig = plot_difference(a, b, 0, 1, a_label="torch", b_label="jax, bf16")
    ax_a, ax_b = fig.axes[:2]
    assert ax_a.get_title() == "A: torch\nlayer 0, head 1"
    assert ax_b.get_title() == "B: jax, bf16\nlayer 0, head 1"
    np.testing.assert_array_equal(
        ax_b.get_images()[0].get_array(), b.attentions[0, 0, 1]
    )
    top = max(a.attentions[0, 0, 1].max(), b.attentions[0, 0, 1].max())
    assert ax_a.get_images()[0].get_clim() == ax_b.get_images()[0].get_clim()
    assert ax_a.get_images()[0].get_clim() == (0.0, top)


def test_default_labels_say_backend_device_dtype_and_shape(pair):
    a, b = pair
    assert trace_label(b) == "jax on cpu, float32, 2 layers x 3 heads, width 5"
    assert trace_label(a) == "numpy on cpu, 2 layers x 3 heads, width 5"  # no dtype
    fig = plot_difference(a, b, 0, 0)
    assert fig.axes[1].get_title().startswith("B: jax on cpu, float32")


def test_the_summary_panels_show_compare_traces(pair):
    a, b = pair
    hidden = np.array(a.hidden_states)
    hidden[2, 0, 1] += 0.5
    b = dataclasses.replace(b, hidden_states=hidden)
    diff = compare_traces(a, b)
    fig = plot_difference(a, b, layer=1, head=0)
    bars = _axes(fig, "largest |A - B| of each hidden state").patches
    np.testing.assert_allclose([p.get_height() for p in bars], diff.hidden_max)
    heads = _axes(fig, "largest |A - B| of each head's attention")
    np.testing.assert_array_equal(heads.get_images()[0].get_array(), diff.attention_max)
    outline = heads.patches[0]
    assert outline.get_xy() == (-0.5, 0.5)  # around head 0 of layer 1
    assert f"{diff.max_abs:.3g}" in fig.get_suptitle()


def test_equal_traces_draw_a_flat_zero(pair):
    a, _ = pair
    image = plot_difference(a, a, 0, 0).axes[2].get_images()[0]
    assert not np.any(image.get_array())
    assert image.get_clim() == (-1.0, 1.0)


def test_other_hidden_widths_still_draw_and_say_why_not_compared(pair):
    a, _ = pair
    narrow = dataclasses.replace(a, hidden_states=a.hidden_states[..., :3])
    fig = plot_difference(a, narrow, 0, 0)
    assert "hidden states: shapes" in fig.get_suptitle()
    hidden = _axes(fig, "largest |A - B| of each hidden state")
    assert "hidden widths differ" in hidden.texts[0].get_text()


def test_different_inputs_are_refused_saying_what_differs(pair):
    a, b = pair
    ids = np.array(b.token_ids)
    ids[1, 2] += 1
    with pytest.raises(ValueError, match=r"b: token_ids at sequence 1, position 2"):
        plot_difference(a, dataclasses.replace(b, token_ids=ids), 0, 0)
    shorter = Trace(
        hidden_states=a.hidden_states[:, :, :5],
        attentions=a.attentions[..., :5, :5],
        token_ids=a.token_ids[:, :5],
        padding_mask=a.padding_mask[:, :5],
        config={},
        backend="numpy",
        device="cpu",
    )
    with pytest.raises(ValueError, match=r"token_ids shape \(2, 5\) differs.*\(2, 6\)"):
        plot_difference(a, shorter, 0, 0)


def test_other_layer_or_head_counts_are_refused_saying_which(pair):
    a, _ = pair
    fewer = dataclasses.replace(
        a, attentions=a.attentions[:, :, :2], attention_heads=None
    )
    with pytest.raises(
        ValueError, match=r"b holds layers 0, 1 x heads 0, 1, a holds .* heads 0..2"
    ):
        plot_difference(a, fewer, 0, 0)


def kept(trace: Trace, layers: tuple, heads: tuple) -> Trace:
    """`trace` as if captured with capture(layers=..., heads=...)."""
    return dataclasses.replace(
        trace,
        attentions=trace.attentions[list(layers)][:, :, list(heads)],
        attention_layers=layers,
        attention_heads=heads,
        config={"num_heads": HEADS},
    )


def test_kept_layers_and_heads_are_drawn_by_model_index(pair):
    a, b = (kept(t, (1,), (0, 2)) for t in pair)
    fig = plot_difference(a, b, layer=1, head=2, index=1)
    expected = pair[0].attentions[1, 1, 2, :4, :4] - pair[1].attentions[1, 1, 2, :4, :4]
    np.testing.assert_array_equal(fig.axes[2].get_images()[0].get_array(), expected)
    assert fig.axes[0].get_title().endswith("layer 1, head 2")
    heads = _axes(fig, "largest |A - B| of each head's attention")
    assert [t.get_text() for t in heads.get_xticklabels()] == ["0", "2"]
    assert [t.get_text() for t in heads.get_yticklabels()] == ["1"]
    assert heads.patches[0].get_xy() == (0.5, -0.5)  # column of head 2
    with pytest.raises(ValueError, match=r"layer=0: not in this Trace.*one of \[1\]"):
        plot_difference(a, b, layer=0, head=2)
    with pytest.raises(ValueError, match=r"b holds layers 1 x heads 0, 2"):
        plot_difference(pair[0], b, layer=1, head=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layer": LAYERS}, r"layer=2: out of range; allowed: 0..1"),
        ({"layer": -1}, r"layer=-1: out of range; allowed: 0..1"),
        ({"head": HEADS}, r"head=3: out of range; allowed: 0..2"),
        ({"index": 2}, r"index=2: out of range; allowed: 0..1"),
        ({"layer": 0.5}, r"layer=0.5: allowed: an int, 0..1"),
        ({"a_label": 3}, r"a_label=3: allowed: a string, or None"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(pair, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_difference(*pair, **{"layer": 0, "head": 0, **kwargs})


def test_a_non_trace_is_refused(pair):
    with pytest.raises(ValueError, match=r"b=ndarray: allowed: a Trace"):
        plot_difference(pair[0], np.zeros(3), 0, 0)


def test_long_labels_wrap_so_a_and_b_titles_never_overlap(pair):
    a, b = pair
    label = "all_minilm_l6_v2_en: torch on cpu, float32, 6 layers x 12 heads"
    fig = plot_difference(a, b, 0, 1, a_label=label, b_label=label)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    titles = [ax.title for ax in fig.axes if ax.get_title().startswith(("A:", "B:"))]
    boxes = [t.get_window_extent(renderer) for t in titles]
    assert len(boxes) == 2 and all("\n" in t.get_text() for t in titles)
    assert boxes[0].x1 <= boxes[1].x0, (boxes[0], boxes[1])
