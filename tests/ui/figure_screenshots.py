"""Screenshots of every explorer figure as a person sees it, to judge legibility.

    PYTHONPATH=. python tests/ui/figure_screenshots.py [OUT_DIR] [TOKENS]

Builds the offline preset headless, runs a sentence (repeated to TOKENS
tokens, 13 by default), fills every panel (hidden states, parameters,
compare, precisions, attribution, corpus over 40 demo texts), then lays each
panel's images out as the explorer shows them (natural size, at most the
1168 px the explorer gets in a 1600 px wide window) and photographs each in
Chromium at 1600 x 1000. One PNG per panel lands in OUT_DIR
(tests/ui/artifacts/figures by default).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from tests.ui.conftest import ARTIFACTS, chromium

WIDTH = 1168  # px the explorer's tabs get in a 1600 px window (issue 26)


def _panels(tokens: int) -> dict[str, list]:
    from distil_explorer import Explorer

    app = Explorer()
    app.build()
    text = "The cat sat on the mat because it was tired."
    app.run_panel.max_length.value = max(tokens, 13)
    app.run_panel.text.value = " ".join([text] * max(1, tokens // 12))
    app.run()
    app.keep_as_a()
    app.run(backend=app.run_panel.backend.value)
    app.compare_precisions(("bfloat16",))
    app.attention_panel.canvas.selected_token = 3
    app.attribute(steps=8)
    app.corpus_statistics(count=40)
    app.hidden_panel.set_visible(True)
    return {
        "hidden": [
            app.hidden_panel.overview,
            app.hidden_panel.pca,
            app.hidden_panel.rollout,
        ],
        "parameters": [app.params_panel.chart],
        "compare": [app.compare_panel.figure],
        "attribution": [app.attribution_panel.chart],
        "corpus": [app.corpus_panel.figure],
        "query_key": [app.attention_panel.query_key],
    }


def _page(images: list) -> str:
    tags = "".join(
        f"<img style='display:block;max-width:100%;width:{image.layout.width}' "
        f"src='data:image/png;base64,{base64.b64encode(image.value).decode()}'>"
        for image in images
        if image.value
    )
    return f"<body style='margin:0'><div style='width:{WIDTH}px'>{tags}</div></body>"


def main(out: Path, tokens: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    panels = _panels(tokens)
    with chromium(viewport={"width": 1600, "height": 1000}) as context:
        page = context.new_page()
        for name, images in panels.items():
            page.set_content(_page(images))
            path = out / f"{name}-{tokens}.png"
            page.screenshot(path=path, full_page=True)
            print(path)


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else ARTIFACTS / "figures",
        int(sys.argv[2]) if len(sys.argv) > 2 else 13,
    )
