"""The export bar under the explorer's tabs: which view, to which file, and a button."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from distil_explorer.views.export import default_name
from distil_explorer.views.registry import FILE_NAMES, TABS, tab_views

# The views each tab draws, the one usually on screen first (the registry's).
TAB_VIEWS = {tab: tab_views(tab) for tab in TABS}


class ExportBar:
    """A view picker that follows the tab, a file name, Export and Report buttons.

    The picker offers the views of the tab on screen; the file name follows
    the view (head_view.png, model_view.png, ...) until a person types one.
    A name ending in .png or .svg writes that view, .html the whole report;
    the Report button writes report.html, open on what the canvas shows.
    """

    def __init__(self) -> None:
        self.view = w.Dropdown(
            options=TAB_VIEWS["Build"],
            description="view",
            layout=w.Layout(width="220px"),
        )
        self.name = w.Text(
            value=default_name("parameters"),
            description="export to",
            placeholder="name.png, .svg or .html",
        )
        self.button = w.Button(description="Export", icon="download")
        self.report_button = w.Button(
            description="Report (.html)",
            icon="file-code-o",
            tooltip="one HTML file of the Trace, open on the view on screen",
        )
        self.status = w.HTML()
        self.widget = w.HBox(
            [self.view, self.name, self.button, self.report_button, self.status]
        )
        self.view.observe(self._on_view, names="value")

    def follow(self, tab: str, on_screen: str | None = None) -> None:
        """Offer the views of `tab`, choosing `on_screen` when it is one of them."""
        options = TAB_VIEWS[tab]
        if tuple(self.view.options) != options:
            self.view.options = options
            self.status.value = ""  # "wrote ..." belongs to the tab it was said in
        self.view.value = on_screen if on_screen in options else options[0]

    def _on_view(self, change: Any) -> None:
        """A name a person did not type follows the view."""
        stem, dot, suffix = self.name.value.strip().rpartition(".")
        if not self.name.value.strip() or stem in FILE_NAMES.values():
            ending = f".{suffix}" if dot and suffix in ("png", "svg") else ".png"
            if change.new is not None:
                self.name.value = default_name(change.new, ending)

    def report_path(self) -> str:
        """report.html, in the folder of the name typed (the working folder)."""
        from pathlib import Path

        return str(Path(self.name.value.strip() or "x").parent / "report.html")

    def written(self, path) -> None:
        self.status.value = html.escape(f"wrote {path}")
