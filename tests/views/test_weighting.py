"""The "attention weights" / "norm-weighted" choice in every attention view.

The norm-weighted maps are `Trace.attention_norms`; each view must draw
exactly them (checked against the arrays), refuse them by name where the
Trace has none, and fall back to the weights when a Trace without them
arrives.
"""

import base64
import json
import re

import numpy as np
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("matplotlib")

from distil_explorer.views.attention_widget import AttentionWidget  # noqa: E402
from distil_explorer.views.canvas_state import canvas_state  # noqa: E402
from distil_explorer.views.plots import plot_head, plot_model_view  # noqa: E402
from distil_explorer.views.report import report  # noqa: E402
from distil_explorer.views.weighting import weighted  # noqa: E402
from tests.views.test_attention_widget import (  # noqa: E402
    expected_head,
    head_map,
    layer_bytes,
    make_trace,
    with_norms,
)


@pytest.fixture
def normed():
    return with_norms(make_trace())


def test_the_widget_switches_every_payload_to_the_norms(normed):
    widget = AttentionWidget.from_trace(normed, index=1, layer=2, head=1)
    assert widget.has_norms and widget.weighting == "weights"
    weights_thumbs = widget.maps
    widget.set_state({"weighting": "norms"})  # the bar's "Norm-weighted"
    norms = weighted(normed, "norms")
    np.testing.assert_array_equal(head_map(widget), expected_head(norms, 2, 1, 1))
    maps = norms.attentions[2, 1][:, :4, :4]  # padding of row 1 dropped
    np.testing.assert_allclose(layer_bytes(widget), maps, atol=maps.max() / 500)
    assert widget.maps != weights_thumbs  # the model view's thumbnails too
    assert widget.view_label() == "layer 2, head 1 (norm-weighted)"
    widget.set_state({"aggregate": "mean_heads"})
    n = len(widget.tokens)
    mean = np.frombuffer(widget.view_map, "<f4").reshape(n, n)
    np.testing.assert_allclose(mean, maps.mean(0), rtol=1e-6)
    widget.set_state({"weighting": "weights"})
    np.testing.assert_array_equal(head_map(widget), expected_head(normed, 2, 1, 1))


def test_norms_are_refused_without_them_and_reset_by_a_trace_without(
    normed, monkeypatch
):
    plain = make_trace(seed=3)
    widget = AttentionWidget.from_trace(plain)
    monkeypatch.setattr(widget, "send_state", lambda key=None: None)
    before = widget.head_map
    widget.set_state({"weighting": "norms"})
    assert (widget.weighting, widget.head_map) == ("weights", before)
    assert widget.notice.startswith("Ignored weighting='norms': this Trace has no")
    with pytest.raises(ValueError, match=r"weighting='norms'.*allowed: 'weights'"):
        widget.weighting = "norms"
    widget.set_trace(normed)
    widget.weighting = "norms"
    widget.set_trace(plain)  # no norms: back to the weights, drawn from them
    assert (widget.weighting, widget.has_norms) == ("weights", False)
    np.testing.assert_array_equal(head_map(widget), expected_head(plain, 0, 0, 0))


def test_canvas_state_draws_the_chosen_maps(normed):
    state = canvas_state(normed, index=1, layer=1, head=0, weighting="norms")
    n = 4
    values = np.frombuffer(state["head_map"], "<f4").reshape(n, n)
    norms = weighted(normed, "norms")
    np.testing.assert_array_equal(values, expected_head(norms, 1, 1, 0))
    assert (state["weighting"], state["has_norms"]) == ("norms", True)
    with pytest.raises(ValueError, match=r"weighting='both': allowed"):
        canvas_state(normed, weighting="both")


def test_plots_draw_the_norms_on_their_own_scale(normed):
    figure = plot_head(normed, 1, 0, index=1, weighting="norms")
    image = figure.axes[0].get_images()[0]
    norms = weighted(normed, "norms")
    np.testing.assert_array_equal(image.get_array(), expected_head(norms, 1, 1, 0))
    assert "norm-weighted" in figure.axes[0].get_title()
    model = plot_model_view(normed, 0, weighting="norms")
    top = normed.attention_norms[:, 0].max()
    assert model.axes[0].get_images()[0].get_clim() == (0.0, pytest.approx(top))
    plain = make_trace()
    with pytest.raises(ValueError, match=r"weighting='norms': this Trace has no"):
        plot_head(plain, 0, 0, weighting="norms")
    with pytest.raises(ValueError, match=r"weighting='weight': allowed"):
        plot_model_view(plain, weighting="weight")


def _page_state(path) -> dict:
    page = path.read_text()
    script = re.search(r"const data = (\{.*?\});\n", page, re.S).group(1)
    return json.loads(script.replace("<\\/", "</"))["state"]


def test_the_report_embeds_the_norms_and_opens_on_the_choice(normed, tmp_path):
    path = report(normed, tmp_path / "r.html", weighting="norms")
    state = _page_state(path)
    assert state["weighting"] == "norms" and state["has_norms"]
    norms = state["norms"]
    n = 6  # sequence 0 has no padding
    values = np.frombuffer(base64.b64decode(norms["all_maps"]), "<u2")
    decoded = values.reshape(3, 2, n, n) * norms["all_unit"] / 65535
    np.testing.assert_allclose(
        decoded, normed.attention_norms[:, 0], atol=norms["all_unit"] / 65535
    )
    assert "Every layer and head, norm-weighted" in path.read_text()
    plain = report(make_trace(), tmp_path / "p.html")
    assert "norms" not in _page_state(plain)
    with pytest.raises(ValueError, match=r"weighting='norms': this Trace has no"):
        report(make_trace(), tmp_path / "x.html", weighting="norms")
    assert not (tmp_path / "x.html").exists()
