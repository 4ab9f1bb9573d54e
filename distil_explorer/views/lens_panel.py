"""The "Predictions by layer" panel: the layer lens of the Trace on screen."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from distil_explorer.views.lens_html import lens_html

HINT = (
    "<b>Predictions by layer</b> (logit lens): the masked-LM head applied to "
    "the embeddings and to every layer's output. Each cell is the token that "
    "layer would predict at that position."
)


class LensPanel:
    """Draws a `LayerPredictions` (or nothing); never calls the session.

    The Explorer hands it `Session.lens` after a run (`show(lens)`), and
    `show(None)` or `clear()` when the model on screen has no masked-LM head
    or the Trace changed. Hidden while it has nothing to show.

    Examples:
    ```python
    panel = LensPanel()
    panel.show(distil_explorer.layer_predictions(masked_lm, trace, tokenizer=tok))
    panel.widget  # a VBox: hint, sequence picker (B > 1 only), the grid
    ```
    """

    def __init__(self) -> None:
        self.shown = None  # the LayerPredictions drawn, or None
        self.index = w.Dropdown(
            options=[0], value=0, description="sequence", layout=w.Layout(width="200px")
        )
        self.grid = w.HTML()
        self.index.observe(self._draw, names="value")
        self.widget = w.VBox([w.HTML(HINT), self.index, self.grid])
        self.clear()

    def show(self, lens) -> None:
        """Draw `lens` (sequence 0 first); None clears and hides the panel."""
        if lens is None:
            self.clear()
            return
        self.shown = lens
        batch = lens.top_ids.shape[1]
        with self.index.hold_trait_notifications():
            self.index.options = list(range(batch))
            self.index.value = 0
        self.index.layout.display = None if batch > 1 else "none"
        self.widget.layout.display = None
        self._draw()

    def clear(self) -> None:
        """Nothing to show (no masked LM, or a new run): empty and hidden."""
        self.shown = None
        self.grid.value = ""
        self.widget.layout.display = "none"

    def _draw(self, change: Any = None) -> None:
        if self.shown is not None:
            self.grid.value = lens_html(self.shown, int(self.index.value))
