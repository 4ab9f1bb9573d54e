"""Context mixing as weightings of the head and model views: chosen in the
canvas's bar, computed on demand by the session, drawn from the same values
by the screen, the export and the report."""

import re

import numpy as np
import pytest

from distil_explorer.views.contract import STATIC
from distil_explorer.views.export import export_view
from distil_explorer.views.payload import PAYLOAD_TRAITS, decoded
from distil_explorer.views.report import page_payloads, page_state
from distil_explorer.views.scene import scene_of
from tests.factories import random_mixing, random_trace
from tests.views.test_explorer_state import displayed


def _bar_value(label: str) -> str:
    """The weighting the canvas bar's button with this visible label sends."""
    bar = (STATIC / "canvas.js").read_text()
    found = re.findall(rf'<button data-weighting="([a-z_]+)">{label}</button>', bar)
    assert len(found) == 1, label
    return found[0]


def _scene(canvas):
    payload = {name: getattr(canvas, name) for name in PAYLOAD_TRAITS}
    return scene_of(canvas.view_state, decoded(payload)), decoded(payload)


def test_value_zeroing_chosen_by_its_label_draws_the_sessions_mixing(app):
    app.build()
    trace = app.run()
    canvas = app.attention_panel.canvas
    assert id(canvas) in displayed(app)  # the bar a person clicks is on screen
    assert canvas.mixing_methods == ["value_zeroing", "alti"]
    before = bytes(canvas.maps)
    canvas.set_state({"weighting": _bar_value("Value zeroing")})  # the click
    assert not app.errors_shown(), app.errors_shown()
    assert canvas.weighting == "value_zeroing" and bytes(canvas.maps) != before
    mixing = app.session.context_mixing("value_zeroing")
    assert app.session.context_mixing("value_zeroing") is mixing  # cached
    scene, data = _scene(canvas)
    assert scene["title"].startswith(
        "layer 0 \u00b7 value zeroing: how much each token shapes each token's "
        "layer output (residual and LayerNorm included)"
    )
    n = len(canvas.tokens)
    expected = mixing.per_layer[:, 0, :n, :n]
    step = expected.max(axis=(-2, -1), keepdims=True) / 510  # byte quantization
    assert np.all(np.abs(data.maps[:, 0] - expected) <= step + 1e-7)
    canvas.set_state({"aggregate": "rollout", "layer": 1})
    scene, data = _scene(canvas)
    assert scene["title"].startswith("rollout through layer 1 \u00b7 value zeroing")
    rolled = mixing.rollout[1, 0, :n, :n]
    assert np.abs(data.rollout[1] - rolled).max() <= rolled.max() / 510 + 1e-7
    # Another run of the same model keeps the choice, recomputed for it.
    app.run_panel.text.value = "the cat"
    app.run_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert (canvas.weighting, canvas.aggregate) == ("value_zeroing", "rollout")
    assert canvas.payload_info["weighting"] == "value_zeroing"
    assert canvas.mixing[0].token_ids.tolist() == app.trace.token_ids.tolist()
    assert app.trace is not trace and len(canvas.tokens) == 4


def test_alti_is_off_with_the_reason_for_an_ablated_run(app):
    app.build()
    app.run()
    canvas = app.attention_panel.canvas
    canvas.set_state({"weighting": _bar_value("ALTI"), "aggregate": "rollout"})
    assert canvas.weighting == "alti"
    app.run(ablate=[(0, 0)])
    assert canvas.mixing_methods == [] and "ablated" in canvas.mixing_note
    assert (canvas.weighting, canvas.aggregate) == ("weights", "head")
    canvas.set_state({"weighting": "alti"})  # refused, said, rolled back
    assert canvas.weighting == "weights"
    assert "ablated" in canvas.notice and not app.errors_shown()


def test_a_failed_computation_shows_in_the_attention_tab(app, monkeypatch):
    app.build()
    app.run()

    def broken(method):
        raise MemoryError(f"{method}: forced failure")

    monkeypatch.setattr(app.session, "context_mixing", broken)
    canvas = app.attention_panel.canvas
    canvas.set_state({"weighting": "alti"})
    assert app.attention_panel.error.message == "alti: forced failure"
    assert canvas.weighting == "weights"  # back to what it can draw
    assert canvas.payload_info["weighting"] == "weights"


@pytest.fixture(scope="module")
def traced():
    trace = random_trace(layers=3, batch=1, heads=2, length=6, seed=3)
    return trace, random_mixing(trace, "alti", seed=4)


@pytest.mark.parametrize(
    ("view", "options"),
    [
        ("head", {}),
        ("head", {"aggregate": "rollout", "style": "lines"}),
        ("head", {"aggregate": "mean_layers"}),
        ("model", {}),
    ],
)
def test_export_of_each_mixing_view(traced, tmp_path, view, options):
    trace, alti = traced
    path = export_view(
        tmp_path / "v.png", trace, view, 2, weighting="alti", mixing=alti, **options
    )
    assert path.read_bytes().startswith(b"\x89PNG")
    from distil_explorer.views.export import view_figure

    figure = view_figure(trace, view, 2, weighting="alti", mixing=alti, **options)
    title = figure._suptitle.get_text()
    expected = {
        "rollout": "rollout through layer 2 \u00b7 ALTI",
        "mean_layers": "mean over layers 0\u20132 \u00b7 ALTI",
    }.get(options.get("aggregate"), "layer 2 \u00b7 ALTI")
    if view == "model":
        expected = "model view: 3 layers \u00b7 ALTI, one map per layer"
    assert title.startswith(expected)


def test_bad_weightings_are_refused_naming_what_is_allowed(traced, tmp_path):
    trace, alti = traced
    with pytest.raises(ValueError, match=r"weighting='altii': allowed: \['weights'"):
        export_view(tmp_path / "v.png", trace, "head", weighting="altii")
    with pytest.raises(ValueError, match="'value_zeroing', 'alti'"):
        export_view(tmp_path / "v.png", trace, "head", weighting="altii")
    # A mixing weighting without its maps, or with another input's.
    with pytest.raises(ValueError, match="needs the Trace's context mixing"):
        export_view(tmp_path / "v.png", trace, "model", weighting="value_zeroing")
    other = random_mixing(random_trace(layers=3, batch=1, length=7), "alti")
    with pytest.raises(ValueError, match="made for other inputs"):
        export_view(tmp_path / "v.png", trace, "head", weighting="alti", mixing=other)
    with pytest.raises(ValueError, match="allowed: a ContextMixing"):
        export_view(tmp_path / "v.png", trace, "head", weighting="alti", mixing=[3])


def test_the_report_carries_the_mixing_for_its_buttons(traced, tmp_path):
    trace, alti = traced
    path = export_view(
        tmp_path / "r.html", trace, weighting="alti", mixing=alti, aggregate="rollout"
    )
    page = path.read_text()
    assert '"mixing_methods": ["alti"]' in page and '"aggregate": "rollout"' in page
    payloads = page_payloads(trace, 0, alti)
    assert sorted(payloads) == ["alti", "weights"]
    assert payloads["alti"]["payload_info"]["mixing"] == "alti"
    assert payloads["alti"]["rollout"]  # base64 of the rollout bytes
    from distil_explorer.views.report import opening_state

    state = page_state(opening_state(trace, mixing=alti))
    assert state["mixing_methods"] == ["alti"]
    assert "not computed when this report was written" in state["mixing_note"]


def test_a_widget_given_mixing_keeps_it_for_another_sequence():
    from distil_explorer.views.attention_widget import AttentionWidget

    trace = random_trace(layers=2, batch=2, heads=2, length=6, seed=9)
    zeroing = random_mixing(trace, "value_zeroing", seed=1)
    widget = AttentionWidget.from_trace(
        trace, mixing=zeroing, weighting="value_zeroing"
    )
    assert widget.mixing_methods == ["value_zeroing"] and "not computed" in (
        widget.mixing_note
    )
    widget.index = 1  # sequence 1: 4 real tokens, its own rows of the mixing
    assert (widget.weighting, widget.payload_info["index"]) == ("value_zeroing", 1)
    expected = zeroing.per_layer[1, 1, :4, :4]
    widget.layer = 1
    np.testing.assert_array_equal(widget.head_array(), expected)
    assert widget.view_label() == "layer 1 (value zeroing)"
    with pytest.raises(ValueError, match="weighting='alti': not computed"):
        widget.weighting = "alti"


def test_mixing_is_offered_only_for_a_trace_of_this_process():
    from distil_explorer.session.mixing import MixingCache, mixing_offer

    trace = random_trace()  # backend "numpy": a worker's, never this process's
    backbone = object()
    methods, note = mixing_offer(backbone, trace)
    assert methods == () and "ran on numpy in a worker process" in note
    assert mixing_offer(None, None)[1] == "no backbone yet: build one first"
    with pytest.raises(ValueError, match="context mixing: this Trace ran on numpy"):
        MixingCache().of(backbone, trace, "alti")
    with pytest.raises(ValueError, match="method='rollout': allowed: value_zeroing"):
        MixingCache().of(backbone, trace, "rollout")
