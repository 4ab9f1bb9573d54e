"""The Corpus tab, reached and clicked through the displayed widget tree."""

import ipywidgets as w
import numpy as np
import pytest

from distil_explorer.corpus.sums import STATISTICS
from distil_explorer.views.corpus_panel import FILE, head_title
from distil_explorer.views.corpus_plots import plot_corpus_statistics
from tests.views.test_explorer_state import displayed


def on_screen(app, kind, **traits):
    """The one widget of `kind` with `traits` that the app displays."""
    ids = displayed(app)
    found = [
        x
        for x in w.widgets.widget._instances.values()
        if id(x) in ids
        and isinstance(x, kind)
        and all(getattr(x, k) == v for k, v in traits.items())
    ]
    assert len(found) == 1, (kind.__name__, traits, len(found))
    return found[0]


def test_compute_then_click_a_head_opens_its_example_in_the_head_view(app):
    app.build_panel.button.click()
    tabs = app.tabs
    tabs.selected_index = tabs.titles.index("Corpus")
    on_screen(app, w.BoundedIntText, description="texts").value = 12
    on_screen(app, w.Button, description="Compute").click()
    assert app.error.layout.display == "none", app.error.value
    stats = app.session.corpus
    backbone = app.session.backbone
    assert stats.num_texts == 12
    assert stats.values["cls"].shape == (backbone.num_layers, backbone.num_heads)
    # The grid shows each head's value of the chosen statistic.
    layer, head = backbone.num_layers - 1, backbone.num_heads - 1
    button = on_screen(app, w.Button, tooltip=head_title(layer, head))
    assert button.description == f"{stats.values['cls'][layer, head]:.2f}"
    on_screen(app, w.Dropdown, description="colour by").value = "entropy"
    assert button.description == f"{stats.values['entropy'][layer, head]:.2f}"
    button.click()
    assert app.error.layout.display == "none", app.error.value
    text = stats.example_text("entropy", layer, head)
    expected = app.session.tokenizer.encode_at_most(text, 128)
    np.testing.assert_array_equal(app.trace.token_ids, expected.token_ids)
    canvas = app.attention_panel.canvas
    assert (canvas.layer, canvas.head, canvas.mode) == (layer, head, "head")
    assert tabs.titles[tabs.selected_index] == "Attention"
    assert "highest in" in app.corpus_panel.example.value
    # A new model makes the statistics stale: they are gone, grid and all.
    app.build_panel.button.click()
    assert app.corpus_panel.stats is None and app.session.corpus is None
    assert app.corpus_panel.grid.children == ()


def test_a_text_file_and_its_errors(app, tmp_path):
    app.build_panel.button.click()
    panel = app.corpus_panel
    panel.source.value = FILE
    assert panel.path.layout.display is None  # the path box appears
    panel.button.click()
    assert "file: empty" in app.error.value
    panel.path.value = str(tmp_path / "missing.txt")
    panel.button.click()
    assert "no such file" in app.error.value
    path = tmp_path / "texts.txt"
    path.write_text("the cat sat\n\nthe dog ran\nthe cat ran\n")
    panel.path.value = str(path)
    panel.count.value = 2
    panel.button.click()
    assert app.error.layout.display == "none", app.error.value
    assert app.session.corpus.num_texts == 2
    for bad, match in ((0, "count=0"), (True, "count=True")):
        with pytest.raises(ValueError, match=match):
            app.session.corpus_statistics(count=bad)
    with pytest.raises(ValueError, match="source=''"):
        app.session.corpus_statistics(source="")


def test_compute_waits_for_a_backbone_with_a_tokenizer(app):
    panel = app.corpus_panel
    assert panel.button.disabled  # nothing built yet
    with pytest.raises(ValueError, match="no backbone yet"):
        app.session.corpus_statistics()


def test_plot_corpus_statistics_draws_every_statistic_and_the_head_map(app):
    app.build_panel.button.click()
    stats = app.session.corpus_statistics(count=5)
    figure = plot_corpus_statistics(stats)
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert len([t for t in titles if t]) == len(STATISTICS) + 1
    assert "heads by behaviour (JS distance, MDS)" in titles
    with pytest.raises(ValueError, match="statistics=\\['nope'\\]"):
        plot_corpus_statistics(stats, ["nope"])
