"""The HTML report: widget-free, and its canvas is the widget's, from the same payload.

`report()` and `AttentionWidget` both send `views/payload.py`'s payload and
a `ViewState`; these tests check that the report needs no widget library,
that the page embeds the very bytes the widget syncs, and that it opens on
the state it is given.
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
from distil_explorer.views import report as report_module
from distil_explorer.views.payload import BYTE_FIELDS, PAYLOAD_TRAITS, shown_of
from distil_explorer.views.view_state import ViewState, changed, reconcile

LAYERS, BATCH, HEADS, LENGTH = 3, 2, 3, 6


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


def embedded(path) -> dict:
    data = re.search(r"const data = (\{.*?\});\n", path.read_text()).group(1)
    return json.loads(data)


def page_payload(path, weighting="weights") -> dict:
    payload = embedded(path)["payloads"][weighting]
    return {
        name: base64.b64decode(payload[name]) if name in BYTE_FIELDS else payload[name]
        for name in PAYLOAD_TRAITS
    }


CHOICES = [
    {},
    {"index": 1, "layer": 2, "head": 1},
    {"index": 1, "layer": 1, "head": 2, "visible_heads": [0, 2]},
    {"layer": 1, "head": 0, "visible_heads": [0, 1], "aggregate": "mean_heads"},
    {"index": 1, "head": 2, "visible_heads": [1, 2], "aggregate": "mean_layers"},
]


@pytest.mark.parametrize("choices", CHOICES, ids=lambda c: ",".join(c) or "default")
def test_the_report_embeds_the_widgets_payload_and_choices(
    tmp_path, monkeypatch, choices
):
    pytest.importorskip("anywidget")
    from distil_explorer.views.attention_widget import AttentionWidget

    trace = make_trace()
    monkeypatch.setattr(report_module, "_figures", lambda *args: [])  # no PNGs
    path = report_module.report(trace, tmp_path / "r.html", **choices)
    page = page_payload(path)
    widget = AttentionWidget.from_trace(trace, **choices)
    for name in PAYLOAD_TRAITS:
        assert page[name] == getattr(widget, name), name
    state = embedded(path)["state"]
    for name in ("index", "layer", "head", "visible_heads", "aggregate", "mode"):
        assert state[name] == getattr(widget, name), name
    assert len(page["maps"]) == LAYERS * HEADS * len(page["tokens"]) ** 2


def test_the_report_opens_on_the_state_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "_figures", lambda *args: [])
    trace = make_trace(seed=2)
    state = reconcile(ViewState(), shown_of(trace, 1, 9))
    state = changed(
        state,
        index=1,
        layer=2,
        head=1,
        visible_heads=(1,),
        selected_token=2,
        draw_style="heatmap",
    )
    path = report_module.report(trace, tmp_path / "r.html", state=state)
    page = embedded(path)["state"]
    assert (page["layer"], page["head"], page["visible_heads"]) == (2, 1, [1])
    assert (page["selected_tokens"], page["draw_style"]) == ([2], "heatmap")
    assert page_payload(path)["tokens"] == ["w1_0", "w1_1", "w1_2", "w1_3"]


def test_the_page_escapes_what_could_end_its_script(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "_figures", lambda *args: [])
    import dataclasses

    trace = make_trace()
    words = [list(row) for row in trace.tokens]
    words[0][1] = "</script><b>x</b>"
    trace = dataclasses.replace(trace, tokens=words)
    text = report_module.report(trace, tmp_path / "r.html").read_text()
    script = text[text.index('<script type="module">') :]
    assert "</script><b>" not in script and "\\u003c/script>" in script


def test_opening_state_refuses_choices_the_widget_could_not_show():
    trace = make_trace()
    opening = report_module.opening_state
    with pytest.raises(ValueError, match=r"head=1: not among visible_heads=\[0, 2\]"):
        opening(trace, head=1, visible_heads=[0, 2])
    with pytest.raises(ValueError, match=r"visible_heads=\[5\]: allowed"):
        opening(trace, visible_heads=[5])
    with pytest.raises(ValueError, match=r"aggregate='sum': allowed"):
        opening(trace, aggregate="sum")
    with pytest.raises(ValueError, match=r"layer=7"):
        opening(trace, layer=7)
    # head None: the visible head nearest the first held, as the widget picks.
    assert opening(trace, visible_heads=[2, 1]).head == 1


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
    state = embedded(out)["state"]
    assert state["aggregate"] == "mean_heads" and state["index"] == 1
    assert "<img alt='Hidden states across layers'" in out.read_text()
