"""Predictions by layer: the HTML grid, the figure, the panel, export and
report, drawn from hand-made LayerPredictions (hostile token strings too)."""

from html.parser import HTMLParser

import numpy as np
import pytest

from distil_explorer.tasks.results import LayerPredictions
from distil_explorer.views.lens_html import (
    MAX_POSITIONS,
    SCALE,
    lens_grid,
    lens_html,
    probability_colours,
)
from distil_explorer.views.lens_plots import plot_layer_predictions

HOSTILE = ("<script>alert(1)</script>", '"onmouseover=alert(2)', "'x&y")


def make_lens(length=5, batch=1, layers=3, k=3, words=None, seed=0, padded=0):
    """A LayerPredictions of random probabilities over a 12-token vocabulary,
    named "v0".."v11" unless `words` (12 strings) are given."""
    rng = np.random.default_rng(seed)
    words = words or tuple(f"v{i}" for i in range(12))
    shape = (layers + 1, batch, length)
    top_ids = np.stack([rng.permutation(12)[:k] for _ in range(np.prod(shape))])
    top_ids = top_ids.reshape(*shape, k)
    probabilities = -np.sort(-rng.dirichlet(np.ones(12), size=shape)[..., :k], -1)
    actual = rng.integers(0, 12, (batch, length))
    actual[:, 1] = top_ids[-1, :, 1, 0]  # the last layer gets position 1 right
    hit = top_ids[..., 0] == actual[None]
    rank = np.where(hit, 0, rng.integers(1, 9, shape))
    mask = np.ones((batch, length), np.int32)
    if padded:
        mask[:, length - padded :] = 0
        top_ids[:, mask == 0], rank[:, mask == 0] = -1, -1
        probabilities[:, mask == 0] = 0.0
    return LayerPredictions(
        top_ids=top_ids,
        probabilities=probabilities,
        actual_ids=actual,
        actual_rank=rank,
        actual_probability=rng.random(shape) * 0.1,
        padding_mask=mask,
        tokens=tuple(tuple(words[i] for i in row) for row in actual),
        top_tokens=np.vectorize(lambda i: words[i] if i >= 0 else "")(top_ids).tolist(),
        actual_tokens=tuple(tuple(words[i] for i in row) for row in actual),
    )


class Cells(HTMLParser):
    """The grid's cells as a browser reads them: text, colour, bold, title."""

    def __init__(self):
        super().__init__()
        self.cells, self.headers, self.attributes, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attributes.append((tag, attrs))
        if tag == "td" and attrs.get("class") == "de-lens-cell":
            style = dict(
                part.split(":", 1) for part in attrs["style"].split(";") if part
            )
            self.cells.append(
                {
                    "colour": style["background"],
                    "bold": style.get("font-weight") == "bold",
                    "title": attrs["title"],
                    "text": "",
                }
            )
            self._in = self.cells[-1]
        elif tag == "th" and "title" in attrs:
            self.headers.append(attrs["title"])

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self._in["text"] += data


def cells_of(page: str) -> Cells:
    parser = Cells()
    parser.feed(page)
    return parser


def test_the_html_and_the_figure_draw_the_same_cells():
    lens = make_lens(length=5, layers=3)
    cells = cells_of(lens_html(lens)).cells
    assert len(cells) == 4 * 5  # embeddings + 3 layers, 5 positions
    figure = plot_layer_predictions(lens)
    ax = figure.axes[0]
    image = np.asarray(ax.images[0].get_array())
    assert image.shape == (4, 5, 3)
    texts = ax.texts
    for n, cell in enumerate(cells):
        row, column = divmod(n, 5)
        rgb = tuple(int(cell["colour"][i : i + 2], 16) for i in (1, 3, 5))
        assert tuple(image[row, column]) == rgb
        assert texts[n].get_text() == cell["text"]
        assert (texts[n].get_fontweight() == "bold") == cell["bold"]
        top1 = f"v{lens.top_ids[row, 0, column, 0]}"
        assert cell["text"] == top1
        colour = probability_colours(lens.probabilities[row, 0, column, 0])
        assert cell["colour"] == str(colour)
    # The last layer's hit at position 1 is bold, and the rank-0 cells only.
    bold = np.array([c["bold"] for c in cells]).reshape(4, 5)
    np.testing.assert_array_equal(bold, lens.actual_rank[:, 0] == 0)
    assert bold[-1, 1]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["embeddings", "layer 1", "layer 2", "layer 3 (output)"]


def test_the_hover_lists_the_top_k_and_the_actual_tokens_rank():
    lens = make_lens()
    cell = cells_of(lens_html(lens)).cells[2 * 5 + 3]  # layer 2, position 3
    ids = lens.top_ids[2, 0, 3]
    shown = ", ".join(
        f"v{i} {p:.3f}" for i, p in zip(ids, lens.probabilities[2, 0, 3], strict=True)
    )
    assert f"top-3: {shown}" in cell["title"]
    actual = f"v{lens.actual_ids[0, 3]}"
    rank = lens.actual_rank[2, 0, 3] + 1
    assert f"actual {actual}: rank {rank}," in cell["title"]
    assert cell["title"].startswith("layer 2, position 3 (")


def test_colours_run_from_white_at_0_to_dark_blue_at_1():
    assert probability_colours(np.array([0.0, 1.0])).tolist() == [SCALE[0], SCALE[-1]]
    middle = probability_colours(np.array([0.5]))[0]
    assert middle == SCALE[4]
    darker = [int(c[1:3], 16) for c in probability_colours(np.linspace(0, 1, 9))]
    assert darker == sorted(darker, reverse=True)


def test_hostile_tokens_stay_text_in_cells_headers_and_titles():
    words = HOSTILE * 4
    lens = make_lens(words=words)
    page = lens_html(lens)
    assert "<script" not in page and "onmouseover=alert" not in page.replace(
        "&quot;onmouseover=alert", ""
    )
    parsed = cells_of(page)
    for tag, attrs in parsed.attributes:
        assert tag in {
            "div",
            "span",
            "b",
            "u",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
        }
        assert set(attrs) <= {"class", "style", "title"}, attrs
    texts = {c["text"] for c in parsed.cells}
    assert texts <= {w if len(w) <= 10 else w[:9] + "…" for w in HOSTILE}
    assert any(HOSTILE[0] in c["title"] for c in parsed.cells)  # whole in the hover
    assert any(HOSTILE[1] in h for h in parsed.headers)


def test_padding_is_not_drawn_and_long_sequences_say_what_is_cut():
    lens = make_lens(length=6, batch=2, padded=2)
    assert len(cells_of(lens_html(lens, index=1)).cells) == 4 * 4
    long = make_lens(length=MAX_POSITIONS + 6)
    page = lens_html(long)
    assert len(cells_of(page).cells) == 4 * MAX_POSITIONS
    assert f"positions 0-{MAX_POSITIONS - 1} of {MAX_POSITIONS + 6} shown" in page
    assert "overflow-x:auto" in page  # the table scrolls sideways
    title = plot_layer_predictions(long).axes[0].get_title()
    assert f"of {MAX_POSITIONS + 6} shown" in title
    assert lens_grid(lens).note == ""
    with pytest.raises(ValueError, match="index=2"):
        lens_html(lens, index=2)


def test_the_panel_shows_a_lens_picks_a_sequence_and_hides_on_none():
    pytest.importorskip("ipywidgets")
    from distil_explorer.views.lens_panel import LensPanel

    panel = LensPanel()
    assert panel.widget.layout.display == "none" and panel.grid.value == ""
    lens = make_lens(length=6, batch=2, padded=2)
    panel.show(lens)
    assert panel.widget.layout.display is None and panel.shown is lens
    assert panel.grid.value == lens_html(lens, 0)
    assert panel.index.layout.display is None  # two sequences: a choice
    panel.index.value = 1
    assert panel.grid.value == lens_html(lens, 1)
    panel.show(make_lens())
    assert panel.index.value == 0 and panel.index.layout.display == "none"
    panel.show(None)
    assert panel.shown is None and panel.grid.value == ""
    assert panel.widget.layout.display == "none"


def test_export_and_report_draw_the_lens_and_name_a_missing_one(tiny_trace, tmp_path):
    from distil_explorer.views.export import export_view

    lens = make_lens(length=7, batch=2)
    path = export_view(
        tmp_path / "lens.png", tiny_trace, "predictions by layer", lens=lens
    )
    assert path.name == "lens.png" and path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"lens: none yet.*build a masked-LM preset"):
        export_view(tmp_path / "none.png", tiny_trace, "predictions by layer")
    assert not (tmp_path / "none.png").exists()
    page = export_view(tmp_path / "r.html", tiny_trace, lens=lens).read_text()
    assert "Predictions by layer" in page and lens_html(lens) in page
    plain = export_view(tmp_path / "plain.html", tiny_trace).read_text()
    assert "de-lens-cell" not in plain
