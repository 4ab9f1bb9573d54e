"""The Attention panel: the interactive canvas plus per-head summaries."""

from __future__ import annotations

import html
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


def summary_table(values: np.ndarray, title: str) -> str:
    """An HTML layer x head table, cells shaded by value (NaN left blank).

    Examples:
    ```python
    summary_table(np.array([[0.1, 0.9]]), "entropy")
    ```
    """
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    head = "".join(f"<th>H{h}</th>" for h in range(values.shape[1]))
    rows = []
    for layer, row in enumerate(values):
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
        self.layer = w.IntSlider(min=0, max=0, description="layer")
        self.head = w.IntSlider(min=0, max=0, description="head")
        self.mode = w.ToggleButtons(options=["head", "model"], value="head")
        self.style = w.ToggleButtons(options=["lines", "heatmap"], value="lines")
        self.metric = w.Dropdown(options=list(METRICS), description="summary")
        self.table = w.HTML()
        self.mask_button = w.Button(description="Mask token", icon="eye-slash")
        self.remove_button = w.Button(description="Remove token", icon="trash")
        self.restore_button = w.Button(description="Restore original", icon="undo")
        self.effect = w.HTML("Click a token in the head view, then mask or remove it.")
        self.query_key = w.Image(format="png")
        self.query_key_note = w.HTML(
            "<b>Query/key view</b>: click a token to see which dimensions make its "
            "strongest score in this head."
        )
        for name in ("selected_token", "layer", "head"):
            self.canvas.observe(self._draw_query_key, names=name)
        w.link((self.layer, "value"), (self.canvas, "layer"))
        w.link((self.head, "value"), (self.canvas, "head"))
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

    def show(self, trace, special_ids: tuple[int, ...]) -> None:
        self.layer.value = self.head.value = 0
        self.layer.max, self.head.max = trace.num_layers - 1, trace.num_heads - 1
        self.canvas.set_trace(trace, layer=0, head=0)
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
                "Query/key view: this run kept no queries and keys (runs in a "
                "worker process do not)."
            )
            return
        layer, head = self.canvas.layer, self.canvas.head
        real = int(trace.padding_mask[0].sum())
        key = int(np.argmax(trace.attentions[layer, 0, head, query, :real]))
        figure = plot_query_key(trace, layer, head, query, key)
        self.query_key.value = figure_png(figure)

    def _draw_table(self, change: Any = None) -> None:
        if self._summary is not None:
            values = getattr(self._summary, METRICS[self.metric.value])[:, 0]
            self.table.value = summary_table(values, self.metric.value)


def effect_html(effect, token: str) -> str:
    """An intervention's effect: attention change per head, hidden-state cosine."""
    title = f"attention change (total variation) after {effect.action}ing {token!r}"
    lowest = np.nanmin(effect.hidden_cosine, axis=1)
    layers = " ".join(f"{i}: {value:.3f}" for i, value in enumerate(lowest))
    return (
        summary_table(effect.attention_change, title)
        + "<div>lowest cosine of another token's state, per hidden state: "
        + html.escape(layers)
        + "</div>"
    )
