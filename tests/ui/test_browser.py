"""The quickstart notebook in headless Chromium, as a person uses it, in
JupyterLab and in Notebook 7 (the same checks in each).

Run All, then, clicking what a person clicks and checking what they would see:
the explorer shows its tabs and no error, the attention canvas has pixels, a
thumbnail in the model view opens its head and the bar's menus follow, the
head menu redraws the canvas, a pinned token fills the intervention column
and the query/key view, Mask token shows its effect and Restore brings the
original back, Export writes the view, and the Hidden states, Parameters,
Compare (keep A, precisions, a B), Attribution (similarity with a second
text), Build and Run tabs each show their result, and a head clicked in the
Corpus tab's grid opens its example in the head view.
Offline, the notebook falls back to the packaged preset.
Screenshots go to tests/ui/artifacts/, and JupyterLab's also to
$DISTIL_EXPLORER_SCREENSHOT when set (how docs/screenshot.png is made).

A second test opens a 512-token Trace in model view and one head from it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from distil_explorer.views.registry import TABS
from tests.ui.conftest import (
    ARTIFACTS,
    CANVAS_DIGEST,
    FRONTENDS,
    GAP,
    LAB,
    LABEL,
    ROW,
    THUMB,
    WAIT_MS,
    attention_notebook,
    cell_center,
    open_and_run_all,
    page_session,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("needs_browser")]

ROOT = Path(__file__).parents[2]
NOTEBOOK = "00_quickstart.ipynb"
LONG = 512  # tokens, the long sequence
LONG_ROWS = LONG * ROW + 4  # CSS px of its lines view


def _wait_drawn(page, explorer, title: str, unlike: tuple[dict, ...] = ()) -> dict:
    """The canvas's digest once it reads `title` and differs from `unlike`."""
    explorer.locator(".distil-attention .da-title", has_text=title).wait_for(
        timeout=WAIT_MS
    )
    canvas = explorer.locator(".distil-attention canvas")
    before = [d["hash"] for d in unlike]
    page.wait_for_function(
        f"([canvas, before]) => !before.includes(({CANVAS_DIGEST})(canvas).hash)",
        arg=[canvas.element_handle(), before],
        polling=50,
        timeout=WAIT_MS,
    )
    return canvas.evaluate(CANVAS_DIGEST)


def _pick(explorer, name: str):
    """The canvas bar's `name` menu ("layer" or "head")."""
    return explorer.locator(f".distil-attention select[data-pick={name}]")


def _tab(explorer, title: str) -> None:
    explorer.locator(".widget-tab .lm-TabBar-tab", has_text=title).first.click()


def _button(explorer, label: str):
    return explorer.get_by_role("button", name=label)


def _wait_text(explorer, text: str) -> None:
    shown = explorer.get_by_text(text, exact=False).filter(visible=True)
    shown.first.wait_for(timeout=WAIT_MS)


def _wait_images(page, explorer, count: int) -> None:
    """Until `count` images with pixels are on screen in the explorer."""
    page.wait_for_function(
        """([root, n]) => [...root.querySelectorAll('.widget-image')]
          .filter((e) => e.offsetParent && e.naturalWidth > 0).length >= n""",
        arg=[explorer.element_handle(), count],
        timeout=WAIT_MS,
    )


def _no_error_outputs(page) -> None:
    errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()


def _no_errors(page, explorer) -> None:
    _no_error_outputs(page)
    # The banner above the tabs and each tab's own area (.de-error inside),
    # hidden unless a callback failed.
    area = explorer.locator(":scope > .widget-html").nth(1)
    assert not area.is_visible(), area.inner_text()
    shown = explorer.locator(".de-error:visible")
    assert shown.count() == 0, shown.first.inner_text()


def _screenshots(page, explorer, frontend) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"quickstart-{frontend.module}.png")
    target = os.environ.get("DISTIL_EXPLORER_SCREENSHOT")
    # The explorer, from its status line to the canvas's status line.
    if target and frontend is LAB:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        box = explorer.bounding_box()
        edges = [
            explorer.locator(".distil-attention canvas").bounding_box(),
            explorer.locator(".widget-tab .lm-TabBar-tab").last.bounding_box(),
        ]
        right = max(edge["x"] + edge["width"] for edge in edges)
        status = explorer.locator(".distil-attention .da-status").bounding_box()
        bottom = status["y"] + status["height"]
        clip = {"x": box["x"], "y": box["y"]}
        clip.update(width=right + 12 - box["x"], height=bottom - box["y"])
        page.screenshot(path=target, clip=clip)


@pytest.mark.parametrize("frontend", FRONTENDS, ids=lambda f: f.module)
def test_quickstart_runs_and_the_canvas_follows_head_changes(tmp_path, frontend):
    started = time.perf_counter()
    root = tmp_path / "notebooks"
    ignore = shutil.ignore_patterns(".ipynb_checkpoints")
    shutil.copytree(ROOT / "notebooks", root, ignore=ignore)
    with page_session(root, frontend, "quickstart") as (page, server):
        _exercise(page, server)
    print(f"\nbrowser test, {frontend.name}: {time.perf_counter() - started:.1f} s")


def test_a_512_token_model_view_draws_and_a_thumbnail_opens_its_head(tmp_path):
    """The issue's long sequence: 72 maps of 512 x 512 as thumbnails, one head
    in full. Timings are benchmarks/browser_long_sequence.py's job."""
    started = time.perf_counter()
    attention_notebook(tmp_path / "long.ipynb", LONG)
    with page_session(tmp_path, LAB, "long") as (page, server):
        open_and_run_all(page, server, "long.ipynb")
        view = page.locator(".jp-OutputArea-output").filter(
            has=page.locator(".distil-attention")
        )
        grid = _wait_drawn(
            page, view, f"model view: 6 layers × 12 heads · {LONG} tokens"
        )
        assert "from_trace:" in page.locator(".jp-OutputArea").last.inner_text()
        # 6 x 12 thumbnails under their labels.
        box = view.locator(".distil-attention canvas").bounding_box()
        size = [LABEL + n * (THUMB + GAP) for n in (12, 6)]
        assert [box["width"], box["height"]] == size, box
        assert grid["inked"] > 0.2 * grid["width"] * grid["height"], grid
        _open_heads(page, view, grid)
        _no_error_outputs(page)
    print(f"\nbrowser test, {LONG} tokens: {time.perf_counter() - started:.1f} s")


def _open_heads(page, view, grid: dict) -> None:
    """Thumbnail (0, 0), then (3, 7): each opens its head, drawn from its map."""
    first = _open_head(page, view, 0, 0, (grid,))
    view.locator(".distil-attention button", has_text="All heads").click()
    _wait_drawn(page, view, f"{LONG} tokens", (first,))
    # Pixels unlike head 0's say head 7's map came from the kernel.
    _open_head(page, view, 3, 7, (grid, first))


def _open_head(page, view, layer: int, head: int, unlike: tuple[dict, ...]) -> dict:
    """Click a thumbnail, wait for its head's lines view, hover token 3."""
    canvas = view.locator(".distil-attention canvas")
    canvas.click(position=cell_center(layer=layer, head=head))
    title = f"layer {layer}, head {head} · {LONG} tokens · the 384 strongest lines"
    view.locator(".distil-attention .da-title", has_text=title).wait_for()
    # Nothing is drawn until the clicked head's map arrives: then every row.
    page.wait_for_function(
        f"(c) => c.getBoundingClientRect().height === {LONG_ROWS}",
        arg=canvas.element_handle(),
        polling=50,
        timeout=WAIT_MS,
    )
    # At 512 tokens each map's strongest lines are drawn; a hover draws a
    # token's every line.
    canvas.hover(position={"x": 10, "y": 2 + 3 * ROW + ROW / 2})
    return _wait_drawn(page, view, title, unlike)


def _export_shows_every_heads_colour(page, explorer, server) -> None:
    """Export the head view with every head on: the PNG has each head's colour."""
    from PIL import Image

    from distil_explorer.views.contract import head_colour
    from tests.factories import pixels_of_colour

    _tab(explorer, "Attention")
    name = explorer.get_by_placeholder("name.png, .svg or .html")
    assert name.input_value() == "head_view.png"  # the name follows the view
    _button(explorer, "Export").click()
    _wait_text(explorer, "wrote head_view.png")
    image = Image.open(server.root_dir / "head_view.png").convert("RGB")
    assert image.width >= 1600, image.size  # 2x pixel density
    for head in range(12):  # each head's lines, in its colour over white
        assert pixels_of_colour(image, head_colour(head)) > 20, head


def _exercise(page, server) -> None:
    open_and_run_all(page, server, NOTEBOOK)
    explorer = page.locator(".jp-OutputArea-output > .widget-vbox").filter(
        has=page.locator(".widget-tab")
    )
    explorer.wait_for(timeout=WAIT_MS)
    opened = _wait_drawn(page, explorer, "layer 0, heads 0–11 overlaid (12 of 12)")
    labels = explorer.locator(".widget-tab .lm-TabBar-tabLabel").all_inner_texts()
    assert labels[: len(TABS)] == list(TABS)
    assert "Ran all_minilm_l6_v2_en on torch" in explorer.inner_text()
    _no_errors(page, explorer)
    assert opened["inked"] > 0.01 * opened["width"] * opened["height"], opened
    assert opened["width"] >= 600, opened  # the width it is given, not 367 px
    _export_shows_every_heads_colour(page, explorer, server)

    # Model view -> click the thumbnail of layer 2, head 5 -> that head opens.
    canvas = explorer.locator(".distil-attention canvas")
    explorer.locator(".distil-attention button", has_text="Model view").click()
    grid = _wait_drawn(page, explorer, "model view: 6 layers", unlike=(opened,))
    assert grid["inked"] > 0 and grid["height"] > opened["height"], grid
    canvas.click(position=cell_center(layer=2, head=5))
    clicked = _wait_drawn(page, explorer, "layer 2, head 5", unlike=(opened, grid))
    # Python got the click: the bar's menus show what it set.
    for name, value in (("layer", "2"), ("head", "5")):
        page.wait_for_function(
            "([el, v]) => el.value === v",
            arg=[_pick(explorer, name).element_handle(), value],
            timeout=WAIT_MS,
        )

    # The head menu: Python slices the Trace, JS redraws.
    _pick(explorer, "head").select_option("6")
    _wait_drawn(page, explorer, "head 6 on top", unlike=(clicked,))
    _no_errors(page, explorer)

    # Pin "it" (token 8) by its label: the intervention column and the
    # query/key view beside the canvas follow.
    canvas.click(position={"x": 5, "y": 2 + 8 * ROW + ROW / 2})
    _wait_text(explorer, "Pinned token 8: it")
    _wait_text(explorer, "strongest key")
    _wait_images(page, explorer, 1)  # the query/key bars
    _button(explorer, "Mask token").click()
    _wait_text(explorer, "after masking 'it'")
    _button(explorer, "Restore original").click()
    _wait_text(explorer, "Restored the original input.")
    _no_errors(page, explorer)

    # Export what is on screen, into the kernel's folder (the notebooks' copy).
    explorer.get_by_placeholder("name.png, .svg or .html").fill("head.svg")
    _button(explorer, "Export").click()
    _wait_text(explorer, "wrote head.svg")

    # Every other tab shows what it is for.
    _tab(explorer, "Hidden states")
    _wait_images(page, explorer, 3)  # norms and similarity, PCA, rollout
    _tab(explorer, "Parameters")
    _wait_text(explorer, "22,564,608")
    _tab(explorer, "Compare")
    _button(explorer, "Keep this run as A").click()
    _wait_text(explorer, "run A's input again to get a B")
    _button(explorer, "Run at these precisions").click()
    _wait_text(explorer, "int8 against the run on screen")
    # Which words make the sentence similar to a second one?
    _tab(explorer, "Attribution")
    # (The same target widgets show in the Causal tab too: the visible ones.)
    target = explorer.locator(".widget-dropdown", has_text="target").filter(
        visible=True
    )
    target.locator("select").select_option(label="similarity with a second text")
    second = explorer.locator(".widget-textarea", has_text="second text").filter(
        visible=True
    )
    second.locator("textarea").fill("A kitten is resting on a rug.")
    _button(explorer, "Attribute").click()
    _wait_text(explorer, "integrated_gradients of similarity with")
    _wait_images(page, explorer, 1)  # the bar chart
    tokens = explorer.locator(".de-attribution-token")
    assert tokens.count() > 3 and tokens.first.inner_text() == "[CLS]"
    _no_errors(page, explorer)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"attribution-{server.frontend.module}.png")
    _tab(explorer, "Build")
    _button(explorer, "Build").click()
    _wait_text(explorer, "Press Run.")
    _tab(explorer, "Run")
    _button(explorer, "Run").click()
    _wait_text(explorer, "B: all_minilm_l6_v2_en")  # the same input again: a B
    _no_errors(page, explorer)
    _tab(explorer, "Attention")
    # A new build cleared the Trace's choices: the new run shows every head.
    _wait_drawn(page, explorer, "layer 0, heads 0–11 overlaid (12 of 12)")

    # Hover "it" (token 8 of the quickstart's sentence): its links light up.
    canvas.hover(position={"x": 4, "y": 2 + 8 * ROW + ROW / 2})
    page.wait_for_timeout(200)
    _screenshots(page, explorer, server.frontend)

    # Corpus: compute over the demo corpus, then click a head of the grid:
    # its example text opens in the head view, on that head.
    _tab(explorer, "Corpus")
    # A missing file: the reason shows beside Compute, in this tab; the next
    # Compute clears it.
    corpus = explorer.get_by_label("corpus", exact=True)
    corpus.select_option(label="a text file (one text per line)")
    explorer.get_by_placeholder("path/to/texts.txt").fill("missing.txt")
    _button(explorer, "Compute").click()
    error = explorer.locator(".de-error:visible")
    error.first.wait_for(timeout=WAIT_MS)
    assert "missing.txt" in error.first.inner_text()
    compute = _button(explorer, "Compute").bounding_box()
    assert abs(error.first.bounding_box()["y"] - compute["y"]) < 120  # beside it
    corpus.select_option(label="demo corpus (Python documentation)")
    _button(explorer, "Compute").click()
    _wait_text(explorer, "200 texts,")
    assert explorer.locator(".de-error:visible").count() == 0
    _wait_images(page, explorer, 1)  # every statistic and the map of heads
    page.screenshot(path=ARTIFACTS / f"corpus-{server.frontend.module}.png")
    explorer.get_by_title("layer 3, head 7").click()
    _wait_drawn(page, explorer, "layer 3, head 7")
    _no_errors(page, explorer)
    _tab(explorer, "Corpus")
    _wait_text(explorer, "highest in")


def test_a_saved_run_reloads_without_a_widget_error(tmp_path):
    """Run the quickstart, save it, reload the page: the explorer comes back
    from the running kernel (no "Error displaying widget"), and the saved
    file is what the next `distil-explorer lab` cleans (tests/ui/
    test_lab_command.py checks that part)."""
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    with page_session(root, LAB, "reload") as (page, server):
        open_and_run_all(page, server, NOTEBOOK)
        explorer = page.locator(".jp-OutputArea-output > .widget-vbox").filter(
            has=page.locator(".widget-tab")
        )
        _wait_drawn(page, explorer, "layer 0, heads 0–11 overlaid (12 of 12)")
        page.keyboard.press("Control+s")
        page.wait_for_function(
            "() => !document.querySelector('.jp-mod-current .jp-mod-dirty')",
            timeout=WAIT_MS,
        )
        page.reload()
        explorer.wait_for(timeout=WAIT_MS)
        _wait_drawn(page, explorer, "layer 0, heads 0–11 overlaid (12 of 12)")
        page.wait_for_timeout(1000)  # any late widget error would show by now
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        assert not any("Error displaying widget" in text for text in outputs)
        _no_errors(page, explorer)
