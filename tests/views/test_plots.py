"""Static plots drawn off-screen (Agg) from hand-made Traces."""

import io
import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from distil_explorer.analysis.params import ParameterRow
from distil_explorer.trace import Trace
from distil_explorer.views.hidden_plots import (
    plot_hidden_states,
    plot_pca,
    plot_rollout,
)
from distil_explorer.views.plots import (
    PANEL_WIDTH,
    plot_head,
    plot_model_view,
    plot_parameters,
)

LAYERS, BATCH, HEADS, LENGTH, HIDDEN = 2, 2, 3, 6, 5
TOKENS = (
    ("[CLS]", "the", "cat", "sat", ".", "[SEP]"),
    ("[CLS]", "hi", "!", "[SEP]", "[PAD]", "[PAD]"),
)


def make_trace(tokens=True, seed=0) -> Trace:
    """Random softmax attention; row 1 has its last 2 positions padded."""
    rng = np.random.default_rng(seed)
    mask = np.ones((BATCH, LENGTH), dtype=np.int32)
    mask[1, 4:] = 0
    logits = rng.normal(size=(LAYERS, BATCH, HEADS, LENGTH, LENGTH))
    weights = np.exp(logits) * mask[None, :, None, None, :]
    return Trace(
        hidden_states=rng.normal(size=(LAYERS + 1, BATCH, LENGTH, HIDDEN)),
        attentions=weights / weights.sum(-1, keepdims=True),
        token_ids=rng.integers(0, 50, size=(BATCH, LENGTH)),
        padding_mask=mask,
        config={},
        backend="numpy",
        device="cpu",
        tokens=TOKENS if tokens else None,
    )


@pytest.fixture(scope="module")
def trace():
    return make_trace()


def _tick_labels(ax, axis="x"):
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks]


def test_plot_head_labels_both_axes_with_the_real_tokens(trace):
    fig = plot_head(trace, layer=1, head=2, index=1)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # heatmap and colour bar
    ax = fig.axes[0]
    assert (
        _tick_labels(ax, "x") == _tick_labels(ax, "y") == ["[CLS]", "hi", "!", "[SEP]"]
    )
    image = ax.get_images()[0].get_array()
    expected = trace.attentions[1, 1, 2, :4, :4]
    np.testing.assert_array_equal(image, expected)  # padding removed, not rescaled
    assert ax.get_images()[0].get_clim() == (0.0, expected.max())
    assert ax.get_title() == "layer 1, head 2"


def test_plot_head_falls_back_to_token_ids():
    trace = make_trace(tokens=False)
    ax = plot_head(trace, 0, 0, index=1).axes[0]
    assert _tick_labels(ax) == [str(i) for i in trace.token_ids[1, :4]]


def test_plot_head_draws_into_a_given_axes(trace):
    fig = Figure()
    ax = fig.subplots(1, 2)[1]
    assert plot_head(trace, 0, 0, ax=ax) is fig
    assert len(fig.axes) == 2 and ax.get_images()


def test_plot_model_view_has_one_titled_map_per_head(trace):
    fig = plot_model_view(trace, index=1)
    assert len(fig.axes) == LAYERS * HEADS
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        "L0 H0",
        "L0 H1",
        "L0 H2",
        "L1 H0",
    ]
    np.testing.assert_array_equal(
        fig.axes[-1].get_images()[0].get_array(), trace.attentions[1, 1, 2, :4, :4]
    )


def test_plot_hidden_states_shows_norms_and_layer_similarity(trace):
    fig = plot_hidden_states(trace, index=1)
    assert len(fig.axes) == 4  # two panels, each with a colour bar
    titles = {ax.get_title(): ax for ax in fig.axes}
    norms_ax, similarity_ax = titles["token norm"], titles["layer similarity (cosine)"]
    assert _tick_labels(norms_ax) == ["[CLS]", "hi", "!", "[SEP]"]
    norms = norms_ax.get_images()[0].get_array()
    np.testing.assert_allclose(
        norms, np.linalg.norm(trace.hidden_states[:, 1, :4], axis=-1), rtol=1e-6
    )
    similarity = similarity_ax.get_images()[0].get_array()
    assert similarity.shape == (LAYERS + 1, LAYERS + 1)
    np.testing.assert_allclose(np.diag(similarity), 1.0)


@pytest.mark.parametrize("shared_basis", [False, True])
def test_plot_pca_annotates_each_real_token(trace, shared_basis):
    fig = plot_pca(trace, layer=LAYERS, index=1, shared_basis=shared_basis)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["[CLS]", "hi", "!", "[SEP]"]
    whose = "all layers'" if shared_basis else "this layer's"
    assert re.fullmatch(rf"PC1 \(\d+% of {whose} variance\)", ax.get_xlabel())
    assert len(ax.collections[0].get_offsets()) == 4


def test_shared_pca_axes_keep_their_range_and_variance_across_layers(trace):
    # "Shared axes" must mean it: the same limits and labels at every layer.
    frames = set()
    for layer in range(LAYERS + 1):
        ax = plot_pca(trace, layer=layer, index=1, shared_basis=True).axes[0]
        frames.add((ax.get_xlim(), ax.get_ylim(), ax.get_xlabel(), ax.get_ylabel()))
    assert len(frames) == 1
    own = {
        plot_pca(trace, layer=layer, index=1).axes[0].get_xlabel()
        for layer in range(LAYERS + 1)
    }
    assert all("this layer's" in label for label in own)


def test_layer_similarity_scale_follows_its_values(trace):
    # All-positive similarities get a 0..1-like scale, not a pale -1..1 one.
    fig = plot_hidden_states(trace, index=1)
    image = {ax.get_title(): ax for ax in fig.axes}["layer similarity (cosine)"]
    image = image.get_images()[0]
    values = image.get_array()
    low, high = image.get_clim()
    assert high == 1.0
    assert low == (-1.0 if values.min() < 0 else pytest.approx(values.min()))


def test_plot_parameters_total_is_the_sum_of_rows():
    rows = [
        ParameterRow("embeddings", "token_embedding", "embeddings", (20, 8), 160),
        ParameterRow("embeddings", "layer_norm", "gamma", (8,), 8),
        ParameterRow("layer 0", "attention.query", "kernel", (8, 8), 64),
        ParameterRow("layer 0", "attention.query", "bias", (8,), 8),
        ParameterRow("layer 0", "ffn.output", "kernel", (16, 8), 128),
    ]
    fig = plot_parameters(rows)
    ax = fig.axes[0]
    assert ax.get_title() == f"{sum(r.params for r in rows):,} parameters"
    assert _tick_labels(ax) == ["embeddings", "layer 0"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["token_embedding", "layer_norm", "attention.query", "ffn.output"]
    heights = sum(np.array([b.get_height() for b in c]) for c in ax.containers)
    np.testing.assert_array_equal(heights, [168, 200])


def test_plot_parameters_of_a_real_backbone(tiny_backbone):
    from distil_explorer.analysis.params import parameter_table

    fig = plot_parameters(parameter_table(tiny_backbone))
    total = int(fig.axes[0].get_title().split()[0].replace(",", ""))
    assert total == tiny_backbone.count_params()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda t: plot_head(t, LAYERS, 0),
            rf"layer={LAYERS}: not in this Trace; allowed: one of \[0, 1\]",
        ),
        (
            lambda t: plot_head(t, -1, 0),
            r"layer=-1: not in this Trace; allowed: one of \[0, 1\]",
        ),
        (
            lambda t: plot_head(t, 0, HEADS),
            r"head=3: not in this Trace; allowed: one of \[0, 1, 2\]",
        ),
        (
            lambda t: plot_head(t, 0, 0, index=2),
            r"index=2: out of range; allowed: 0..1",
        ),
        (
            lambda t: plot_head(t, "0", 0),
            r"layer='0': not in this Trace; allowed: one of \[0, 1\]",
        ),
        (lambda t: plot_model_view(t, index=5), r"index=5: out of range"),
        (lambda t: plot_hidden_states(t, index=-1), r"index=-1: out of range"),
        (lambda t: plot_pca(t, LAYERS + 1), r"layer=3: out of range; allowed: 0..2"),
        (lambda t: plot_parameters([]), r"rows=\[\]: allowed: a non-empty list"),
    ],
)
def test_bad_arguments_raise_naming_the_argument_and_the_range(trace, call, match):
    with pytest.raises(ValueError, match=match):
        call(trace)


def test_a_selective_trace_is_drawn_and_labelled_by_model_indices(trace):
    part = trace.select(layers=[1], heads=[0, 2])
    fig = plot_model_view(part)
    assert [ax.get_title() for ax in fig.axes] == ["L1 H0", "L1 H2"]
    head = plot_head(part, layer=1, head=2).axes[0]
    assert head.get_title() == "layer 1, head 2"
    real = trace.padding_mask[0].astype(bool)
    expected = trace.attentions[1, 0, 2][real][:, real]
    np.testing.assert_array_equal(head.images[0].get_array(), expected)
    with pytest.raises(ValueError, match=r"layer=0: not in this Trace; .*\[1\]"):
        plot_head(part, layer=0, head=0)
    with pytest.raises(ValueError, match=r"rollout needs every layer's and head's"):
        plot_rollout(part)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_every_figure_saves_to_png_and_svg(trace, fmt):
    rows = [ParameterRow("embeddings", "token_embedding", "embeddings", (4, 2), 8)]
    figures = [
        plot_head(trace, 0, 0),
        plot_model_view(trace),
        plot_hidden_states(trace),
        plot_pca(trace, 0),
        plot_parameters(rows),
    ]
    for fig in figures:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt)
        data = buffer.getvalue()
        assert data
        if fmt == "svg":
            assert b"<svg" in data
        else:
            assert data.startswith(b"\x89PNG")


def test_plots_do_not_touch_pyplot_state(trace):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_model_view(trace)
    assert plt.get_fignums() == before


def test_long_inputs_get_thinned_labels_and_bounded_figures():
    # 200 tokens: one label per token would be 200 ticks on a 46-inch figure.
    length = 200
    rng = np.random.default_rng(3)
    weights = rng.random((1, 1, 1, length, length))
    trace = Trace(
        hidden_states=rng.normal(size=(2, 1, length, 4)),
        attentions=weights / weights.sum(-1, keepdims=True),
        token_ids=np.arange(length)[None],
        padding_mask=np.ones((1, length)),
        config={},
        backend="numpy",
        device="cpu",
        tokens=[[f"w{i}" for i in range(length)]],
    )
    for fig in (plot_head(trace, 0, 0), plot_rollout(trace)):
        ax = fig.axes[0]
        names = [t.get_text() for t in ax.get_xticklabels()]
        assert names == [f"w{i}" for i in range(0, length, 4)]  # every 4th, <= 64
        assert list(ax.get_yticks()) == list(range(0, length, 4))
        assert max(fig.get_size_inches()) <= 13.0
    hidden = plot_hidden_states(trace)
    # Every 7th: the 5 inches of the norms map at one 9 pt label per 0.16 in.
    assert len(hidden.axes[0].get_xticklabels()) == len(range(0, length, 7))
    assert hidden.get_size_inches()[0] <= PANEL_WIDTH
    pca = plot_pca(trace, 1).axes[0]
    shown = len(pca.texts)  # as many as fit without overlapping; the rest said
    assert 0 < shown < length
    assert f"{length - shown} of {length} labels left out" in pca.get_title()
