"""The export bar under the explorer's tabs: which view, to which file, and a button."""

from __future__ import annotations

import ipywidgets as w

from distil_explorer.views.feedback import ErrorArea
from distil_explorer.views.html_text import text as escaped

# The views each tab draws, the one usually on screen first.
TAB_VIEWS = {
    "Build": ("parameters",),
    "Run": ("head", "model"),
    "Attention": ("head", "model", "query/key"),
    "Hidden states": ("hidden states", "pca", "rollout"),
    "Parameters": ("parameters",),
    "Compare": ("compare",),
    "Attribution": ("attribution",),
    "Corpus": ("corpus",),
}


class ExportBar:
    """A view picker that follows the tab, a file name and an Export button.

    The picker offers the views of the tab on screen; a name ending in .png
    or .svg writes that view, .html writes the whole report.
    """

    def __init__(self) -> None:
        self.view = w.Dropdown(
            options=TAB_VIEWS["Build"],
            description="view",
            layout=w.Layout(width="220px"),
        )
        self.name = w.Text(
            value="attention.png",
            description="export to",
            placeholder="name.png, .svg or .html",
        )
        self.button = w.Button(description="Export", icon="download")
        self.status = w.HTML()
        self.error = ErrorArea()
        self.widget = w.VBox(
            [
                w.HBox([self.view, self.name, self.button, self.status]),
                self.error.widget,
            ]
        )

    def follow(self, tab: str, on_screen: str | None = None) -> None:
        """Offer the views of `tab`, choosing `on_screen` when it is one of them."""
        options = TAB_VIEWS[tab]
        self.view.options = options
        self.view.value = on_screen if on_screen in options else options[0]

    def written(self, path) -> None:
        self.status.value = escaped(f"wrote {path}")
