"""The explorer app driven headlessly: click handlers, synced state, outputs."""

import ipywidgets as w
import numpy as np
import pytest

from distil_explorer import Explorer
from distil_explorer.session import Session
from distil_explorer.views.build_panel import CUSTOM
from distil_explorer.views.payload import PAYLOAD_TRAITS, decoded
from distil_explorer.views.registry import TABS


def test_layout_has_the_tabs_and_a_hidden_error_area():
    app = Explorer()
    assert [app.tabs.get_title(i) for i in range(len(app.tabs.children))] == list(TABS)
    assert app.error.layout.display == "none"
    assert app.run_panel.button.disabled  # nothing built yet


def test_no_attribute_shadows_a_widget_trait(app):
    # An Explorer attribute named like an ipywidgets trait (`_model_name` did)
    # tells the browser to load a widget class that does not exist.
    app.build()
    app.run()
    box = w.VBox()
    for name in box.trait_names(sync=True):
        assert getattr(app, name) == getattr(box, name) or name in (
            "children",
            "layout",
        ), name


def test_build_and_run_through_the_buttons(app):
    app.build_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert "1,984" in app.params_panel.table.value  # total equals count_params
    app.run_panel.button.click()
    trace = app.trace
    assert trace.tokens[0] == ("[CLS]", "the", "cat", "sat", "[SEP]")
    canvas = app.attention_panel.canvas
    assert canvas.tokens == list(trace.tokens[0])
    maps = decoded({k: getattr(canvas, k) for k in PAYLOAD_TRAITS}).maps
    np.testing.assert_allclose(maps[0, 0], trace.attentions[0, 0, 0], atol=1 / 510)
    assert "<table" in app.attention_panel.table.value
    assert app.tabs.selected_index == 2  # the run lands on Attention
    # Hidden-state figures are drawn when their tab is first opened.
    assert bytes(app.hidden_panel.overview.value) == b""
    app.tabs.selected_index = 3
    assert bytes(app.hidden_panel.overview.value).startswith(b"\x89PNG")
    assert bytes(app.hidden_panel.rollout.value).startswith(b"\x89PNG")


def test_changing_layer_and_head_reads_the_cache_not_the_model(app, monkeypatch):
    app.build()
    trace = app.run()
    calls = []
    monkeypatch.setattr(Session, "run", lambda *a, **k: calls.append(1))
    app.attention_panel.canvas.layer = 1  # what the canvas's menus send
    app.attention_panel.canvas.head = 1
    assert calls == []
    got = app.attention_panel.canvas.head_array()
    np.testing.assert_array_equal(got, trace.attentions[1, 0, 1])


def test_an_exception_in_a_callback_shows_and_the_app_keeps_working(app, monkeypatch):
    app.build()

    def broken(*args, **kwargs):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(app.session, "run", broken)
    app.run_panel.button.click()
    error = app.run_panel.error  # beside the Run button, not above the tabs
    assert error.widget.layout.display is None
    assert "forced failure" in error.widget.value
    assert app.error.layout.display == "none"
    assert not app.run_panel.button.disabled  # re-enabled after the failure
    monkeypatch.undo()
    app.run_panel.button.click()
    assert error.widget.layout.display == "none"  # the next action clears it
    assert app.errors_shown() == []
    assert app.trace is not None


def test_bad_token_ids_are_reported_in_the_error_area(app):
    app.build()
    app.run_panel.mode.value = "token ids"
    app.run_panel.ids.value = "2 x 3"
    app.run_panel.button.click()
    assert "integers separated by spaces" in app.run_panel.error.widget.value
    app.run_panel.ids.value = "2 999 3"
    app.run_panel.button.click()
    assert "out of range" in app.run_panel.error.message


def test_work_cannot_start_twice(app):
    app.build()
    app._busy = True
    app.run_panel.button.click()
    assert "busy" in app.run_panel.error.message


def test_custom_config_validates_as_the_person_types():
    app = Explorer()
    panel = app.build_panel
    panel.preset.value = CUSTOM
    # Every keystroke reaches the kernel, not only leaving the field.
    assert all(field.continuous_update for field in panel.fields.values())
    panel.fields["hidden_dim"].value = 250
    assert "not divisible by num_heads=4" in panel.message.value
    assert panel.button.disabled
    panel.fields["hidden_dim"].value = 256
    assert "9,963,008 parameters" in panel.message.value
    assert not panel.button.disabled
    panel.fields["vocabulary_size"].value = 64
    panel.fields["max_sequence_length"].value = 16
    panel.button.click()
    assert app.session.tokenizer is None
    assert app.run_panel.mode.value == "token ids"  # said, not silent:
    assert "Token ids only" in app.run_panel.note.value
    assert app.run_panel.text.value.startswith("The cat sat")  # the sentence stays
    assert panel.load_weights.layout.display == "none"  # nothing to load
    app.run_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert app.trace.hidden_states.shape[-1] == 256


def test_export_button_writes_the_view_on_screen(app, tmp_path):
    app.build()
    app.run()
    bar = app.export_bar
    assert (bar.view.options, bar.view.value) == (
        ("head", "model", "query/key", "predictions by layer"),
        "head",
    )
    bar.name.value = str(tmp_path / "head.svg")
    bar.button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert b"<svg" in (tmp_path / "head.svg").read_bytes()
    assert "wrote" in bar.status.value
    bar.name.value = str(tmp_path / "bad.gif")
    bar.button.click()
    assert "allowed: a name ending in" in bar.error.message
    assert bar.status.value == ""  # no "wrote" line left from before
    assert not (tmp_path / "bad.gif").exists()


def test_the_export_bar_offers_every_view_of_the_tab_on_screen(app, tmp_path):
    app.build()
    app.run()
    app.attention_panel.canvas.mode = "model"
    assert app.export_bar.view.value == "model"  # what is on screen
    app.attention_panel.canvas.mode = "head"
    with pytest.raises(ValueError, match="query, key: needed"):
        app.export(str(tmp_path / "qk.png"), "query/key")
    app.attention_panel.canvas.selected_token = 1
    assert app.export(str(tmp_path / "qk.png"), "query/key").stat().st_size > 0
    app.tabs.selected_index = 3  # Hidden states
    assert app.export_bar.view.options == ("hidden states", "pca", "rollout")
    app.hidden_panel.rollout_layer.value = 0
    for view in ("hidden states", "pca", "rollout"):
        assert b"<svg" in app.export(str(tmp_path / f"{view}.svg"), view).read_bytes()
    app.attention_panel.canvas.layer, app.attention_panel.canvas.head = 1, 1
    page = app.export(str(tmp_path / "all.html")).read_text()  # from any tab
    assert '"layer": 1, "head": 1' in page  # opens on the head on screen
    app.tabs.selected_index = 5  # Compare
    with pytest.raises(ValueError, match="compare: no A and B yet"):
        app.export(str(tmp_path / "diff.png"))
    app.keep_as_a()
    app.run()
    page = app.export(str(tmp_path / "diff.svg")).read_text()
    assert "<svg" in page and app.tabs.selected_index == 5


def test_mask_remove_and_restore_a_clicked_token(app):
    app.build()
    original = app.run()
    panel = app.attention_panel
    # Nothing pinned yet: a person cannot press them.
    assert panel.mask_button.disabled and panel.remove_button.disabled
    assert panel.restore_button.disabled
    panel.canvas.selected_token = 2  # what a click on "cat" sends from JS
    panel.mask_button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert app.trace.tokens[0] == ("[CLS]", "the", "[MASK]", "sat", "[SEP]")
    assert "masking" in panel.effect.value and "<table" in panel.effect.value
    assert not panel.restore_button.disabled
    assert panel.canvas.selected_token == 2  # same length: the pin stays
    panel.canvas.selected_token = 1
    panel.remove_button.click()  # acts on what is on screen
    assert app.trace.tokens[0] == ("[CLS]", "[MASK]", "sat", "[SEP]")
    panel.restore_button.click()
    assert app.trace is original


def test_query_key_view_follows_the_clicked_token(app):
    app.build()
    trace = app.run()
    assert trace.queries is not None
    panel = app.attention_panel
    assert len(bytes(panel.query_key.value)) == 0
    panel.canvas.selected_token = 1
    first = bytes(panel.query_key.value)
    assert first.startswith(b"\x89PNG")
    panel.canvas.head = 1
    assert bytes(panel.query_key.value) != first


def test_a_worker_run_keeps_queries_and_interventions_stay_on_its_backend(app):
    from tests.runtime.conftest import cheapest_worker_backend

    backend = cheapest_worker_backend()
    app.build()
    try:
        trace = app.run(backend=backend)
        assert trace.backend == backend and trace.queries is not None
        app.attention_panel.canvas.selected_token = 1
        assert bytes(app.attention_panel.query_key.value).startswith(b"\x89PNG")
        app.intervene("remove", position=2)
        assert app.trace.backend == backend  # not silently back on torch
    finally:
        app.session.close()
