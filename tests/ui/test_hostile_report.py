"""A report with hostile strings in Chromium: the page draws, nothing is injected.

Tokens from a crafted vocabulary (`<!--<script>` puts the HTML parser into
its "double-escaped" script state, which swallows the rest of the page if it
reaches a `<script>` raw), a title, a config value and the backend name carry
tags; the page must draw its canvas and hold no element they would create.
"""

import numpy as np

from distil_explorer.trace import Trace
from distil_explorer.views import report as report_module
from tests.ui.conftest import chromium

PWN = '<img src=x id=injected onerror="window.pwned=1">'
# No "-->" among them: it would end the "<!--" escape and undo the attack.
HOSTILE = ("<!--<script>", "</script>", PWN, '"q\'uote"', "&amp;")


def _trace() -> Trace:
    rng = np.random.default_rng(3)
    n = len(HOSTILE) + 2
    weights = np.exp(3 * rng.normal(size=(2, 1, 2, n, n)))
    return Trace(
        hidden_states=rng.normal(size=(3, 1, n, 4)),
        attentions=weights / weights.sum(-1, keepdims=True),
        token_ids=np.arange(n)[None],
        padding_mask=np.ones((1, n)),
        config={"num_heads": 2, "name": f"</script>{PWN}"},
        backend=f"<!--<script>{PWN}",
        device="cpu",
        tokens=[["[CLS]", *HOSTILE, "[SEP]"]],
    )


def test_hostile_tokens_and_names_neither_break_nor_inject(needs_browser, tmp_path):
    title = f"<!--<script> {PWN}"
    path = report_module.report(_trace(), tmp_path / "report.html", title=title)
    errors = []
    with chromium(viewport={"width": 1000, "height": 800}) as context:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        # Every token is in the decoded state: its count is in the title.
        count = f"{len(HOSTILE) + 2} tokens"
        page.locator(".da-title", has_text=count).wait_for(timeout=10000)
        injected = page.evaluate(
            "() => [document.querySelectorAll('#injected, img[src=x]').length,"
            " document.scripts.length, window.pwned === undefined,"
            " document.querySelector('h1').textContent,"
            " document.querySelectorAll('.distil-attention canvas').length]"
        )
        page.locator(".da-bar [data-mode=model]").click()  # the page still works
        page.locator(".da-title", has_text="model view").wait_for(timeout=5000)
    found, scripts, clean, heading, canvases = injected
    assert (found, scripts, clean) == (0, 1, True)
    assert heading == title  # shown as text, whole
    assert canvases >= 1
    assert errors == [], errors
