"""Feedback where the action is: errors beside their button, what cannot work
disabled with its reason on screen, progress in the tab that works, and the
precision comparison laid out table by table."""

from distil_explorer.session.inputs import count_tokens
from distil_explorer.views.attention_panel import summary_table
from distil_explorer.views.build_panel import CUSTOM


def _custom(app):
    panel = app.build_panel
    panel.preset.value = CUSTOM
    panel.fields["vocabulary_size"].value = 64
    panel.fields["max_sequence_length"].value = 16
    panel.fields["hidden_dim"].value = 8
    panel.fields["intermediate_dim"].value = 16
    panel.fields["num_heads"].value = 2
    panel.fields["num_layers"].value = 2
    panel.button.click()


def test_attribute_is_off_on_a_bfloat16_build_and_says_why(app):
    app.build_panel.precision.value = "bfloat16"
    app.build_panel.button.click()
    panel = app.attribution_panel
    assert panel.button.disabled and "bfloat16" in panel.status.value
    app.run_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    assert panel.button.disabled and "bfloat16" in panel.status.value
    assert "run some text" not in panel.status.value
    # Back at float32: on after a run, and no stale "run some text first".
    app.build_panel.precision.value = "float32"
    app.build_panel.button.click()
    assert panel.button.disabled and "run some text first" in panel.status.value
    app.run_panel.button.click()
    assert not panel.button.disabled and panel.status.value == ""


def test_without_a_tokenizer_corpus_and_mask_are_off_with_a_reason(app):
    _custom(app)
    corpus = app.corpus_panel
    assert corpus.button.disabled and "need text" in corpus.status.value
    app.run_panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    attention = app.attention_panel
    assert "Mask token is off" in attention.token.value
    attention.canvas.selected_token = 1
    assert attention.mask_button.disabled and not attention.remove_button.disabled
    assert "Mask token is off" in attention.token.value


def test_run_says_it_is_running_in_its_tab_and_how_much_was_cut(app, monkeypatch):
    app.build_panel.button.click()
    panel = app.run_panel
    seen = []
    real_run = app.session.run

    def watched(**request):
        seen.append((panel.progress.bar.layout.display, panel.progress.text.value))
        return real_run(**request)

    monkeypatch.setattr(app.session, "run", watched)
    panel.max_length.value = 6
    panel.text.value = "the cat sat on the mat and the dog sat on it"
    panel.button.click()
    assert len(seen) == 1 and seen[0][0] is None  # the bar shows while it runs
    assert seen[0][1].startswith("running on ") and seen[0][1].endswith(" ...")
    assert panel.progress.bar.layout.display == "none"  # gone when done
    total = count_tokens(panel.text.value, app.session.tokenizer)
    assert total > 6
    assert f"6 of {total} tokens" in panel.status.value
    panel.max_length.value = 32
    panel.button.click()
    assert "Cut at max length" not in panel.status.value


def test_precisions_leave_out_the_one_on_screen_and_report_progress(app):
    app.build_panel.precision.value = "bfloat16"
    app.build_panel.button.click()
    compare = app.compare_panel
    assert "bfloat16" not in compare.precisions.options
    assert "float32" in compare.precisions.options
    assert compare.precisions.value == ("int8",)  # the default, less bfloat16
    app.run_panel.button.click()
    steps = []
    result = app.session.compare_precisions(
        ("float32", "int8"), progress=lambda *step: steps.append(step)
    )
    assert result.precisions == ("float32", "int8")
    assert steps == [
        ("running at float32", 0, 2),
        ("running at int8", 1, 2),
        ("compared", 2, 2),
    ]
    compare.precisions.value = ("float32",)
    compare.precision_button.click()
    assert not app.errors_shown(), app.errors_shown()
    table = compare.precision_table.value
    assert "float32 against the run on screen (bfloat16)" in table
    assert compare.precision_progress.bar.layout.display == "none"


def test_each_summary_table_keeps_its_title_in_one_block():
    import numpy as np

    html = summary_table(np.ones((1, 2)), "mean |A - B| per head")
    assert html.startswith("<div class='de-summary'><b>mean |A - B| per head</b>")
    assert html.endswith("</table></div>")


def test_errors_clear_on_the_next_action_but_not_on_a_tab_switch(app):
    app.compare_panel.keep_button.click()  # no run yet: an error beside it
    assert app.errors_shown() and app.compare_panel.keep_error.message
    app.tabs.selected_index = 3
    assert app.compare_panel.keep_error.message  # still there to read
    app.build_panel.button.click()
    assert app.errors_shown() == []


def test_attribute_shows_progress_in_its_tab(app, monkeypatch):
    app.build_panel.button.click()
    app.run_panel.button.click()
    panel = app.attribution_panel
    seen = []
    real = app.session.attribute

    def watched(**request):
        seen.append((panel.progress.bar.layout.display, panel.progress.text.value))
        return real(**request)

    monkeypatch.setattr(app.session, "attribute", watched)
    panel.steps.value = 4
    panel.button.click()
    assert seen == [(None, "attributing with integrated gradients, 4 steps ...")]
    assert panel.progress.bar.layout.display == "none" and panel.shown is not None


def test_the_effect_table_says_removing_and_masking():
    import types

    import numpy as np

    from distil_explorer.views.attention_panel import effect_html

    for action, doing in (("remove", "removing"), ("mask", "masking")):
        effect = types.SimpleNamespace(
            action=action,
            attention_change=np.zeros((1, 2)),
            hidden_cosine=np.ones((2, 3)),
        )
        assert f"after {doing} &#x27;it&#x27;" in effect_html(effect, "it")
