"""Click-to-redraw of the attention canvas in a real browser, base config at T=128.

    python benchmarks/browser_redraw.py            # standalone report page
    python benchmarks/browser_redraw.py --jupyter  # plus JupyterLab, via the kernel

Target: a click or hover redrawn in < 150 ms. The Trace has the base
uncased shape (6 layers x 12 heads, T=128) with random softmax attention, as in
benchmarks/redraw.py. Headless Chromium (/usr/bin/chromium) through playwright.

Every draw of attention.js rewrites the canvas's title, so a MutationObserver
on the title timestamps the end of each draw (its callback runs right after
the draw's animation frame). An action is timed in the page, from just before
it is dispatched to the end of the first draw after it ("first draw") and to
the end of the last one before the canvas has been quiet for 300 ms ("settled":
in JupyterLab, a head change draws once at once and again when the kernel's
new map arrives), and to when that last frame was rendered ("painted": the
canvas rasterized; see RECORD_DRAWS). `draw ms` is the widget's own
`render_ms` of that draw (standalone) or the animation frame it ran in
(JupyterLab: TIME_FRAMES).

- Standalone: `distil_explorer.views.report.report()` writes the page; it
  inlines the same canvas module and a stand-in model, which this script
  exposes as `window.distilModel` to time `model.set(...)` directly.
- JupyterLab (`--jupyter`): an AttentionPanel (sliders + canvas) in a notebook;
  the head slider's arrow key and a thumbnail click go through the kernel.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from redraw import base_trace  # noqa: E402

from tests.ui.conftest import (  # noqa: E402
    LAB,
    browser_missing,
    cell_center,
    chromium,
    jupyter_server,
    open_and_run_all,
)

TARGET_MS = 150
ROW = 18  # px per token in the lines view
QUIET_MS = 300

# Installed once per page: window.draws gets performance.now() at each draw's end,
# window.drawMs how long it took where TIME_FRAMES runs in the page, and
# window.painted when the page could next run a task: after that frame was
# rendered, the canvas's pixels included (Chromium rasterizes a 2D canvas's
# recorded paths then, and without a GPU that can take far longer than the draw).
RECORD_DRAWS = """(title) => {
  window.draws = [];
  window.drawMs = [];
  window.painted = [];
  new MutationObserver(() => {
    window.draws.push(performance.now());
    window.drawMs.push(window.frameMs ?? null);
    setTimeout(() => window.painted.push(performance.now()), 0);
  }).observe(title, { childList: true, characterData: true, subtree: true });
}"""
# An init script: window.frameMs is how long the last animation-frame callback
# ran. attention.js draws in one, and the observer above runs right after it
# (a microtask), so it reads that draw's duration: the widget's `render_ms`,
# which a notebook page cannot read.
TIME_FRAMES = """(() => {
  const request = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) => request((time) => {
    const start = performance.now();
    try { callback(time); } finally { window.frameMs = performance.now() - start; }
  });
})();"""

# Runs `action` (a function body), then waits until the canvas has been quiet
# for `quiet` ms after a draw, or until `patience` ms passed with no draw.
TIME_ACTION = """async ({ action, quiet, patience }) => {
  const canvas = document.querySelector(".distil-attention canvas");
  const box = canvas.getBoundingClientRect();
  const fire = (type, x, y) => canvas.dispatchEvent(new MouseEvent(type,
    { clientX: box.left + x, clientY: box.top + y, bubbles: true }));
  const before = window.draws.length;
  const start = performance.now();
  new Function("fire", "model", action)(fire, window.distilModel);
  for (;;) {
    await new Promise((r) => setTimeout(r, 10));
    const now = performance.now();
    const n = window.draws.length;
    const painted = window.painted.length === n;
    if (n > before && painted && now - window.painted[n - 1] > quiet) break;
    if (n === before && now - start > patience) return null;
  }
  const drawn = window.draws.slice(before);
  return {
    first: drawn[0] - start,
    settled: drawn[drawn.length - 1] - start,
    painted: window.painted[window.painted.length - 1] - start,
    draws: drawn.length,
    render: window.distilModel ? window.distilModel.get("render_ms")
      : window.drawMs[window.drawMs.length - 1],
  };
}"""
SHOW_ALL_HEADS = "document.querySelector('.da-bar [data-mode=model]').click();"
# Before a thumbnail click: the pointer leaves the canvas first, or a token
# hovered earlier stays hovered and the head view draws only its links.
UNHOVER_ALL_HEADS = "fire('mouseleave', 0, 0); " + SHOW_ALL_HEADS


def _row(i: int) -> float:
    return 2 + i * ROW + ROW / 2


def _act(page, action: str, quiet: float, patience: float = 200) -> dict | None:
    args = {"action": action, "quiet": quiet, "patience": patience}
    return page.evaluate(TIME_ACTION, args)


def _measure(page, name, timed, rows, repeats, quiet=50, setup=None, before=None):
    """Median material for `name`: `timed(i)` is the action timed, after
    `setup` (once) and `before(i)` (untimed, each round); 2 warm-up rounds."""
    if setup:
        _act(page, setup, quiet)
    samples = []
    for i in range(repeats + 2):
        if before:
            _act(page, before(i), quiet)
        result = _act(page, timed(i), quiet, patience=10_000)
        if result is None:
            raise RuntimeError(f"{name}: no redraw after {timed(i)!r}")
        if i >= 2:
            samples.append(result)
    rows.append((name, samples))


def _thumbnail_click(i: int) -> str:
    at = cell_center(layer=i % 6, head=(5 * i + 1) % 12)
    return f"fire('click', {at['x']}, {at['y']});"


def _hover(i: int, length: int = 128) -> str:
    """Over token i's label, in the lines view of `length` tokens."""
    return f"fire('mousemove', 4, {_row((7 * i) % length)});"


def _hover_heatmap(i: int, length: int = 128) -> str:
    """Over a cell of query row i; the grid is T x 4 px at the canvas's bottom right."""
    row = (7 * i) % length
    return (
        "const c = document.querySelector('.distil-attention canvas');"
        f"const w = c.getBoundingClientRect().width - {length} * 4 - 2;"
        f"fire('mousemove', w + 2 + 4 * {row}, w + 2 + 4 * {row});"
    )


def _set_layer(i: int) -> str:
    return f"model.set('layer', {(i + 1) % 6});"


def _standalone(context, rows: list, repeats: int) -> None:
    from distil_explorer.views.report import report

    with tempfile.TemporaryDirectory() as tmp:
        path = report(base_trace(), Path(tmp) / "report.html")
        page_text = path.read_text()
        hook = "standalone.createModel(data.state)"
        if hook not in page_text:
            raise RuntimeError(f"report's script changed: {hook!r} not found")
        exposed = f"(window.distilModel = {hook})"
        path.write_text(page_text.replace(hook, exposed, 1))
        page = context.new_page()
        page.goto(path.as_uri())
        title = page.wait_for_selector(".distil-attention .da-title")
        page.wait_for_function("() => window.distilModel !== undefined")
        page.evaluate(RECORD_DRAWS, title)
        lines = "model.set('mode', 'head'); model.set('draw_style', 'lines');"
        heat = "model.set('mode', 'head'); model.set('draw_style', 'heatmap');"
        tag = "standalone"
        for style, setup, hover in (
            ("lines", lines, _hover),
            ("heatmap", heat, _hover_heatmap),
        ):
            name = f"{tag}: hover a token, {style}"
            _measure(page, name, hover, rows, repeats, setup=setup)
        for style, setup in (("lines", lines), ("heatmap", heat)):
            name = f"{tag}: model.set layer, {style}"
            _measure(page, name, _set_layer, rows, repeats, setup=setup)
        name = f"{tag}: 'All heads' button (72 maps)"
        _measure(
            page, name, lambda i: SHOW_ALL_HEADS, rows, repeats, before=lambda i: lines
        )
        name = f"{tag}: click a thumbnail -> its lines"
        before = lambda i: UNHOVER_ALL_HEADS  # noqa: E731
        _measure(
            page, name, _thumbnail_click, rows, repeats, setup=lines, before=before
        )
        page.close()


JUPYTER_CELL = """\
import sys
sys.path.insert(0, {benchmarks!r})
from redraw import base_trace
from distil_explorer.views.attention_panel import AttentionPanel

panel = AttentionPanel()
panel.show(base_trace(), (1000,))
panel.widget
"""


# After a key press: like TIME_ACTION, timed from the keydown event.
WAIT_SETTLED = """async ([before, quiet]) => {
  for (const deadline = performance.now() + 10000; performance.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 10));
    const n = window.draws.length;
    const painted = window.painted.length === n;
    if (n > before && painted && performance.now() - window.painted[n - 1] > quiet) {
      return { first: window.draws[before] - window.keyAt,
               settled: window.draws[n - 1] - window.keyAt,
               painted: window.painted[n - 1] - window.keyAt,
               draws: n - before, render: window.drawMs[n - 1] };
    }
  }
  throw new Error("no redraw within 10 s of the key press");
}"""


def _jupyter(context, rows: list, repeats: int) -> None:
    import nbformat

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cell = JUPYTER_CELL.format(benchmarks=str(ROOT / "benchmarks"))
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
        nbformat.write(notebook, root / "redraw.ipynb")
        with jupyter_server(root, LAB) as server:
            page = context.new_page()
            page.add_init_script(TIME_FRAMES)
            open_and_run_all(page, server, "redraw.ipynb")
            title = page.wait_for_selector(
                ".distil-attention .da-title:has-text('128 tokens')", timeout=120_000
            )
            page.wait_for_timeout(2000)  # the rest of the state arrives
            page.evaluate(RECORD_DRAWS, title)
            tag, quiet = "JupyterLab", QUIET_MS
            name = f"{tag}: hover a token, lines"
            _measure(page, name, _hover, rows, repeats, quiet=quiet)
            # A key press on the head slider, dispatched by playwright: timed
            # in the page from the keydown event.
            page.evaluate(
                """() => window.addEventListener("keydown",
                     (e) => (window.keyAt = performance.now()), true)"""
            )
            handle = page.locator(".widget-hslider .noUi-handle").nth(1)  # head
            samples = []
            for i in range(repeats + 2):
                handle.focus()
                before = page.evaluate("() => window.draws.length")
                page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                result = page.evaluate(WAIT_SETTLED, [before, quiet])
                if i >= 2:
                    samples.append(result)
            rows.append((f"{tag}: head slider arrow key", samples))
            name = f"{tag}: click a thumbnail -> its lines"
            before = lambda i: UNHOVER_ALL_HEADS  # noqa: E731
            _measure(page, name, _thumbnail_click, rows, repeats, quiet, before=before)
            page.close()


def _stat(samples: list[dict], key: str) -> str:
    values = sorted(s[key] for s in samples)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"{statistics.median(values):7.1f} ({p90:4.0f})"


def print_table(rows: list, target: float | None = None) -> None:
    """One line per action; with `target`, the ratio of its median "painted"."""
    head = (
        f"{'action':<44} {'first draw':>14} {'settled':>14} {'painted':>14} "
        f"{'draw ms':>8} {'draws':>5}" + (f" {'ratio':>6}" if target else "")
    )
    print(head)
    print("-" * len(head))
    for name, samples in rows:
        render = [s["render"] for s in samples if s["render"] is not None]
        draw = f"{statistics.median(render):8.1f}" if render else f"{'-':>8}"
        draws = statistics.median(s["draws"] for s in samples)
        times = [_stat(samples, key) for key in ("first", "settled", "painted")]
        line = f"{name:<44} {times[0]:>14} {times[1]:>14} {times[2]:>14} {draw}"
        line += f" {draws:>5.0f}"
        if target:
            line += f" {statistics.median(s['painted'] for s in samples) / target:6.2f}"
        print(line)


def _print(rows: list, version: str) -> None:
    print(f"\nclick-to-redraw, base config (6 layers x 12 heads), T=128; {version}")
    print(
        "median (p90) in ms, end of draw (painted: its frame rendered); "
        f"target < {TARGET_MS} ms\n"
    )
    print_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jupyter", action="store_true", help="also time JupyterLab")
    parser.add_argument("--repeats", type=int, default=20, help="samples per action")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        raise SystemExit(f"browser_redraw: {missing}")
    rows: list = []
    started = time.perf_counter()
    with chromium(viewport={"width": 1280, "height": 1000}) as context:
        version = f"Chromium {context.browser.version}"
        _standalone(context, rows, args.repeats)
        if args.jupyter:
            _jupyter(context, rows, max(5, args.repeats // 2))
    _print(rows, version)
    print(f"\n({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
