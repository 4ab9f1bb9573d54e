"""The Attention panel: the interactive canvas plus per-head summaries."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np

from distil_explorer.analysis.attention import head_summary
from distil_explorer.views.attention_widget import AttentionWidget

METRICS = {
    "entropy (nats)": "entropy",
    "mean distance (tokens)": "distance",
    "share on [CLS]/[SEP] (first/last id without a tokenizer)": "special_share",
    "share on itself": "self_share",
    "share on previous token": "previous_share",
}


def summary_table(
    values: np.ndarray,
    title: str,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
) -> str:
    """An HTML layer x head table, cells shaded by value (NaN left blank).

    `layers` and `heads` label the rows and columns (model indices, e.g.
    `trace.attention_layers`); by default 0, 1, 2, ...

    Examples:
    ```python
    summary_table(np.array([[0.1, 0.9]]), "entropy")
    summary_table(np.array([[0.1, 0.9]]), "entropy", layers=[5], heads=[0, 3])
    ```
    """
    layers = range(values.shape[0]) if layers is None else layers
    heads = range(values.shape[1]) if heads is None else heads
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    head = "".join(f"<th>H{h}</th>" for h in heads)
    rows = []
    for layer, row in zip(layers, values, strict=True):
        cells = []
        for value in row:
            if not np.isfinite(value):
                cells.append("<td></td>")
                continue
            alpha = 0.85 * float(value) / top
            cells.append(
                f"<td style='background:rgba(31,119,180,{alpha:.2f});"
                f"padding:2px 6px;text-align:right'>{value:.2f}</td>"
            )
        rows.append(f"<tr><th>L{layer}</th>{''.join(cells)}</tr>")
    return (
        f"<b>{html.escape(title)}</b><table style='border-collapse:collapse;"
        f"font-size:11px'><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


class AttentionPanel:
    """Head view / model view canvas with layer and head controls."""

    def __init__(self) -> None:
        self.canvas = AttentionWidget()
        # Selection sliders: a Trace may hold only some layers and heads.
        self.layer = w.SelectionSlider(options=[0], description="layer")
        self.head = w.SelectionSlider(options=[0], description="head")
        self.mode = w.ToggleButtons(options=["head", "model"], value="head")
        self.style = w.ToggleButtons(options=["lines", "heatmap"], value="lines")
        self.metric = w.Dropdown(options=list(METRICS), description="summary")
        self.table = w.HTML()
        self.mask_button = w.Button(description="Mask token", icon="eye-slash")
        self.remove_button = w.Button(description="Remove token", icon="trash")
        self.restore_button = w.Button(description="Restore original", icon="undo")
        self.effect = w.HTML("Click a token in the head view, then mask or remove it.")
        self.query_key = w.Image(format="png")
        self.query_key_pair: tuple[int, int] | None = None  # (query, key) drawn
        self.query_key_note = w.HTML(
            "<b>Query/key view</b>: click a token to see which dimensions make its "
            "strongest score in this head."
        )
        for name in ("selected_token", "layer", "head"):
            self.canvas.observe(self._draw_query_key, names=name)
        self._links = self._link_sliders()
        w.link((self.mode, "value"), (self.canvas, "mode"))
        w.link((self.style, "value"), (self.canvas, "draw_style"))
        self.metric.observe(self._draw_table, names="value")
        self._summary = None
        self.widget = w.VBox(
            [
                w.HBox([self.mode, self.style]),
                w.HBox([self.layer, self.head]),
                self.canvas,
                self.metric,
                self.table,
            ]
        )

    def _link_sliders(self) -> list:
        return [
            w.link((self.layer, "value"), (self.canvas, "layer")),
            w.link((self.head, "value"), (self.canvas, "head")),
        ]

    def show(self, trace, special_ids: tuple[int, ...]) -> None:
        layer, head = trace.attention_layers[0], trace.attention_heads[0]
        # Unlinked while both sides change: each checks the other's options.
        for link in self._links:
            link.unlink()
        self.canvas.set_trace(trace, layer=layer, head=head)
        self.query_key_pair = None
        self.layer.options, self.head.options = (
            trace.attention_layers,
            trace.attention_heads,
        )
        self.layer.value, self.head.value = layer, head
        self._links = self._link_sliders()
        self._summary = head_summary(trace, special_ids)
        self._draw_table()

    def _draw_query_key(self, change: Any = None) -> None:
        from distil_explorer.views.figures import figure_png
        from distil_explorer.views.plots import plot_query_key

        trace, query = self.canvas.trace, self.canvas.selected_token
        if trace is None or query < 0:
            return
        if trace.queries is None:
            self.query_key_note.value = (
                "Query/key view: this Trace kept no queries and keys; allowed: "
                "capture(..., keep_qk=True)."
            )
            return
        layer, head = self.canvas.layer, self.canvas.head
        real = int(trace.padding_mask[0].sum())
        key = int(np.argmax(trace.attention(layer, head)[query, :real]))
        self.query_key_pair = (query, key)
        figure = plot_query_key(trace, layer, head, query, key)
        self.query_key.value = figure_png(figure)

    def _draw_table(self, change: Any = None) -> None:
        if self._summary is not None:
            values = getattr(self._summary, METRICS[self.metric.value])[:, 0]
            summary = self._summary
            self.table.value = summary_table(
                values, self.metric.value, summary.layers, summary.heads
            )


def effect_html(effect, token: str, layers=None, heads=None) -> str:
    """An intervention's effect: attention change per head, hidden-state cosine.

    `layers` and `heads` label the table (the Trace's attention_layers/heads).
    """
    title = f"attention change (total variation) after {effect.action}ing {token!r}"
    lowest = np.nanmin(effect.hidden_cosine, axis=1)
    per_state = " ".join(f"{i}: {value:.3f}" for i, value in enumerate(lowest))
    return (
        summary_table(effect.attention_change, title, layers, heads)
        + "<div>lowest cosine of another token's state, per hidden state: "
        + html.escape(per_state)
        + "</div>"
    )
