"""Every figure is legible in the explorer: text of at least 12 px as shown.

Panels draw at PANEL_DPI and show at half size, and a figure wider than the
explorer (about 1100 px) is shrunk to fit, so the size a person sees is
fontsize * PANEL_DPI / 72 / 2 * min(1, 1100 / shown width). Checked on a
base-sized model (6 layers x 12 heads) at 13 and 128 tokens; scatter labels
must also stay inside their frame and never overlap.
"""

import types

import numpy as np
import pytest
from matplotlib.text import Text

from distil_explorer.analysis.params import ParameterRow
from distil_explorer.attribution import Attribution
from distil_explorer.corpus.sums import BINS, STATISTICS
from distil_explorer.trace import Trace
from distil_explorer.views import hidden_plots, plots
from distil_explorer.views.attribution_plots import plot_attribution
from distil_explorer.views.compare_plots import plot_difference
from distil_explorer.views.corpus_plots import plot_corpus_statistics
from distil_explorer.views.figures import PANEL_DPI, figure_png, png_width

LAYERS, HEADS = 6, 12
SHOWN_WIDTH = 1100  # px the explorer gives a figure at a 1600 px wide window


def _trace(length: int, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    weights = np.exp(2 * rng.normal(size=(LAYERS, 1, HEADS, length, length)))
    words = [f"word{i}" for i in range(length - 2)]
    return Trace(
        hidden_states=rng.normal(size=(LAYERS + 1, 1, length, 16)),
        attentions=weights / weights.sum(-1, keepdims=True),
        token_ids=np.arange(length)[None],
        padding_mask=np.ones((1, length)),
        config={},
        backend="numpy",
        device="cpu",
        tokens=[["[CLS]", *words, "[SEP]"]],
    )


def _stats():
    rng = np.random.default_rng(1)
    shape = (LAYERS, HEADS)
    return types.SimpleNamespace(
        values={name: rng.random(shape) for name in STATISTICS},
        distributions=rng.dirichlet(np.ones(len(BINS)), size=shape),
        num_layers=LAYERS,
        num_heads=HEADS,
        num_texts=200,
        num_tokens=5_432,
    )


def _rows():
    blocks = ["embeddings", *(f"layer {i}" for i in range(LAYERS))]
    return [
        ParameterRow(block, part, "kernel", (768, 768), 7_087_872 // 4)
        for block in blocks
        for part in ("attention", "feed-forward", "norm", "other")
    ]


def _attribution(length: int):
    trace = _trace(length)
    scores = np.random.default_rng(2).normal(size=(1, length))
    return Attribution(
        scores=scores,
        token_ids=trace.token_ids,
        padding_mask=trace.padding_mask,
        tokens=tuple(tuple(t) for t in trace.tokens),
        target_value=np.ones(1),
        baseline_value=np.zeros(1),
        method="integrated_gradients",
        target="[CLS] norm",
        backend="torch",
    )


def _figures(length: int):
    trace, other = _trace(length), _trace(length, seed=5)
    yield "head", plots.plot_head(trace, 2, 6)
    yield "head lines", plots.plot_head_lines(trace, 2, 6)
    yield "model view", plots.plot_model_view(trace)
    yield "hidden states", hidden_plots.plot_hidden_states(trace)
    yield "pca", hidden_plots.plot_pca(trace, LAYERS)
    yield "rollout", hidden_plots.plot_rollout(trace)
    yield "compare", plot_difference(trace, other, 2, 6, a_label="A", b_label="B")
    yield "attribution", plot_attribution(_attribution(length))


def _smallest_shown_px(figure) -> tuple[float, str]:
    figure.draw_without_rendering()  # tick labels exist once drawn
    texts = [
        t
        for t in figure.findobj(Text)
        if t.get_visible()
        and t.get_text().strip()
        and (t.axes is None or t.axes.get_visible())
    ]
    smallest = min(texts, key=lambda t: t.get_fontsize())
    png = figure_png(figure, PANEL_DPI)
    shown = png_width(png) / 2
    scale = min(1.0, SHOWN_WIDTH / shown)
    return smallest.get_fontsize() * PANEL_DPI / 72 / 2 * scale, smallest.get_text()


@pytest.mark.parametrize("length", [13, 128])
def test_no_text_under_12_px_in_any_figure(length):
    small = {}
    for name, figure in _figures(length):
        px, text = _smallest_shown_px(figure)
        if px < 12:
            small[name] = (round(px, 1), text)
    for name, figure in (
        ("corpus", plot_corpus_statistics(_stats())),
        ("parameters", plots.plot_parameters(_rows())),
    ):
        px, text = _smallest_shown_px(figure)
        if px < 12:
            small[name] = (round(px, 1), text)
    assert small == {}


def _label_boxes(ax):
    renderer = ax.get_figure(root=True).canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in ax.texts], ax.get_window_extent(
        renderer
    )


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plot_corpus_statistics(_stats()).get_axes(),
        lambda: hidden_plots.plot_pca(_trace(40), LAYERS).get_axes(),
    ],
    ids=["head map", "pca"],
)
def test_scatter_labels_stay_in_their_frame_and_never_overlap(draw):
    axes = [ax for ax in draw() if ax.texts]
    assert axes
    ax = axes[-1]
    ax.get_figure(root=True).draw_without_rendering()
    boxes, frame = _label_boxes(ax)
    assert len(boxes) >= 20
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])


def test_the_head_map_is_at_least_400_px_as_shown():
    figure = plot_corpus_statistics(_stats())
    figure.draw_without_rendering()
    ax = next(a for a in figure.get_axes() if a.get_gid() == "head-map")
    box = ax.get_window_extent()
    inches = min(box.width, box.height) / figure.dpi
    assert inches * 100 >= 400  # 100 px per inch as shown (PANEL_DPI / 2)
    assert figure.get_size_inches()[0] * 100 <= SHOWN_WIDTH  # never shrunk


def test_the_parameter_chart_has_plain_axis_numbers():
    figure = plots.plot_parameters(_rows())
    figure.draw_without_rendering()
    ax = figure.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e7"
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ax.get_ylabel() == "parameters (millions)"
    assert any(label in ("5", "10", "15", "20") for label in labels), labels
