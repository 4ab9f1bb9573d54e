"""The HTML report: widget-free, and its canvas starts from the widget's payload.

`report()` and `AttentionWidget` both encode through `views/canvas_state.py`;
these tests check that the report needs no widget library and that, for the
same Trace and choices, the page's embedded state is byte for byte what the
widget syncs.
"""

import base64
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from distil_explorer.trace import Trace
from distil_explorer.views import canvas_state as payload
from distil_explorer.views import report as report_module

LAYERS, BATCH, HEADS, LENGTH = 3, 2, 3, 6
# What the canvas reads (attention.js) and both sides compute.
PAYLOAD = (
    "tokens",
    "maps",
    "maps_shape",
    "head_map",
    "head_map_of",
    "head_maps",
    "head_maps_scale",
    "head_maps_heads",
    "head_maps_layer",
    "view_map",
    "view_map_of",
    "index",
    "layer",
    "head",
    "visible_heads",
    "aggregate",
    "mode",
    "layers",
    "heads",
    "num_layers",
    "num_heads",
)
BYTES = {"maps", "head_map", "head_maps", "head_maps_scale", "view_map"}


def make_trace(seed=0) -> Trace:
    """Random softmax attention; row 1 has its last 2 positions padded."""
    rng = np.random.default_rng(seed)
    mask = np.ones((BATCH, LENGTH), dtype=np.int32)
    mask[1, LENGTH - 2 :] = 0
    logits = 2 * rng.normal(size=(LAYERS, BATCH, HEADS, LENGTH, LENGTH))
    weights = np.exp(logits) * mask[None, :, None, None, :]
    return Trace(
        hidden_states=rng.normal(size=(LAYERS + 1, BATCH, LENGTH, 4)),
        attentions=weights / weights.sum(-1, keepdims=True),
        token_ids=rng.integers(0, 50, size=(BATCH, LENGTH)),
        padding_mask=mask,
        config={"num_heads": HEADS},
        backend="numpy",
        device="cpu",
        tokens=[[f"w{b}_{i}" for i in range(LENGTH)] for b in range(BATCH)],
    )


def embedded_state(path) -> dict:
    data = re.search(r"const data = (\{.*?\});\n", path.read_text()).group(1)
    return json.loads(data.replace("<\\/", "</"))["state"]


def decoded(state: dict) -> dict:
    return {
        name: base64.b64decode(state[name]) if name in BYTES else state[name]
        for name in PAYLOAD
    }


CHOICES = [
    {},
    {"index": 1, "layer": 2, "head": 1},
    {"index": 1, "layer": 1, "head": 2, "visible_heads": [0, 2]},
    {"layer": 1, "head": 0, "visible_heads": [0, 1], "aggregate": "mean_heads"},
    {"index": 1, "head": 2, "visible_heads": [1, 2], "aggregate": "mean_layers"},
]


@pytest.mark.parametrize("choices", CHOICES, ids=lambda c: ",".join(c) or "default")
def test_the_report_embeds_the_widgets_payload_byte_for_byte(
    tmp_path, monkeypatch, choices
):
    pytest.importorskip("anywidget")
    from distil_explorer.views.attention_widget import AttentionWidget

    trace = make_trace()
    monkeypatch.setattr(report_module, "_figures", lambda *args: [])  # no PNGs
    path = report_module.report(trace, tmp_path / "r.html", **choices)
    page = decoded(embedded_state(path))
    widget = AttentionWidget.from_trace(trace, **choices)
    synced = {name: getattr(widget, name) for name in PAYLOAD}
    for name in PAYLOAD:
        assert page[name] == synced[name], name
    # Not vacuous: the maps the choices name are in it.
    assert len(page["head_maps"]) == HEADS * len(page["tokens"]) ** 2
    assert bool(page["view_map"]) == ("aggregate" in choices)


def test_a_selective_trace_and_the_model_view_agree_too():
    pytest.importorskip("anywidget")
    from distil_explorer.views.attention_widget import AttentionWidget

    part = make_trace(seed=3).select(layers=[0, 2], heads=[1, 2])
    for options in ({"mode": "model"}, {"aggregate": "mean_layers", "layer": 2}):
        state = payload.canvas_state(part, index=1, **options)
        widget = AttentionWidget.from_trace(part, index=1, **options)
        for name in PAYLOAD:
            assert state[name] == getattr(widget, name), (options, name)
    assert state["layers"] == [0, 2] and state["view_map_of"] == "mean_layers:1,2"


def test_long_inputs_embed_the_widgets_head_maps_of_every_layer(tmp_path, monkeypatch):
    """In uint8 mode the page cuts head_maps out of the embedded bytes: they
    are the widget's, layer by layer, and their scales too."""
    monkeypatch.setattr(report_module, "UINT16_VALUES", 0)
    monkeypatch.setattr(report_module, "_figures", lambda *args: [])
    trace = make_trace(seed=1)
    state = embedded_state(report_module.report(trace, tmp_path / "r.html", index=1))
    assert (state["head_maps"], state["head_maps_layer"]) == ("", -1)  # not twice
    values = base64.b64decode(state["all_maps"])
    real = payload.real_positions(trace, 1)
    per_layer = HEADS * len(real) ** 2
    for k, layer in enumerate(trace.attention_layers):
        maps = payload.layer_maps(trace, layer, 1, real, list(trace.attention_heads))
        sent = payload.layer_payload(maps, layer, list(trace.attention_heads))
        assert values[k * per_layer : (k + 1) * per_layer] == sent["head_maps"]
        top = np.float32(state["all_scale"][k * HEADS : (k + 1) * HEADS])
        assert top.tobytes() == sent["head_maps_scale"]


def test_canvas_state_refuses_choices_the_widget_could_not_show():
    trace = make_trace()
    with pytest.raises(ValueError, match=r"head=1: not among visible_heads=\[0, 2\]"):
        payload.canvas_state(trace, head=1, visible_heads=[0, 2])
    with pytest.raises(ValueError, match=r"visible_heads=\[5\]: allowed"):
        payload.canvas_state(trace, visible_heads=[5])
    with pytest.raises(ValueError, match=r"aggregate='sum': allowed"):
        payload.canvas_state(trace, aggregate="sum")
    with pytest.raises(ValueError, match=r"layer=7"):
        payload.canvas_state(trace, layer=7)
    with pytest.raises(ValueError, match=r"index=2: out of range"):
        payload.canvas_state(trace, index=2)
    # head None: the visible head nearest the first held, as the widget picks.
    assert payload.canvas_state(trace, visible_heads=[2, 1])["head"] == 1


_NO_WIDGETS = """
import sys
from pathlib import Path
if sys.argv[1] == "blocked":
    for name in ("anywidget", "ipywidgets", "traitlets"):
        sys.modules[name] = None  # import raises ImportError
sys.path.insert(0, sys.argv[3])
from tests.views.test_report import make_trace
from distil_explorer.views.report import report

path = report(make_trace(), Path(sys.argv[2]), index=1, aggregate="mean_heads")
loaded = [m for m in sys.modules if m.split(".")[0] in
          ("anywidget", "ipywidgets", "traitlets") and sys.modules[m] is not None]
print("loaded:", loaded, "size:", path.stat().st_size)
"""


@pytest.mark.parametrize("how", ["blocked", "free"])
def test_report_needs_and_imports_no_widget_library(tmp_path, how):
    pytest.importorskip("matplotlib")
    root = str(__import__("pathlib").Path(__file__).parents[2])
    out = tmp_path / "r.html"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_NO_WIDGETS), how, str(out), root],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout
    state = embedded_state(out)
    assert state["view_map_of"] == "mean_heads:0:0,1,2"
    assert "<img alt='Hidden states across layers'" in out.read_text()
