"""The Parameters panel: the parameter table as a table and a bar chart."""

from __future__ import annotations

import ipywidgets as w

from distil_explorer.analysis.params import ParameterRow
from distil_explorer.views.figures import PANEL_DPI, figure_png, image_widget, show_png
from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.plots import plot_parameters


def rows_html(rows: list[ParameterRow]) -> str:
    """An HTML table of parameter rows with the total in its last line."""
    body = "".join(
        f"<tr><td>{escaped(r.block)}</td><td>{escaped(r.component)}</td>"
        f"<td>{r.variable}</td><td>{r.shape}</td>"
        f"<td style='text-align:right'>{r.params:,}</td></tr>"
        for r in rows
    )
    total = sum(r.params for r in rows)
    return (
        "<div style='max-height:320px;overflow:auto'><table style='font-size:11px'>"
        "<tr><th>block</th><th>component</th><th>variable</th><th>shape</th>"
        f"<th>params</th></tr>{body}<tr><th colspan=4>total</th>"
        f"<th style='text-align:right'>{total:,}</th></tr></table></div>"
    )


class ParamsPanel:
    """Where a backbone's parameters are: drawn from its rows, once per build."""

    def __init__(self) -> None:
        self.chart = image_widget()
        self.table = w.HTML()
        self.widget = w.VBox([self.chart, self.table])

    def show(self, rows: list[ParameterRow]) -> None:
        """Draw `rows` (`Session.parameter_rows`)."""
        show_png(self.chart, figure_png(plot_parameters(rows), PANEL_DPI))
        self.table.value = rows_html(rows)
