"""The attention canvas's own bar, head picker and token pins, clicked as a person
clicks them in JupyterLab, with real attention (the packaged all-MiniLM-L6-v2).

Each action is checked by what it visibly changes (the title, the status line,
the legend, the canvas's pixels) and by the widget's traits, read back through
the kernel (a second kernel client, tests/ui/conftest.py's `kernel_client`).
Every bar group has exactly one highlighted button at every step. A second
test looks at long inputs: the heatmap's labels at T=75 and T=512 (cells never
smaller than the font, the box scrolls), and the model view's thumbnails at
T=512 (contrast-normalised: not near blank).

Screenshots go to tests/ui/artifacts/ (head view, heatmap, model view at
T=13, 75 and 512), and the pinned head view also to
$DISTIL_EXPLORER_HEAD_VIEW when set (how docs/head_view.png is made).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import (
    ARTIFACTS,
    CANVAS_DIGEST,
    LAB,
    ROW,
    WAIT_MS,
    browser_missing,
    cell_center,
    chromium,
    jupyter_server,
    kernel_client,
    kernel_value,
    open_and_run_all,
    wait_kernel_value,
)

pytestmark = pytest.mark.browser

TEXT = "The cat sat on the mat because it was tired."
# 75 tokens with [CLS] and [SEP]; eight of it are cut to 512.
LONG = (
    "The old lighthouse keeper climbed the spiral stairs every evening, lit the "
    "great lamp, and watched the ships pass safely through the narrow channel "
    "between the rocks, remembering the storm years ago when the light had "
    "failed and a small fishing boat was lost with all of its crew. Since that "
    "night he has never missed a single evening, not even when he was ill or tired."
)
CELLS = [
    f"""\
import distil_explorer as de
from distil_explorer.views.attention_widget import AttentionWidget

backbone = de.DistilBertBackbone.from_preset("all_minilm_l6_v2_en")
tokenizer = de.DistilBertTokenizer.from_preset("all_minilm_l6_v2_en")
LONG = {LONG!r}
short = de.capture(backbone, {TEXT!r}, tokenizer=tokenizer, norms=True)
mid = de.capture(backbone, LONG, tokenizer=tokenizer)
long = de.capture(backbone, " ".join([LONG] * 8), tokenizer=tokenizer)""",
    "w = AttentionWidget.from_trace(short, layer=2, head=0)\nw",
    'w75 = AttentionWidget.from_trace(mid, layer=2, head=0, draw_style="heatmap")\nw75',
    'w512 = AttentionWidget.from_trace(long, layer=2, head=0, mode="model")\nw512',
]
# Per bar group: how many buttons are highlighted (groups hidden: not counted).
HIGHLIGHTS = """(el) => Object.fromEntries(
  [...el.querySelectorAll('.da-bar [data-group]')].filter((g) => !g.hidden)
    .map((g) => [g.dataset.group, g.querySelectorAll('.da-on').length]))"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab with the notebook run: (page, kernel client, widget outputs)."""
    import nbformat

    reason = browser_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}")
    if reason:
        pytest.skip(reason)

    root = tmp_path_factory.mktemp("head_view")
    cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), root / "head_view.ipynb")
    with (
        jupyter_server(root, LAB) as server,
        chromium(viewport={"width": 1280, "height": 1100}) as context,
    ):
        page = context.new_page()
        errors = LAB.page_errors(page)
        try:
            open_and_run_all(page, server, "head_view.ipynb")
            views = page.locator(".jp-OutputArea-output").filter(
                has=page.locator(".distil-attention")
            )
            views.nth(2).locator(".da-title", has_text="512 tokens").wait_for(
                timeout=2 * WAIT_MS
            )
            with kernel_client(server) as client:
                yield page, client, views
        except BaseException:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / "failure-head-view.png")
            raise
        assert not errors, errors
        errors_shown = page.locator("[data-mime-type='application/vnd.jupyter.error']")
        assert errors_shown.count() == 0, errors_shown.first.inner_text()


class View:
    """One widget's output: its parts, and waits on what it shows."""

    def __init__(self, page, output, client, name: str):
        self.page, self.output, self.client, self.name = page, output, client, name
        self.canvas = output.locator(".distil-attention canvas")

    def digest(self) -> dict:
        return self.canvas.evaluate(CANVAS_DIGEST)

    def text(self, part: str) -> str:
        return self.output.locator(f".distil-attention .da-{part}").inner_text()

    def wait_text(self, part: str, pattern: str) -> str:
        self.output.locator(
            f".distil-attention .da-{part}", has_text=re.compile(pattern)
        ).wait_for(timeout=WAIT_MS)
        return self.text(part)

    def wait_redrawn(self, before: dict) -> dict:
        """The canvas's digest once its pixels differ from `before`."""
        self.page.wait_for_function(
            f"([c, h]) => ({CANVAS_DIGEST})(c).hash !== h",
            arg=[self.canvas.element_handle(), before["hash"]],
            polling=50,
            timeout=WAIT_MS,
        )
        return self.digest()

    def trait(self, name: str, expected=None):
        """`name` read through the kernel (waiting for `expected` if given)."""
        expression = f"{self.name}.{name}"
        if expected is None:
            return kernel_value(self.client, expression)
        return wait_kernel_value(self.client, expression, expected)

    def button(self, label: str):
        return self.output.get_by_role("button", name=label, exact=True)

    def one_highlight_per_group(self) -> None:
        counts = self.output.locator(".distil-attention").evaluate(HIGHLIGHTS)
        assert counts and set(counts.values()) == {1}, counts

    def token(self, i: int, column: str = "left", **options) -> None:
        """Click token `i`'s label in the lines view's left or right column."""
        width = self.canvas.bounding_box()["width"]
        x = 5 if column == "left" else width - 5
        self.canvas.click(position={"x": x, "y": 2 + i * ROW + ROW / 2}, **options)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.output.screenshot(path=ARTIFACTS / f"head-view-{name}.png")


def test_the_bar_the_head_picker_and_token_pins_as_a_person_uses_them(lab):
    page, client, views = lab
    view = View(page, views.nth(0), client, "w")
    view.wait_text(
        "title", r"^layer 2, heads 0–11 overlaid \(12 of 12\), each in its colour"
    )
    lines = view.digest()
    assert lines["inked"] > 0, lines
    assert view.trait("visible_heads") == list(range(12))  # all heads overlaid
    assert "line opacity and width ∝ weight" in view.text("legend")
    view.one_highlight_per_group()
    view.shot("13-all-heads")

    # Drawing: Heatmap, then Lines again.
    view.button("Heatmap").click()
    view.trait("draw_style", "heatmap")
    heat = view.wait_redrawn(lines)
    assert "rows: query (attends from)" in view.text("legend")
    view.one_highlight_per_group()
    view.shot("13-heatmap")
    view.button("Lines").click()
    view.trait("draw_style", "lines")
    view.wait_redrawn(heat)

    # View: the model view, then a thumbnail opens that head alone.
    view.button("Model view (all heads)").click()
    view.trait("mode", "model")
    view.wait_text("title", "model view: 6 layers × 12 heads")
    assert "95th percentile" in view.text("legend")
    view.one_highlight_per_group()  # view only: the head-view groups hide
    assert view.output.locator("[data-group=draw]").is_hidden()
    view.shot("13-model")
    view.canvas.click(position=cell_center(layer=3, head=5))
    view.wait_text("title", r"^layer 3, head 5 · 13 tokens")
    view.trait("visible_heads", [5])
    assert (view.trait("mode"), view.trait("layer"), view.trait("head")) == (
        "head",
        3,
        5,
    )
    one = view.digest()

    # Head picker: a click adds head 7, a double-click keeps only head 2.
    picker = view.output.locator(".da-heads")
    picker.get_by_role("button", name="7", exact=True).click()
    view.trait("visible_heads", [5, 7])
    two = view.wait_redrawn(one)
    assert picker.locator(".da-swatch.da-on").count() == 2
    picker.get_by_role("button", name="2", exact=True).dblclick()
    view.trait("visible_heads", [2])
    view.trait("head", 2)
    view.wait_text("title", r"^layer 3, head 2 ·")
    view.wait_redrawn(two)
    picker.get_by_role("button", name="all", exact=True).click()
    view.trait("visible_heads", list(range(12)))
    assert picker.locator(".da-swatch.da-on").count() == 12

    # Layer and focused head from the bar's menus.
    before = view.digest()
    view.output.get_by_label("layer", exact=True).select_option("4")
    view.trait("layer", 4)
    view.wait_text("title", r"^layer 4, heads 0–11 overlaid .*head 2 on top ·")
    view.wait_redrawn(before)
    view.output.get_by_label("head", exact=True).select_option("9")
    view.trait("head", 9)
    view.wait_text("title", r"^layer 4, heads 0–11 overlaid .*head 9 on top ·")
    assert picker.locator(".da-swatch.da-focus").inner_text() == "9"

    # Pin "it" (token 8) in the left column: where it looks; click again: unpin.
    before = view.digest()
    view.token(8, "left")
    view.trait("selected_token", 8)
    assert view.trait("selected_side") == "query"
    pinned = view.wait_redrawn(before)
    page.mouse.move(5, 5)  # off the canvas: a pin stays, a hover would not
    view.wait_text("status", r"^pinned it \(query: where it looks\)")
    assert view.digest()["hash"] == pinned["hash"]
    view.shot("13-pinned")
    target = os.environ.get("DISTIL_EXPLORER_HEAD_VIEW")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        view.output.locator(".distil-attention").screenshot(path=target)
    view.token(8, "left")
    view.trait("selected_token", -1)
    view.wait_redrawn(pinned)

    # Right column: who looks at "cat" (token 2); shift-click adds "mat" (6).
    view.token(2, "right")
    view.trait("selected_side", "key")
    page.mouse.move(5, 5)
    view.wait_text("status", r"^pinned cat \(key: who looks at it\)")
    assert view.button("mean").is_disabled()  # combining needs two tokens
    view.token(6, "right", modifiers=["Shift"])
    view.trait("selected_tokens", [2, 6])
    assert view.trait("selected_token") == 6
    view.wait_text("legend", "sum of 2 tokens' columns")
    summed = view.digest()
    view.button("mean").click()
    view.trait("combine", "mean")
    view.wait_text("legend", "mean of 2 tokens' columns")
    view.wait_redrawn(summed)
    # The pointer is off the canvas: the status line reads the pins' mean.
    view.wait_text(
        "status", r"^pinned cat, mat \(key: who looks at it\) · mean, head 9: "
    )
    view.one_highlight_per_group()
    view.shot("13-two-keys-mean")

    # Aggregates: what is averaged is in the title.
    view.button("mean over heads").click()
    view.trait("aggregate", "mean_heads")
    view.wait_text("title", r"^mean over heads 0–11 of layer 4 · 13 tokens")
    view.button("mean over layers").click()
    view.wait_text("title", r"^mean over layers 0–5 × heads 0–11 \(72 maps\)")
    expect(view.output.get_by_label("layer", exact=True)).to_be_disabled()
    view.one_highlight_per_group()
    view.shot("13-mean-layers")
    view.button("each head").click()
    view.trait("aggregate", "head")
    # The bar is redrawn after the click's trait round trip: wait for it.
    expect(view.output.get_by_label("layer", exact=True)).to_be_enabled()
    assert view.trait("notice") == ""  # nothing the page sent was refused


def test_norm_weighted_maps_as_a_person_switches_to_them(lab):
    page, client, views = lab
    view = View(page, views.nth(0), client, "w")  # captured with norms=True
    view.button("Lines").click()
    view.trait("draw_style", "lines")
    view.output.get_by_label("layer", exact=True).select_option("1")
    view.trait("layer", 1)
    view.output.get_by_label("head", exact=True).select_option("9")
    view.trait("head", 9)
    view.wait_text(
        "title", r"^layer 1, heads 0–11 overlaid .*head 9 on top · 13 tokens$"
    )
    weights = view.digest()
    view.button("Norm-weighted").click()
    view.trait("weighting", "norms")
    view.wait_text("title", r"head 9 on top · 13 tokens · norm-weighted")
    norms = view.wait_redrawn(weights)
    assert "line opacity and width ∝ ‖αf(x)‖" in view.text("legend")
    view.one_highlight_per_group()
    view.shot("13-norm-weighted")
    view.button("Model view (all heads)").click()
    view.trait("mode", "model")
    view.wait_text("title", r"^model view: 6 layers × 12 heads · .*norm-weighted")
    model_norms = view.digest()
    view.button("Attention weights").click()
    view.trait("weighting", "weights")
    view.wait_redrawn(model_norms)  # the thumbnails are the weights' again
    view.button("Head view").click()
    view.trait("mode", "head")
    view.wait_text("title", r"head 9 on top · 13 tokens$")
    view.wait_redrawn(norms)
    assert view.trait("notice") == ""
    # A Trace captured without norms: the button is there, and disabled.
    plain = View(page, views.nth(1), client, "w75")
    assert plain.button("Norm-weighted").is_disabled()
    assert plain.trait("has_norms") is False


def test_long_inputs_keep_their_labels_and_the_thumbnails_their_contrast(lab):
    page, client, views = lab
    # T=75, heatmap: every label drawn at a cell no smaller than the font.
    mid = View(page, views.nth(1), client, "w75")
    mid.wait_text("title", r"^layer 2, head 0 · 75 tokens")
    grid = mid.canvas.evaluate("(c) => JSON.parse(c.dataset.grid)")
    assert grid["n"] == 75 and grid["cell"] >= 14, grid
    box = mid.output.locator(".da-box")
    scroll = box.evaluate("(b) => [b.scrollHeight, b.clientHeight]")
    assert scroll[0] > scroll[1], scroll  # 75 rows of 14 px: the box scrolls
    mid.shot("75-heatmap")
    # Hover the top-left cell, scroll down, hover the same place: a later row.
    mid.canvas.hover(position={"x": grid["x"] + 3, "y": grid["y"] + 3})
    first = mid.wait_text("status", r" → .*: \d\.\d{4}$")
    before = mid.digest()
    box.evaluate("(b) => (b.scrollTop = 300)")
    mid.wait_redrawn(before)
    mid.canvas.hover(position={"x": grid["x"] + 3, "y": grid["y"] + 4})
    page.wait_for_function(
        "([el, t]) => el.textContent !== t",
        arg=[mid.output.locator(".da-status").element_handle(), first],
    )
    assert mid.text("status").split(" → ")[0] != first.split(" → ")[0]

    # T=512, model view: thumbnails scaled per map show structure, not black.
    long = View(page, views.nth(2), client, "w512")
    long.wait_text("title", "model view: 6 layers × 12 heads · 512 tokens")
    assert long.trait("thumbnail_percentile") == 95.0
    brightness = long.canvas.evaluate(
        """(c) => {
          const ctx = c.getContext("2d");
          const dpr = c.width / c.getBoundingClientRect().width;
          const out = [];
          for (let l = 0; l < 6; l++) for (let h = 0; h < 12; h++) {
            const d = ctx.getImageData(dpr * (28 + h * 54 + 4), dpr * (28 + l * 54 + 4),
              dpr * 40, dpr * 40).data;
            let sum = 0;
            for (let i = 0; i < d.length; i += 4) {
              sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
            }
            out.push(sum / (d.length / 4));
          }
          return out;
        }"""
    )
    # viridis's 0 is (68, 1, 84): a blank thumbnail averages 51. None is; a thin
    # diagonal (layer 0, head 2) is the darkest, and half are well lit.
    assert min(brightness) > 54 and sorted(brightness)[36] > 80, brightness
    long.shot("512-model")
    # Its heatmap: 512 labelled rows in a scrolling box, drawn where visible.
    long.canvas.click(position=cell_center(layer=2, head=0))
    long.wait_text("title", r"^layer 2, head 0 · 512 tokens")
    long.button("Heatmap").click()
    long.trait("draw_style", "heatmap")
    page.wait_for_function(
        "(c) => c.dataset.grid && JSON.parse(c.dataset.grid).n === 512",
        arg=long.canvas.element_handle(),
        timeout=WAIT_MS,
    )
    grid = long.canvas.evaluate("(c) => JSON.parse(c.dataset.grid)")
    size = long.canvas.bounding_box()
    assert grid["cell"] >= 14 and size["height"] <= 640, (grid, size)
    assert "scroll the box for the rest" in long.text("legend")
    long.shot("512-heatmap")
