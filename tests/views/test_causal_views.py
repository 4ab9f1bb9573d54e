"""The Causal tab, its export and report: what a person clicks and reads.

Buttons are found by their label in the displayed widget tree (what a person
can reach), the heatmap and grid are checked for escaping and for agreeing
with the exported figures, and bad inputs show in the tab's own error area.
"""

import dataclasses

import ipywidgets as w
import numpy as np
import pytest

from distil_explorer.causal import Patching
from distil_explorer.session.causal import HeadImportance
from distil_explorer.views import causal_plots
from distil_explorer.views.registry import FILE_NAMES, tab_views
from distil_explorer.views.report import report
from tests.factories import random_trace
from tests.views.test_explorer_state import displayed

HOSTILE = "<img src=x onerror=alert(1)>"


def _on_screen(app, kind, label):
    """The one widget of `kind` labelled `label` in the displayed tree."""
    shown = displayed(app)
    found = [
        x
        for x in w.widgets.widget._instances.values()
        if isinstance(x, kind) and id(x) in shown and x.description == label
    ]
    assert len(found) == 1, (label, len(found))
    return found[0]


def _click(app, label):
    _on_screen(app, w.Button, label).click()
    assert not app.errors_shown(), app.errors_shown()


def test_patch_importance_and_a_head_switched_off_through_the_tab(app):
    app.build()
    app.run()
    tab = app.causal_panel.widget
    assert id(tab) in displayed(app)
    assert _on_screen(app, w.Textarea, "corrupted text").value == "the dog sat"
    _click(app, "Patch")
    heatmap = app.causal_panel.heatmap.value
    assert heatmap.count("de-patch-cell") == 3 * 5  # hidden states 0..2 x tokens
    assert "cat \u2192 dog" in heatmap and "clean 3.282" in heatmap
    _click(app, "Head importance")
    grid = app.causal_panel.grid.children
    assert [b.description for b in grid] == ["L0 H0", "L0 H1", "L1 H0", "L1 H1"]
    values = app.session.importance.values
    assert f"{values[1, 0]:+.4g}" in grid[2].tooltip
    assert len({b.style.button_color for b in grid}) > 1  # coloured by value
    canvas = app.attention_panel.canvas
    canvas.choose(layer=1, head=1, selected_token=2)
    _click(app, "L1 H0")
    assert app.trace.ablated_heads == ((1, 0),)
    # The same input again: what a person chose on the canvas stays.
    assert (canvas.layer, canvas.head, canvas.selected_token) == (1, 1, 2)
    marked = app.causal_panel.grid.children[2]
    assert "de-head-off" in marked._dom_classes and marked.icon == "ban"
    assert marked.style.text_decoration == "line-through"
    assert canvas.payload_info["ablated"] == [[1, 0]]
    assert "Heads off: 1.0" in app.hidden_panel.note.value
    # Importance (every head on) stays; patching, of the model as it ran, goes.
    assert app.session.importance is not None and not app.causal_panel.heatmap.value
    _click(app, "Patch")
    assert "heads off in every run: 1.0" in app.causal_panel.heatmap.value
    _click(app, "L0 H1")
    assert app.trace.ablated_heads == ((0, 1), (1, 0))
    _click(app, "L1 H0")  # again: back on
    assert app.trace.ablated_heads == ((0, 1),)
    _click(app, "Restore all heads")
    assert app.trace.ablated_heads == () and canvas.payload_info["ablated"] == []
    assert not any("de-head-off" in b._dom_classes for b in grid)


def test_one_target_choice_serves_both_tabs(app):
    app.build()
    app.run()
    # The very same widget objects sit in the Attribution and Causal tabs.
    dropdown = app.attribution_panel.target
    assert dropdown in app.causal_panel.widget.children
    assert app.attribution_panel.other_text in app.causal_panel.widget.children
    dropdown.value = "similarity"
    app.attribution_panel.other_text.value = "a dog ran"
    _click(app, "Patch")
    assert "similarity" in app.session.patching.target


def test_a_corrupted_text_of_another_length_says_how_in_the_tab(app):
    app.build()
    app.run_panel.text.value = "a good dog"
    app.run()
    assert app.causal_panel.corrupted.value == "a bad dog"  # follows the Run text
    app.causal_panel.corrupted.value = "the cat sat on the mat"
    _on_screen(app, w.Button, "Patch").click()
    message = app.causal_panel.error.message
    assert message.startswith("corrupted: 8 tokens") and "clean has 5" in message
    assert app.causal_panel.heatmap.value == ""
    app.causal_panel.method.value = "ablation"
    _click(app, "Head importance")  # the next action clears it
    assert app.causal_panel.error.message == ""
    app.run_panel.text.value = "the cat sat"
    app.run()  # a text a person typed stays
    assert app.causal_panel.corrupted.value == "the cat sat on the mat"


def test_the_causal_views_export_and_report_or_say_what_is_missing(app, tmp_path):
    app.build()
    app.run()
    assert tab_views("Causal") == ("patching", "heads")
    for view in ("patching", "heads"):
        with pytest.raises(ValueError, match="patching: none yet|importance: none"):
            app.export(str(tmp_path / f"{view}.png"), view)
    app.keep_as_a()
    app.toggle_head(0, 0)
    app.patch()
    app.head_importance(method="ablation")
    # Compare: the plain run as A, the same input with a head off as B.
    assert app.session.comparison().b_label.endswith("heads off 0.0")
    for view in ("patching", "heads"):
        written = app.export(str(tmp_path / f"{FILE_NAMES[view]}.png"), view)
        assert written.read_bytes().startswith(b"\x89PNG")
    page = app.export(str(tmp_path / "report.html")).read_text()
    assert "<h2>Activation patching</h2>" in page and "<h2>Head importance</h2>" in page
    assert "title='layer 0, head 0: " in page and "\u2715 off'" in page  # crossed
    assert '"ablated": [[0, 0]]' in page  # the page's canvas title names it


def _patching(tokens=("[CLS]", HOSTILE, "b", "[SEP]"), other=None):
    rng = np.random.default_rng(0)
    n = len(tokens)
    return Patching(
        effect=rng.normal(size=(3, n)),
        clean_value=2.0,
        corrupted_value=1.0,
        clean_token_ids=np.arange(n),
        corrupted_token_ids=np.arange(n),
        padding_mask=np.ones(n),
        clean_tokens=tokens,
        corrupted_tokens=other or tokens,
        target=f"{HOSTILE} target",
    )


def test_hostile_tokens_and_targets_stay_text(tmp_path):
    patching = _patching(other=("[CLS]", "</td><script>x</script>", "b", "[SEP]"))
    page = causal_plots.patching_html(patching)
    assert "<img" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    importance = HeadImportance(np.ones((2, 3)), "gradient", HOSTILE)
    grid = causal_plots.importance_html(importance, ablated=((1, 2),))
    assert "<img" not in grid and "\u2715 off" in grid
    trace = dataclasses.replace(random_trace(heads=3), ablated_heads=((1, 2),))
    path = report(trace, tmp_path / "r.html", patching=patching, importance=importance)
    assert "<img src=x" not in path.read_text()


def test_the_html_and_the_figures_colour_each_value_alike():
    patching = _patching()
    figure = causal_plots.plot_patching(patching)
    image = figure.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), patching.effect, rtol=1e-6)
    scale = causal_plots.patching_scale(patching.effect)
    assert (image.norm.vmin, image.norm.vmax) == scale[1:] and scale[1] == -scale[2]
    html_colours = causal_plots.colours(patching.effect, scale)
    page = causal_plots.patching_html(patching)
    for value, colour in zip(patching.effect.flat, html_colours.flat, strict=True):
        from matplotlib.colors import to_hex

        assert to_hex(image.to_rgba(value)) == colour and f"background:{colour}" in page
    # The numbers written in the cells are the same too.
    written = [text.get_text() for text in figure.axes[0].texts]
    assert len(written) == patching.effect.size
    assert all(f">{text}</td>" in page for text in written)
    assert "-0.00<" not in page
    signed = HeadImportance(np.array([[-0.5, 0.1], [0.2, 0.0]]), "ablation")
    figure = causal_plots.plot_head_importance(signed, ablated=((0, 1),))
    image = figure.axes[0].images[0]
    assert image.get_cmap().name == "RdBu_r" and image.norm.vmin == -0.5
    grid = causal_plots.importance_html(signed)
    for colour in causal_plots.colours(
        signed.values, causal_plots.importance_scale(signed.values)
    ).flat:
        assert f"background:{colour}" in grid
    assert causal_plots.importance_scale(np.array([[0.1, 0.3]]))[0] == "viridis"


def test_importance_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match="importance shape=\\(3,\\)"):
        causal_plots.plot_head_importance(np.ones(3))
