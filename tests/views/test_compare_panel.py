"""The Compare tab driven headlessly: keep A, run B, read what the tab shows."""

import dataclasses

import numpy as np

from distil_explorer.analysis.compare import compare_traces
from distil_explorer.session import Comparison
from distil_explorer.views import compare_panel as compare_module
from distil_explorer.views.build_panel import CUSTOM
from distil_explorer.views.compare_panel import NO_A, ComparePanel
from distil_explorer.views.explorer import TABS
from tests.views.conftest import PRESET
from tests.views.test_plots import make_trace

PNG = b"\x89PNG"


def _comparison(a, b, a_label="model x: A", b_label="model x: B"):
    try:
        difference = compare_traces(a, b)
    except ValueError as error:
        return Comparison(a, a_label, problem=f"different inputs ({error})")
    return Comparison(a, a_label, b, b_label, difference)


def test_the_panel_draws_a_comparison_opening_on_the_head_that_moved_most():
    panel = ComparePanel()
    panel.show(None, can_keep=True)
    assert panel.message.value == NO_A and not panel.keep_button.disabled
    assert panel.figure.layout.display == "none"  # no broken-image icon
    a = make_trace()
    attentions = np.array(a.attentions)
    attentions[1, 0, 2, 0, 0] += 0.5  # the largest change: layer 1, head 2
    b = dataclasses.replace(a, attentions=attentions, backend="jax")
    panel.show(_comparison(a, b, b_label="model x: jax on cpu"), can_keep=True)
    assert "model x: jax on cpu" in panel.message.value
    assert "largest |A - B|</b>: 0.5" in panel.summary.value
    assert "at layer 1, head 2" in panel.summary.value
    assert (panel.layer.value, panel.head.value) == (1, 2)
    first = bytes(panel.figure.value)
    assert first.startswith(PNG) and panel.figure.layout.display is None
    panel.head.value = 0  # the slider redraws from the two kept Traces
    assert bytes(panel.figure.value).startswith(PNG)
    assert bytes(panel.figure.value) != first


def test_a_comparison_without_b_says_why_and_draws_nothing():
    panel = ComparePanel()
    panel.show(_comparison(make_trace(), make_trace(seed=1)), can_keep=True)
    assert "different inputs" in panel.message.value
    assert "b: token_ids at sequence 0, position 1" in panel.message.value
    assert panel.b is None and bytes(panel.figure.value) == b""
    assert panel.sliders.layout.display == "none"


def test_the_keep_button_is_only_enabled_with_a_run_on_screen():
    panel = ComparePanel()
    panel.show(None, can_keep=False)
    assert panel.keep_button.disabled


def test_keep_a_then_run_b_through_the_buttons(app, monkeypatch):
    panel = app.compare_panel
    assert panel.message.value == NO_A and panel.keep_button.disabled
    app.build_panel.button.click()
    app.run_panel.button.click()
    assert panel.message.value == NO_A  # no A yet: the run is only offered
    assert app.tabs.selected_index == TABS.index("Attention")
    panel.keep_button.click()
    a = panel.comparison.a
    assert a is app.trace and "A</b>: " + str(PRESET) in panel.message.value
    app.build_panel.load_weights.value = False  # same preset, random weights
    app.build_panel.button.click()
    app.run_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    b = app.trace
    assert panel.b is b and app.tabs.selected_index == TABS.index("Compare")
    diff = compare_traces(a, b)
    assert f"{diff.max_abs:.3g}" in panel.summary.value and diff.max_abs > 0
    row, column = np.unravel_index(np.argmax(diff.attention_max), (2, 2))
    assert (panel.layer.value, panel.head.value) == (row, column)
    shown = bytes(panel.figure.value)
    assert shown.startswith(PNG)

    drawn = []
    monkeypatch.setattr(
        compare_module, "plot_difference", lambda *a, **k: drawn.append(a[2:4])
    )
    monkeypatch.setattr(compare_module, "figure_png", lambda figure, dpi: b"png")
    panel.layer.value = 1 - row  # the slider redraws from the two kept Traces
    assert drawn == [(1 - row, column)] and panel.figure.value == b"png"


def test_a_different_input_shows_a_message_not_an_error(app):
    app.build()
    app.run()
    app.keep_as_a()
    app.run(inputs="the cat")
    assert not app.errors_shown(), app.errors_shown()
    assert "different inputs" in app.compare_panel.message.value
    assert app.tabs.selected_index == TABS.index("Attention")


def test_a_custom_config_against_a_preset_on_the_same_ids(app):
    app.build()
    app.run(inputs=[2, 10, 11, 12, 3])
    app.compare_panel.keep_button.click()
    panel = app.build_panel
    panel.preset.value = CUSTOM
    sizes = {"vocabulary_size": 64, "num_layers": 2, "num_heads": 2}
    sizes.update(hidden_dim=16, intermediate_dim=16, max_sequence_length=32)
    for name, value in sizes.items():
        panel.fields[name].value = value
    panel.button.click()
    app.run_panel.button.click()  # the token ids the build put in the Run tab
    assert not app.errors_shown(), app.errors_shown()
    compare = app.compare_panel
    assert compare.b is not None
    assert "custom config" in compare.message.value
    assert "not compared: hidden states: shapes" in compare.summary.value
    assert bytes(compare.figure.value).startswith(PNG)  # heads still compared


def test_keep_with_no_run_shows_beside_the_keep_button(app):
    compare = app.compare_panel
    compare.keep_button.click()  # disabled in a browser; forced here
    assert compare.keep_error.widget.layout.display is None
    assert "keep: no run yet" in compare.keep_error.widget.value
    assert app.error.layout.display == "none"  # not in the banner
