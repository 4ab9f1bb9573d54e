"""The Attribution tab, plot_attribution and the report's attribution, drawn
from hand-made Attributions and clicked through the displayed widget tree."""

import numpy as np
import pytest

from distil_explorer.attribution import Attribution
from distil_explorer.views.attribution_plots import (
    attribution_html,
    plot_attribution,
    score_colours,
)


def _attribution(scores=(0.0, 0.5, -0.25, 0.0, 0.0)):
    scores = np.array([scores], "float32")
    mask = np.array([[1, 1, 1, 1, 0]], "int32")
    return Attribution(
        scores=scores,
        method="integrated_gradients",
        target_value=np.array([1.5]),
        baseline_value=np.array([1.0]),
        token_ids=np.array([[2, 7, 8, 3, 0]]),
        padding_mask=mask,
        tokens=(("[CLS]", "cat", "<sat>", "[SEP]", "[PAD]"),),
        target="[CLS] norm",
    )


def test_colours_are_white_at_zero_and_scaled_to_the_largest_score():
    assert score_colours(np.array([1.0, 0.0, -0.5])) == [
        "#d62728",
        "#ffffff",
        "#8fbbda",
    ]
    assert score_colours(np.zeros(3)) == ["#ffffff"] * 3  # no division by zero


def test_the_strip_shows_real_tokens_escaped_with_their_scores():
    page = attribution_html(_attribution())
    assert page.count("de-attribution-token") == 4  # padding is not drawn
    assert "&lt;sat&gt;" in page and "[PAD]" not in page
    assert 'title="+0.5"' in page and 'title="-0.25"' in page
    assert "delta -0.25" in page  # 0.25 - (1.5 - 1.0)


def test_plot_attribution_draws_one_bar_per_real_token():
    figure = plot_attribution(_attribution())
    ax = figure.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx([0.0, 0.5, -0.25, 0.0])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["[CLS]", "cat", "<sat>", "[SEP]"]
    with pytest.raises(ValueError, match="index=1"):
        plot_attribution(_attribution(), index=1)


def test_the_report_includes_the_attribution(tiny_trace, tmp_path):
    from distil_explorer.views.report import report

    page = report(tiny_trace, tmp_path / "r.html", attribution=_attribution())
    text = page.read_text()
    assert "Token attribution" in text and text.count("de-attribution-token") == 4
    plain = report(tiny_trace, tmp_path / "plain.html").read_text()
    assert "Token attribution" not in plain


def test_the_tab_attributes_the_trace_on_screen_and_forgets_it_on_a_new_run(
    app, tmp_path
):
    from distil_explorer.views.explorer import TABS
    from tests.views.test_explorer_state import displayed

    panel = app.attribution_panel
    assert id(panel.button) in displayed(app) and id(panel.steps) in displayed(app)
    assert panel.button.disabled  # nothing run yet
    app.build_panel.button.click()
    app.run_panel.button.click()
    panel.target.value = "similarity"
    assert panel.other_text.layout.display is None  # the second text box shows
    panel.other_text.value = "the cat"
    panel.steps.value = 4
    panel.button.click()
    assert not app.errors_shown(), app.errors_shown()
    shown = app.session.attribution
    assert shown is panel.shown and shown.method == "integrated_gradients"
    assert shown.steps == 4 and "similarity" in shown.target
    assert panel.strip.value.count("de-attribution-token") == len(shown.real_tokens())
    assert panel.chart.value  # the bar chart is drawn
    # Export the tab's view, then a new run makes the attribution stale.
    app.tabs.selected_index = TABS.index("Attribution")
    assert app.export_bar.view.value == "attribution"
    app.export_bar.name.value = str(tmp_path / "attribution.png")
    app.export_bar.button.click()
    assert (tmp_path / "attribution.png").read_bytes().startswith(b"\x89PNG")
    app.run_panel.text.value = "the cat"
    app.run_panel.button.click()
    assert app.session.attribution is None and panel.shown is None
    assert panel.strip.value == ""


def test_a_similarity_without_a_second_text_is_named(app):
    app.build_panel.button.click()
    app.run_panel.button.click()
    panel = app.attribution_panel
    panel.target.value, panel.other_text.value = "similarity", "  "
    panel.button.click()
    assert "other_text" in panel.error.message and panel.shown is None
    assert app.errors_shown() == [panel.error.message]  # beside its button only
