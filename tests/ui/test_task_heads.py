"""Task heads in the explorer, in headless Chromium, as a person uses them.

Build a classifier task preset and Run: the Run tab names the classes with
their probabilities. Build a masked-LM preset, Run, pin a token and press
Mask token: its predictions show beside the button, and Predictions by layer
shows the masked token under the canvas. The tiny presets are written here
(tests/factories.py); a 1600x1000 screenshot of each step goes to
tests/ui/artifacts/ (and to $DISTIL_EXPLORER_SHOTS when set).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ui.conftest import ARTIFACTS, LAB, ROW, WAIT_MS, page_session
from tests.ui.conftest import open_and_run_all as run_all
from tests.ui.test_browser import _button, _no_errors, _tab, _wait_text

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("needs_browser")]

CELL = """\
from distil_explorer import Explorer
from distil_explorer.views.build_panel import PATH_OR_HANDLE

app = Explorer(text="the cat sat")
app.build_panel.preset.value = PATH_OR_HANDLE
app.build_panel.handle.value = {path!r}
app"""


def _presets(root: Path) -> dict:
    """The two task presets, and what they say about "the cat sat"."""
    import numpy as np

    import distil_explorer as de
    from tests.factories import write_task_preset

    made = {
        kind: write_task_preset(root / kind, kind, seed)
        for kind, seed in (("classifier", 3), ("masked_lm", 4))
    }
    tokenizer = de.DistilBertTokenizer.from_preset(str(made["classifier"]))
    classifier = de.DistilBertTextClassifier.from_preset(made["classifier"])
    classes = de.classify(classifier, "the cat sat", tokenizer).top(0)
    ids = tokenizer("the cat sat").token_ids.copy()
    ids[0, 2] = tokenizer.token_to_id("[MASK]")
    masked_lm = de.DistilBertMaskedLM.from_preset(made["masked_lm"])
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    guesses = de.predict_masked(masked_lm, inputs, 10, tokenizer=tokenizer).top(0)
    return {**made, "classes": classes, "guesses": guesses}


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"task-heads-{name}.png")
    folder = os.environ.get("DISTIL_EXPLORER_SHOTS")
    if folder:
        page.screenshot(path=Path(folder) / f"task-ui_{name}.png")


def test_a_classifier_and_a_masked_lm_in_the_explorer(tmp_path):
    import nbformat

    made = _presets(tmp_path)
    cell = CELL.format(path=str(made["classifier"]))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    nbformat.write(notebook, tmp_path / "tasks.ipynb")
    with page_session(tmp_path, LAB, "task-heads", (1600, 1000)) as (page, server):
        _steps(page, server, made)


def _steps(page, server, made: dict) -> None:
    run_all(page, server, "tasks.ipynb")
    explorer = page.locator(".jp-OutputArea-output > .widget-vbox").filter(
        has=page.locator(".widget-tab")
    )
    explorer.wait_for(timeout=WAIT_MS)
    _button(explorer, "Build").click()
    _wait_text(explorer, "text classifier head: 2 classes (negative, positive)")
    _tab(explorer, "Run")
    _button(explorer, "Run").click()
    _wait_text(explorer, "Hover or click a token")  # it ran, on the Attention tab
    _tab(explorer, "Run")
    (top, p_top), (other, p_other) = made["classes"]
    _wait_text(explorer, f"Classifier: {top} ({p_top:.1%})")
    bars = explorer.locator(".de-classes").inner_text()
    for text in (top, other, f"{p_top:.3f}", f"{p_other:.3f}"):
        assert text in bars, bars
    _no_errors(page, explorer)
    _shot(page, "classifier")

    _tab(explorer, "Build")
    path = explorer.get_by_placeholder("./my_preset or hf://owner/repo")
    path.fill(str(made["masked_lm"]))
    _button(explorer, "Build").click()
    _wait_text(explorer, "masked-LM head tied to the token embedding")
    _tab(explorer, "Run")
    _button(explorer, "Run").click()
    _tab(explorer, "Attention")
    canvas = explorer.locator(".distil-attention canvas")
    explorer.locator(".distil-attention .da-title").wait_for(timeout=WAIT_MS)
    canvas.click(position={"x": 5, "y": 2 + 2 * ROW + ROW / 2})  # "cat"
    _wait_text(explorer, "Pinned token 2: cat")
    _button(explorer, "Mask token").click()
    _wait_text(explorer, "Predictions for the masked token")
    predictions = explorer.locator(".de-predictions")
    predictions.scroll_into_view_if_needed()
    _shot(page, "mask")
    guesses = predictions.inner_text()
    for token, probability in made["guesses"][:3]:
        assert token in guesses and f"{probability:.3f}" in guesses, guesses
    lens = explorer.get_by_text("Predictions by layer", exact=False)
    lens.first.wait_for(state="visible", timeout=WAIT_MS)
    lens.first.scroll_into_view_if_needed()
    _no_errors(page, explorer)
    _shot(page, "masked_lm")
