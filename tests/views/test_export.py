import numpy as np
import pytest

from distil_explorer import capture, parameter_table
from distil_explorer.corpus import CorpusStatistics
from distil_explorer.corpus.sums import batch_sums
from distil_explorer.views.export import VIEWS, export_view
from tests.conftest import tiny_inputs
from tests.views.test_attribution_views import _attribution
from tests.views.test_causal_views import _patching
from tests.views.test_lens_views import make_lens


@pytest.mark.parametrize("view", [v for v in VIEWS if v != "parameters"])
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_every_view_exports_as_png_and_svg(
    tiny_backbone, tiny_trace, tmp_path, view, suffix
):
    trace = capture(tiny_backbone, tiny_inputs(), keep_qk=True)
    no_classes = np.zeros((*trace.token_ids.shape, 3), np.float32)
    sums = batch_sums(trace.attentions, trace.padding_mask, no_classes, [0, 1])
    options = {
        "query/key": {"query": 1, "key": 2},
        "compare": {"other": tiny_trace, "labels": ("A", "B")},
        "corpus": {"corpus": CorpusStatistics(sums, {})},
        "attribution": {"attribution": _attribution()},
        "patching": {"patching": _patching()},
        "heads": {"importance": np.arange(4.0).reshape(2, 2)},
        "predictions by layer": {"lens": make_lens(length=7, batch=2)},
    }.get(view, {})
    path = export_view(tmp_path / f"v{suffix}", trace, view, layer=1, head=1, **options)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data


def test_the_report_export_takes_the_attribution(tiny_trace, tmp_path):
    page = export_view(tmp_path / "a.html", tiny_trace, attribution=_attribution())
    assert "Token attribution" in page.read_text()


def test_parameters_and_report_export(tiny_trace, tiny_backbone, tmp_path):
    rows = parameter_table(tiny_backbone)
    assert (
        b"<svg"
        in export_view(tmp_path / "p.svg", None, "parameters", rows=rows).read_bytes()
    )
    page = export_view(tmp_path / "all.html", tiny_trace, rows=rows).read_text()
    assert "localModel" in page


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "x.jpg"}, r"allowed: a name ending in \.png, \.svg, \.html"),
        ({"view": "nope"}, "view='nope'"),
        ({"view": "parameters"}, "rows: needed"),
        ({"layer": 9}, "layer=9"),
        ({"view": "query/key"}, "query, key: needed for the query/key view"),
        ({"view": "compare"}, "other: needed for the compare view"),
        ({"view": "corpus"}, "corpus: needed for the corpus view"),
        ({"view": "predictions by layer"}, "lens: none yet"),
    ],
)
def test_bad_exports_are_refused_and_write_nothing(
    tiny_trace, tmp_path, kwargs, message
):
    path = tmp_path / kwargs.pop("path", "x.png")
    with pytest.raises(ValueError, match=message):
        export_view(path, tiny_trace, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_selective_trace_exports_labelled_by_model_indices(tiny_trace, tmp_path):
    import json
    import re

    part = tiny_trace.select(layers=[1], heads=[1])
    page = export_view(tmp_path / "part.html", part).read_text()
    data = json.loads(re.search(r"const data = (\{.*?\});\n", page).group(1))
    state, payload = data["state"], data["payloads"]["weights"]
    assert (payload["layers"], payload["heads"]) == ([1], [1])
    assert payload["payload_info"]["maps_layers"] == [1]
    assert (state["layer"], state["head"]) == (1, 1)
    png = export_view(tmp_path / "head.png", part, "head", layer=1, head=1)
    assert png.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match=r"layer=0: not in this Trace"):
        export_view(tmp_path / "no.png", part, "head", layer=0, head=1)
    assert not (tmp_path / "no.png").exists()


def test_the_head_view_export_is_the_canvas_scene_at_twice_the_pixels(
    tiny_trace, tmp_path
):
    from PIL import Image

    from distil_explorer.views.contract import head_colour
    from distil_explorer.views.payload import shown_of
    from distil_explorer.views.view_state import ViewState, changed, reconcile
    from tests.factories import pixels_of_colour

    state = reconcile(ViewState(), shown_of(tiny_trace, 0, 1))
    state = changed(state, layer=1, selected_token=1)  # every head, one pin
    path = export_view(tmp_path / "head_view.png", tiny_trace, "head", state=state)
    image = Image.open(path).convert("RGB")
    assert image.width >= 1600  # a 10-inch figure at 2 x 100 dpi, less margins
    for head in tiny_trace.attention_heads:  # each head's colour is drawn
        assert pixels_of_colour(image, head_colour(head)) > 20, head
    assert pixels_of_colour(image, head_colour(2)) < 5  # a head it does not have
    heat = export_view(
        tmp_path / "h.svg",
        tiny_trace,
        "head",
        state=state.replace(draw_style="heatmap"),
    ).read_text()
    assert "layer 1, head 0" in heat and "<svg" in heat
