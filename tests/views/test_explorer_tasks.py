"""The explorer with a task head: the head said on build, class bars after Run,
a masked LM's predictions after Mask token, the head's attribution targets
(offered while it is built, gone with it), and A/B class probabilities."""

import pytest

from distil_explorer.session import BuildRequest
from distil_explorer.views.attribution_panel import TARGETS
from distil_explorer.views.view_state import Shown, ViewState, reconcile
from tests.factories import write_task_preset
from tests.views.test_explorer_state import displayed

HOSTILE = ("<b>neg</b>", "pos & co")


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer_tasks")
    return {
        "classifier": write_task_preset(root / "classifier", "classifier", 3, HOSTILE),
        "masked_lm": write_task_preset(root / "masked_lm", "masked_lm", 4),
    }


def test_a_classifier_shows_its_head_classes_and_targets(app, presets):
    app.build(BuildRequest(str(presets["classifier"])))
    head = "text classifier head: 2 classes (&lt;b&gt;neg&lt;/b&gt;, pos &amp; co)"
    assert head in app.status.value and head in app.build_panel.status.value
    picker = app.attribution_panel.target
    assert picker.options == (
        *TARGETS,
        ("class <b>neg</b>", "class:0"),
        ("class pos & co", "class:1"),
    )
    app.run_panel.button.click()
    bars = app.run_panel.classes.value
    top = app.session.classes.top(0)
    assert f"{top[0][1]:.3f}" in bars and f"{top[1][1]:.3f}" in bars
    assert "&lt;b&gt;neg&lt;/b&gt;" in bars and "<b>neg</b>" not in bars
    assert id(app.run_panel.classes) in displayed(app)
    # The run jumps to the Attention tab: the status line says the verdict.
    name = {"<b>neg</b>": "&lt;b&gt;neg&lt;/b&gt;", "pos & co": "pos &amp; co"}
    said = f"Classifier: <b>{name[top[0][0]]}</b> ({top[0][1]:.1%}"
    assert said in app.status.value
    picker.value = "class:1"
    app.attribution_panel.method.value = "gradient_x_input"
    app.attribution_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert "pos &amp; co logit" in app.attribution_panel.status.value
    app.run_panel.button.click()  # a new Trace of the same head keeps the choice
    assert picker.value == "class:1"
    app.build()  # the backbone-only fixture: the head and its targets go
    assert picker.options == TARGETS and picker.value == "cls_norm"
    assert app.attention_panel.lens.widget.layout.display == "none"
    assert "head" not in app.status.value.split("heads")[-1]
    app.run()
    assert app.run_panel.classes.value == ""
    assert "Classifier" not in app.status.value


def test_mask_token_shows_a_masked_lms_predictions_for_it(app, presets, tmp_path):
    app.build(BuildRequest(str(presets["masked_lm"])))
    assert "masked-LM head tied to the token embedding" in app.status.value
    assert app.attribution_panel.target.options[-1][1] == "original_token"
    app.run()
    panel = app.attention_panel
    lens = panel.lens  # Predictions by layer, below the canvas
    assert lens.shown is app.session.lens and lens.widget.layout.display is None
    assert id(lens.widget) in displayed(app)
    panel.canvas.selected_token = 2  # "cat"
    panel.mask_button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert lens.shown is app.session.lens and "[MASK]" in lens.grid.value
    shown = panel.predictions.value
    assert "Predictions for the masked token" in shown and "&#x27;cat&#x27;" in shown
    for _token, probability in app.session.predictions_at(2).top(0):
        assert f"{probability:.3f}" in shown
    assert id(panel.predictions) in displayed(app)
    app.attribution_panel.target.value = "original_token"
    app.attribution_panel.method.value = "gradient_x_input"
    app.attribution_panel.button.click()  # at the pinned token
    assert not app.errors_shown(), app.errors_shown()
    cat = app.session.tokenizer.token_to_id("cat")
    assert f"log p(token {cat} at 2)" in app.attribution_panel.status.value
    written = app.export(str(tmp_path / "lens.png"), "predictions by layer")
    assert written.read_bytes().startswith(b"\x89PNG")
    panel.restore_button.click()
    assert panel.predictions.value == ""
    panel.canvas.selected_token = -1
    app.attribution_panel.button.click()
    assert "position=None" in app.attribution_panel.error.message


def test_compare_shows_a_base_a_and_a_classifier_b(app, presets):
    app.build()
    app.run()
    app.keep_as_a()
    assert app.compare_panel.classes.value == ""
    app.build(BuildRequest(str(presets["classifier"])))
    app.run()
    shown = app.compare_panel.classes.value
    assert "<b>A</b>: no classifier head" in shown
    assert "pos &amp; co" in shown and app.compare_panel.b is app.trace
    assert id(app.compare_panel.classes) in displayed(app)


def test_reconcile_drops_a_task_target_when_the_head_changes():
    two = (("class a", "class:0"), ("class b", "class:1"))
    other = (("class x", "class:0"), ("class y", "class:1"))
    state = reconcile(ViewState(), Shown(task_targets=two))
    state = state.replace(attribution_target="class:1")
    run = dict(layers=(0,), heads=(0,), tokens=("a",), batch=1, trace=1)
    kept = reconcile(state, Shown(task_targets=two, **run))
    assert kept.attribution_target == "class:1"
    for shown in (Shown(task_targets=other), Shown(), Shown(**run)):
        assert reconcile(state, shown).attribution_target == "cls_norm"
    similar = state.replace(attribution_target="similarity")
    assert reconcile(similar, Shown()).attribution_target == "similarity"
