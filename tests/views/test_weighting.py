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

from distil_explorer.views.attention_widget import AttentionWidget
from distil_explorer.views.payload import decoded, trace_payload
from distil_explorer.views.plots import plot_head, plot_model_view
from distil_explorer.views.report import report
from distil_explorer.views.weighting import weighted
from tests.views.test_attention_widget import (
    expected_head,
    head_map,
    make_trace,
    payload_of,
    with_norms,
)


@pytest.fixture
def normed():
    return with_norms(make_trace())


def test_the_widget_switches_every_payload_to_the_norms(normed):
    widget = AttentionWidget.from_trace(normed, index=1, layer=2, head=1)
    assert widget.has_norms and widget.weighting == "weights"
    weights_thumbs = widget.small
    widget.set_state({"weighting": "norms"})  # the bar's "Norm-weighted"
    norms = weighted(normed, "norms")
    maps = norms.attentions[:, 1][..., :4, :4]  # padding of row 1 dropped
    data = decoded(payload_of(widget))
    np.testing.assert_allclose(data.maps, maps, atol=maps.max() / 500)
    assert widget.payload_info["weighting"] == "norms"
    assert widget.small != weights_thumbs  # the model view's thumbnails too
    assert widget.view_label() == "layer 2, head 1 (norm-weighted)"
    widget.set_state({"weighting": "weights"})
    expected = expected_head(normed, 2, 1, 1)
    np.testing.assert_allclose(head_map(widget), expected, atol=expected.max() / 500)


def test_norms_are_refused_without_them_and_reset_by_a_trace_without(
    normed, monkeypatch
):
    plain = make_trace(seed=3)
    widget = AttentionWidget.from_trace(plain)
    monkeypatch.setattr(widget, "send_state", lambda key=None: None)
    before = widget.maps
    widget.set_state({"weighting": "norms"})
    assert (widget.weighting, widget.maps) == ("weights", before)
    assert widget.notice.startswith("Ignored weighting='norms': this Trace has no")
    with pytest.raises(ValueError, match=r"weighting='norms'.*allowed: 'weights'"):
        widget.weighting = "norms"
    widget.set_trace(normed)
    widget.weighting = "norms"
    widget.set_trace(plain)  # no norms: back to the weights, drawn from them
    assert (widget.weighting, widget.has_norms) == ("weights", False)
    assert widget.payload_info["weighting"] == "weights"
    np.testing.assert_allclose(
        head_map(widget), expected_head(plain, 0, 0, 0), atol=2e-3
    )


def test_the_payload_holds_the_chosen_maps(normed):
    data = decoded(trace_payload(normed, index=1, weighting="norms"))
    norms = weighted(normed, "norms")
    expected = expected_head(norms, 1, 1, 0)
    np.testing.assert_allclose(data.maps[1, 0], expected, atol=expected.max() / 500)
    with pytest.raises(ValueError, match=r"weighting='both': allowed"):
        trace_payload(normed, weighting="both")


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


def _page(path) -> dict:
    page = path.read_text()
    script = re.search(r"const data = (\{.*?\});\n", page, re.S).group(1)
    return json.loads(script)


def test_the_report_embeds_the_norms_and_opens_on_the_choice(normed, tmp_path):
    path = report(normed, tmp_path / "r.html", weighting="norms")
    page = _page(path)
    assert page["state"]["weighting"] == "norms" and page["state"]["has_norms"]
    norms = page["payloads"]["norms"]
    payload = {
        k: base64.b64decode(norms[k])
        if k
        in (
            "maps",
            "maps_scale",
            "small",
            "small_scale",
            "layer_mean",
            "layer_mean_scale",
        )
        else norms[k]
        for k in norms
    }
    maps = normed.attention_norms[:, 0]
    np.testing.assert_allclose(decoded(payload).maps, maps, atol=maps.max() / 500)
    assert "Every layer and head, norm-weighted" in path.read_text()
    plain = report(make_trace(), tmp_path / "p.html")
    assert set(_page(plain)["payloads"]) == {"weights"}
    with pytest.raises(ValueError, match=r"weighting='norms': this Trace has no"):
        report(make_trace(), tmp_path / "x.html", weighting="norms")
    assert not (tmp_path / "x.html").exists()
