"""The Attention panel: the interactive canvas plus per-head summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import numpy as np

from distil_explorer.analysis.attention import head_summary
from distil_explorer.views.attention_widget import AttentionWidget
from distil_explorer.views.feedback import ErrorArea, Progress
from distil_explorer.views.figures import PANEL_DPI, figure_png, image_widget, show_png
from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.lens_panel import LensPanel
from distil_explorer.views.task_html import predictions_html
from distil_explorer.views.weighting import LABELS

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
    # One block: in a flex row the title stays on top of its own table.
    return (
        f"<div class='de-summary'><b>{escaped(title)}</b><table style='border-"
        f"collapse:collapse;font-size:12px'><tr><th></th>{head}</tr>"
        f"{''.join(rows)}</table></div>"
    )


class AttentionPanel:
    """The attention canvas, with the controls that act on what it shows.

    Beside the head view: the pinned token with Mask / Remove / Restore (the
    Explorer wires them to the session) and the query/key view of that
    token's strongest score in the head shown. Below: per-head summaries.
    Layer, head and view are chosen in the canvas's own bar; a new Trace
    clamps every choice there before anything is drawn. A context-mixing
    weighting chosen there (or kept for a new Trace) whose maps the canvas
    lacks is asked of the controller (`on_mixing`), with a progress line; if
    none comes (its error shows in `error`), the canvas goes back to the
    attention weights.
    """

    def __init__(self) -> None:
        self.canvas = AttentionWidget(layout=w.Layout(width="100%", min_width="0"))
        self.token = w.HTML(_NO_TOKEN)
        self.mask_button = w.Button(
            description="Mask token", icon="eye-slash", disabled=True
        )
        self.remove_button = w.Button(
            description="Remove token", icon="trash", disabled=True
        )
        self.restore_button = w.Button(
            description="Restore original", icon="undo", disabled=True
        )
        self.effect = w.HTML()
        self.predictions = w.HTML()  # a masked LM's guesses for a masked token
        self.error = ErrorArea()
        self.progress = Progress()
        self._compute = None  # method -> None: the controller computes mixing
        self.query_key_note = w.HTML(_QUERY_KEY_HINT)
        self.query_key = image_widget()
        self.query_key_pair: tuple[int, int] | None = None  # (query, key) drawn
        # A masked LM's predictions by layer, below the canvas (hidden otherwise).
        self.lens = LensPanel()
        self.metric = w.Dropdown(options=list(METRICS), description="summary")
        self.table = w.HTML()
        self._summary = None
        self._can_mask = False
        # The canvas's own bar picks layer, head and view: one set of controls.
        self.canvas.observe(self._on_canvas, names=["layer", "head", "index"])
        self.canvas.observe(self._on_token, names="selected_token")
        self.canvas.observe(self._fetch_mixing, names="weighting")
        self.metric.observe(self._draw_table, names="value")
        side = w.VBox(
            [
                w.HTML("<b>Token intervention</b>"),
                self.token,
                w.HBox([self.mask_button, self.remove_button]),
                self.restore_button,
                self.error.widget,
                self.progress.widget,
                self.predictions,
                self.effect,
                self.query_key_note,
                self.query_key,
            ],
            layout=w.Layout(min_width="320px", max_width="560px"),
        )
        self.widget = w.VBox(
            [
                w.HBox(
                    [
                        # It grows into the row's free width (the head view
                        # uses what it gets); a masked LM's lens sits under it.
                        w.VBox(
                            [self.canvas, self.lens.widget],
                            layout=w.Layout(flex="1 1 720px", min_width="0"),
                        ),
                        side,
                    ],
                    layout=w.Layout(flex_flow="row wrap", align_items="flex-start"),
                ),
                self.metric,
                self.table,
            ]
        )

    def show(
        self,
        trace,
        special_ids: tuple[int, ...],
        can_mask: bool,
        can_restore: bool,
        state=None,
    ) -> None:
        """Show `trace` with `state` (a ViewState reconciled with it; None:
        the canvas reconciles its own).

        `can_mask`: a tokenizer gives [MASK]; `can_restore`: the Trace is an
        intervention's (the original can come back).
        """
        self._can_mask = can_mask
        self.restore_button.disabled = not can_restore
        if state is None:
            self.canvas.set_trace(trace)
        else:
            self.canvas.show(trace, state)
        self.query_key_pair = None
        self.predictions.value = ""  # of the Trace before
        self._on_token()
        self._summary = head_summary(trace, special_ids)
        self._draw_table()
        self._fetch_mixing()

    def on_mixing(self, compute) -> None:
        """`compute(method)` is called when the canvas needs that mixing
        weighting's maps; it hands them over with `show_mixing`."""
        self._compute = compute

    def show_mixing(self, mixing) -> None:
        """Draw `mixing` (a ContextMixing of the Trace shown) where chosen."""
        self.canvas.set_mixing(mixing)

    def _fetch_mixing(self, change: Any = None) -> None:
        method = self.canvas.missing_mixing()
        if method is None or self._compute is None:
            return
        self.progress.step(f"computing {LABELS[method]} of every layer")
        try:
            self._compute(method)
        finally:
            self.progress.finish()
        if self.canvas.missing_mixing() == method:  # it failed: its error shows
            self.canvas.choose(weighting="weights")

    def clear(self, state=None) -> None:
        """Nothing run on this backbone yet: nothing drawn, no token, no effect,
        no buttons (`state`: the ViewState reconciled with no Trace)."""
        if state is None:
            self.canvas.clear()
        else:
            self.canvas.show(None, state)
        self.query_key_pair = None
        show_png(self.query_key, b"")
        self.query_key_note.value = _QUERY_KEY_HINT
        self.token.value = _NO_TOKEN
        self.mask_button.disabled = self.remove_button.disabled = True
        self.restore_button.disabled = True
        self.effect.value = self.predictions.value = ""
        self._summary, self.table.value = None, ""

    def show_effect(self, text: str, predictions=None, token: str = "") -> None:
        """The effect table of the last intervention (or a line of text), and
        a masked LM's `MaskedPredictions` where `token` was masked (or None)."""
        self.effect.value = text
        self.predictions.value = predictions_html(predictions, token)

    def _on_canvas(self, change: Any) -> None:
        self._draw_query_key()

    def _on_token(self, change: Any = None) -> None:
        position = self.canvas.selected_token
        pinned = position >= 0
        self.mask_button.disabled = not (pinned and self._can_mask)
        self.remove_button.disabled = not pinned or len(self.canvas.tokens) < 2
        if pinned:
            name = escaped(self.canvas.tokens[position])
            self.token.value = f"Pinned token {position}: <b>{name}</b>"
        else:
            self.token.value = _NO_TOKEN
        if self.canvas.tokens and not self._can_mask:
            self.token.value += f"<br><i>{_NO_MASK}</i>"
        self._draw_query_key()

    def _draw_query_key(self) -> None:
        from distil_explorer.views.plots import plot_query_key

        trace, query = self.canvas.trace, self.canvas.selected_token
        if trace is None or query < 0:
            self.query_key_pair = None
            show_png(self.query_key, b"")
            self.query_key_note.value = _QUERY_KEY_HINT
            return
        if trace.queries is None:
            self.query_key_note.value = (
                "Query/key view: this Trace kept no queries and keys; allowed: "
                "capture(..., keep_qk=True)."
            )
            return
        layer, head, index = self.canvas.layer, self.canvas.head, self.canvas.index
        real = np.flatnonzero(trace.padding_mask[index])
        row = trace.attention(layer, head, index)[real[query], real]
        key = int(np.argmax(row))
        # The canvas counts real tokens; the Trace counts positions.
        self.query_key_pair = (int(real[query]), int(real[key]))
        figure = plot_query_key(trace, layer, head, *self.query_key_pair, index)
        show_png(self.query_key, figure_png(figure, PANEL_DPI))
        self.query_key_note.value = (
            f"<b>Query/key view</b>, layer {layer}, head {head}: which dimensions "
            f"make the score of {escaped(repr(self.canvas.tokens[query]))} on its "
            f"strongest key {escaped(repr(self.canvas.tokens[key]))}."
        )

    def _draw_table(self, change: Any = None) -> None:
        if self._summary is not None:
            values = getattr(self._summary, METRICS[self.metric.value])[:, 0]
            summary = self._summary
            self.table.value = summary_table(
                values, self.metric.value, summary.layers, summary.heads
            )


_GERUNDS = {"mask": "masking", "remove": "removing"}
_NO_TOKEN = "No token pinned: click a token in the head view."
_NO_MASK = (
    "Mask token is off: this model has no tokenizer, so no [MASK] token "
    "(Remove token works)."
)
_QUERY_KEY_HINT = (
    "<b>Query/key view</b>: pin a token to see which dimensions make its "
    "strongest score in this head."
)


def effect_html(effect, token: str, layers=None, heads=None) -> str:
    """An intervention's effect: attention change per head, hidden-state cosine.

    `layers` and `heads` label the table (the Trace's attention_layers/heads).
    """
    doing = _GERUNDS.get(effect.action, f"{effect.action}ing")
    title = f"attention change (total variation) after {doing} {token!r}"
    lowest = np.nanmin(effect.hidden_cosine, axis=1)
    per_state = " ".join(f"{i}: {value:.3f}" for i, value in enumerate(lowest))
    return (
        summary_table(effect.attention_change, title, layers, heads)
        + "<div>lowest cosine of another token's state, per hidden state: "
        + escaped(per_state)
        + "</div>"
    )
