"""The standalone HTML report in Chromium, from file://: it opens offline on
the view state it was written with, its canvas (the widget's own module)
decodes the embedded payload (uint8 per map with its maximum), and serves the
full head view: head picking, the overlay and both mean views, computed in
the page."""

import json
import re

import numpy as np

from distil_explorer.trace import Trace
from distil_explorer.views import report as report_module
from distil_explorer.views.contract import LAYOUT
from distil_explorer.views.payload import shown_of
from distil_explorer.views.view_state import ViewState, changed, reconcile
from tests.ui.conftest import CANVAS_DIGEST, cell_center, chromium

LAYERS, HEADS, LENGTH = 2, 3, 5


def _trace() -> Trace:
    rng = np.random.default_rng(7)
    logits = 3 * rng.normal(size=(LAYERS, 1, HEADS, LENGTH, LENGTH))
    weights = np.exp(logits)
    return Trace(
        hidden_states=rng.normal(size=(LAYERS + 1, 1, LENGTH, 4)),
        attentions=weights / weights.sum(-1, keepdims=True),
        token_ids=np.arange(LENGTH)[None],
        padding_mask=np.ones((1, LENGTH)),
        config={"num_heads": HEADS},
        backend="numpy",
        device="cpu",
        tokens=[[f"w{i}" for i in range(LENGTH)]],
    )


def test_the_report_page_draws_the_clicked_head_from_its_map(needs_browser, tmp_path):
    trace = _trace()
    path = report_module.report(trace, tmp_path / "report.html")
    data = json.loads(re.search(r"const data = (\{.*?\});\n", path.read_text())[1])
    assert data["payloads"]["weights"]["payload_info"]["maps_layers"] == [0, 1]
    requests, errors = [], []
    with chromium(viewport={"width": 1000, "height": 800}) as context:
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.locator(".da-bar [data-mode=model]").click()
        canvas = page.locator(".distil-attention canvas")
        canvas.click(position=cell_center(layer=1, head=2))
        page.locator(".da-title", has_text="layer 1, head 2").wait_for()
        page.locator(".da-bar [data-style=heatmap]").click()
        # Hover cell (query 3, key 1): the status line reads the decoded weight.
        box = canvas.bounding_box()
        label = _label_width(page)
        cell = (box["width"] - 2 - label) / LENGTH
        page.mouse.move(box["x"] + label + 1.5 * cell, box["y"] + label + 3.5 * cell)
        status = page.locator(".da-status").inner_text()
    expected = trace.attentions[1, 0, 2, 3, 1]
    shown = float(status.rsplit(":", 1)[1])
    step = trace.attentions[1, 0, 2].max() / 255
    assert abs(shown - expected) <= step / 2 + 5e-5, (status, expected)
    assert errors == [], errors
    # The page and its inlined modules only: nothing from the network.
    assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests


def test_the_report_page_overlays_picked_heads_and_draws_both_means(
    needs_browser, tmp_path
):
    trace = _trace()
    path = report_module.report(trace, tmp_path / "report.html")
    attn = trace.attentions[:, 0]  # (layers, heads, n, n), no padding
    step = attn.max() / 255
    errors = []
    with chromium(viewport={"width": 1000, "height": 800}) as context:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        canvas = page.locator(".distil-attention canvas")
        title = page.locator(".da-title")

        def shows(text: str) -> dict:
            # One draw sets the title, the bar, the canvas and the status.
            page.locator(".da-title", has_text=text).wait_for()
            assert "loading" not in page.locator(".da-status").inner_text()
            return canvas.evaluate(CANVAS_DIGEST)

        every = shows("layer 0, heads 0\u20132 overlaid (3 of 3)")
        assert every["inked"] > 0
        # Head 2 off: the overlay loses its lines, so every head was drawn.
        page.locator(".da-heads [data-head='2']").click()
        # The same draw that unpresses the swatch redraws the canvas.
        page.locator(".da-heads [data-head='2'][aria-pressed=false]").wait_for()
        two = shows("layer 0, heads 0\u20131 overlaid (2 of 3)")
        assert two["hash"] != every["hash"]
        page.locator(".da-bar [data-aggregate=mean_heads]").click()
        mean = shows("mean over heads 0\u20131 of layer 0 \u00b7 5 tokens")
        assert mean["inked"] > 0 and mean["hash"] not in (two["hash"], every["hash"])
        page.locator(".da-bar [data-style=heatmap]").click()
        page.locator(".da-bar [data-style=heatmap].da-on").wait_for()
        shows("mean over heads 0\u20131 of layer 0")
        read = {"layer 0": _hover_weight(page, canvas, 3, 1)}
        page.locator(".da-bar [data-pick=layer]").select_option("1")
        shows("mean over heads 0\u20131 of layer 1")
        read["layer 1"] = _hover_weight(page, canvas, 3, 1)
        page.locator(".da-bar [data-aggregate=mean_layers]").click()
        shows("mean over layers 0\u20131 \u00d7 heads 0\u20131 (4 maps)")
        read["layers"] = _hover_weight(page, canvas, 3, 1)
        assert title.inner_text().endswith("5 tokens")
    expected = {
        "layer 0": attn[0, :2, 3, 1].mean(),
        "layer 1": attn[1, :2, 3, 1].mean(),
        "layers": attn[:, :2, 3, 1].mean(),
    }
    for what, value in read.items():
        assert abs(value - expected[what]) <= step / 2 + 5e-5, (what, read, expected)
    assert errors == [], errors


def _hover_weight(page, canvas, query: int, key: int) -> float:
    """The weight the status line reads over heatmap cell (query, key)."""
    box = canvas.bounding_box()
    label = _label_width(page)
    cell = (box["width"] - 2 - label) / LENGTH
    page.mouse.move(box["x"] + 1, box["y"] + 1)
    page.mouse.move(
        box["x"] + label + (key + 0.5) * cell, box["y"] + label + (query + 0.5) * cell
    )
    status = page.locator(".da-status").inner_text()
    assert f"w{query} \u2192 w{key}:" in status, status
    return float(status.rsplit(":", 1)[1])


def _label_width(page) -> float:
    """canvas.js's label column: 8 px + the widest token (at least 24)."""
    return page.evaluate(
        """([tokens, px]) => {
          const ctx = document.createElement('canvas').getContext('2d');
          ctx.font = `${px}px sans-serif`;
          return 8 + Math.max(24, ...tokens.map((t) => ctx.measureText(t).width));
        }""",
        [[f"w{i}" for i in range(LENGTH)], LAYOUT["font_px"]],
    )


def test_the_report_page_switches_to_the_norm_weighted_maps(needs_browser, tmp_path):
    # Norms are not in 0..1 (here up to ~4): each map's own maximum decodes them.
    import dataclasses

    plain = _trace()
    lengths = np.random.default_rng(3).uniform(
        0.5, 4.0, size=(LAYERS, 1, HEADS, 1, LENGTH)
    )
    trace = dataclasses.replace(plain, attention_norms=plain.attentions * lengths)
    path = report_module.report(trace, tmp_path / "report.html")
    norms = trace.attention_norms[:, 0]
    step = norms[1, 2].max() / 255
    errors = []
    with chromium(viewport={"width": 1000, "height": 800}) as context:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        canvas = page.locator(".distil-attention canvas")
        page.locator(".da-bar [data-pick=layer]").select_option("1")
        page.locator(".da-bar [data-pick=head]").select_option("2")
        page.locator(".da-bar [data-style=heatmap]").click()
        page.locator(".da-title", has_text="layer 1, head 2").wait_for()
        weight = _hover_weight(page, canvas, 3, 1)
        page.get_by_role("button", name="Norm-weighted", exact=True).click()
        page.locator(".da-title", has_text="norm-weighted").wait_for()
        norm = _hover_weight(page, canvas, 3, 1)
        page.get_by_role("button", name="Attention weights", exact=True).click()
        page.locator(".da-title", has_text="norm-weighted").wait_for(state="detached")
        again = _hover_weight(page, canvas, 3, 1)
    assert abs(norm - norms[1, 2, 3, 1]) <= step / 2 + 5e-5, (norm, norms[1, 2, 3, 1])
    weights = trace.attentions[1, 0, 2]
    weight_step = weights.max() / 255
    assert abs(weight - weights[3, 1]) <= weight_step / 2 + 5e-5
    assert again == weight
    assert errors == [], errors


def test_the_report_opens_on_the_screens_view_and_redraws_on_a_head_click(
    needs_browser, tmp_path
):
    # The state on screen when the report was exported: layer 1, heads 0 and 2
    # overlaid, head 2 focused, token 3 pinned in the key column.
    trace = _trace()
    state = reconcile(ViewState(), shown_of(trace, 0, 1))
    state = changed(
        state,
        layer=1,
        head=2,
        visible_heads=(0, 2),
        selected_token=3,
        selected_side="key",
    )
    path = report_module.report(trace, tmp_path / "report.html", state=state)
    errors = []
    with chromium(viewport={"width": 1600, "height": 1000}) as context:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        canvas = page.locator(".distil-attention canvas")
        title = (
            "layer 1, heads 0, 2 overlaid (2 of 3), each in its colour; head 2 on top"
        )
        page.locator(".da-title", has_text=title).wait_for()
        page.locator(".da-heads [data-head='1'][aria-pressed=false]").wait_for()
        assert (
            "pinned w3 (key: who looks at it)"
            in page.locator(".da-status").inner_text()
        )
        before = canvas.evaluate(CANVAS_DIGEST)
        assert before["width"] >= 600  # the width it is given, not a fixed 160 px link
        page.locator(".da-heads [data-head='1']").click()  # show head 1 too
        page.locator(
            ".da-title", has_text="heads 0\u20132 overlaid (3 of 3)"
        ).wait_for()
        after = canvas.evaluate(CANVAS_DIGEST)
        page.locator(".da-heads [data-head='0']").dblclick()  # head 0 alone
        page.locator(".da-title", has_text="layer 1, head 0 \u00b7 5 tokens").wait_for()
        alone = canvas.evaluate(CANVAS_DIGEST)
    assert len({before["hash"], after["hash"], alone["hash"]}) == 3
    assert errors == [], errors


def test_alti_chosen_by_its_label_draws_the_mixing_map_in_the_page(
    needs_browser, tmp_path
):
    # The report carries ALTI only: its button draws it (and its rollout) in
    # the page; "Value zeroing" is off and says why.
    from tests.factories import random_mixing

    trace = _trace()
    alti = random_mixing(trace, "alti", seed=5)
    path = report_module.report(trace, tmp_path / "report.html", mixing=alti)
    errors = []
    with chromium(viewport={"width": 1000, "height": 800}) as context:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        zeroing = page.get_by_role("button", name="Value zeroing", exact=True)
        assert zeroing.is_disabled()
        assert "not computed when this report" in zeroing.get_attribute("title")
        page.get_by_role("button", name="ALTI", exact=True).click()
        page.locator(".da-bar [data-pick=layer]").select_option("1")
        page.locator(".da-bar [data-style=heatmap]").click()
        title = page.locator(".da-title")
        title.filter(has_text="layer 1 \u00b7 ALTI: how much each token").wait_for()
        assert page.locator(".da-heads").is_hidden()  # no heads to pick
        canvas = page.locator(".distil-attention canvas")
        share = _hover_weight(page, canvas, 3, 1)
        page.get_by_role("button", name="rollout", exact=True).click()
        title.filter(has_text="rollout through layer 1 \u00b7 ALTI").wait_for()
        rolled = _hover_weight(page, canvas, 3, 1)
    expected = alti.per_layer[1, 0]
    assert abs(share - expected[3, 1]) <= expected.max() / 510 + 5e-5
    rollout = alti.rollout[1, 0]
    assert abs(rolled - rollout[3, 1]) <= rollout.max() / 510 + 5e-5
    assert errors == [], errors
