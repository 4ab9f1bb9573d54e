"""The Explorer's export: a view of the tab on screen, or the whole report.

A part of the `Explorer` controller (its base class), kept apart so that
explorer.py stays one screen of wiring. It gathers what the chosen view is
drawn from (the canvas's `view_state`, the panels' own choices, and every
result the session holds) and hands it to `export_view`, which draws the
file with the same code as the screen.
"""

from __future__ import annotations

from typing import Any

from distil_explorer.views.export import export_view


class ExportActions:
    """`export` of the Explorer, and what it takes beside the Trace."""

    def export(self, path: str, view: str | None = None):
        """Export a view of the tab on screen (.png/.svg) or everything (.html).

        `view` is one of the export bar's choices for that tab; None takes the
        one picked there. The head and model views, and the report, show what
        the canvas shows (`view_state`).
        """
        self.export_bar.status.value = ""
        view = self.export_bar.view.value if view is None else view
        if str(path).endswith(".html"):  # the whole Trace, open on the head shown
            view = "head"
        attention, hidden = self.attention_panel, self.hidden_panel
        trace, options = self.trace, self._result_options()
        layer, head = attention.canvas.layer, attention.canvas.head
        if view in ("head", "model"):
            options["state"] = self.view_state  # as the canvas shows them
        elif view == "query/key":
            options["query"], options["key"] = attention.query_key_pair or (None, None)
        elif view == "pca":
            layer = hidden.layer.value
        elif view == "rollout":
            layer = hidden.rollout_layer.value
        elif view == "compare":
            comparison = self.compare_panel.comparison
            if comparison is None or comparison.b is None:
                raise ValueError(
                    "compare: no A and B yet; allowed: keep a run as A, then run "
                    "the same input again"
                )
            trace, options["other"] = comparison.a, comparison.b
            options["labels"] = (comparison.a_label, comparison.b_label)
            layer, head = self.compare_panel.layer.value, self.compare_panel.head.value
        rows = None if self.session.backbone is None else self.session.parameter_rows
        written = export_view(path, trace, view, layer, head, rows=rows, **options)
        self.export_bar.written(written)
        return written

    def _result_options(self) -> dict[str, Any]:
        """What the export takes beside the Trace: every result the session
        holds (each None while there is none) and the canvas's context mixing,
        as far as computed."""
        session = self.session
        return {
            "attribution": session.attribution,
            "patching": session.patching,
            "importance": session.importance,
            "corpus": session.corpus,
            "lens": session.lens,
            "mixing": self.attention_panel.canvas.mixing,
        }
