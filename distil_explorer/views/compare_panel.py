"""The Compare panel: keep one run as A, and see how each later run (B) differs."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np

from distil_explorer.analysis.compare import TraceDifference, compare_traces
from distil_explorer.views.compare_plots import plot_difference, trace_label
from distil_explorer.views.figures import figure_png

NO_A = (
    "No A yet. Run something, then press <b>Keep this run as A</b>; every later "
    "run of the same input (another backend, device, dtype or model) is B."
)


def difference_html(difference: TraceDifference) -> str:
    """The summary of a `TraceDifference` as a few lines of HTML.

    Examples:
    ```python
    difference_html(compare_traces(a, b))  # "largest |A - B|: 3.1e-07 ..."
    ```
    """
    lines = [f"<b>largest |A - B|</b>: {difference.max_abs:.3g}"]
    if difference.hidden_max is not None:
        where = int(np.argmax(difference.hidden_max))
        lines.append(
            f"hidden states: {difference.hidden_max[where]:.3g} at hidden state "
            f"{where} (0 = embeddings)"
        )
    if difference.attention_max is not None:
        values = difference.attention_max
        row, column = np.unravel_index(np.argmax(values), values.shape)
        layer = difference.attention_layers[row]
        head = difference.attention_heads[column]
        lines.append(
            f"attention: {values[row, column]:.3g} at layer {layer}, head {head}"
        )
    lines += [f"not compared: {html.escape(note)}" for note in difference.notes]
    return "<br>".join(lines)


class ComparePanel:
    """A pinned Trace (A), the latest run (B), their summary and figure.

    `show` is called with every run; `keep` pins the latest run as A. The
    figure is drawn from the two cached Traces: moving a slider never reruns
    the model.
    """

    def __init__(self) -> None:
        self.keep_button = w.Button(
            description="Keep this run as A", icon="thumb-tack", disabled=True
        )
        self.message = w.HTML(NO_A)
        self.summary = w.HTML()
        # Options are model indices: a Trace may hold only some layers and heads.
        self.layer = w.SelectionSlider(options=[0], description="layer")
        self.head = w.SelectionSlider(options=[0], description="head")
        self.figure = w.Image(format="png")
        self.a = self.b = self.latest = None  # (Trace, label) pairs
        self.difference: TraceDifference | None = None
        self._pngs: dict[tuple[int, int], bytes] = {}
        self.widget = w.VBox(
            [
                w.HBox([self.keep_button, self.message]),
                self.summary,
                w.HBox([self.layer, self.head]),
                self.figure,
            ]
        )

    def show(self, trace, model: str = "") -> None:
        """Take a new run: it becomes B when an A is kept, else the run to keep."""
        label = trace_label(trace)
        self.latest = (trace, f"{model}: {label}" if model else label)
        self.keep_button.disabled = False
        if self.a is None:
            self.message.value = NO_A
            return
        self._compare()

    def keep(self) -> None:
        """Pin the latest run as A; the next run of the same input is B."""
        if self.latest is None:
            raise ValueError("keep: no run yet; allowed: run first, then keep it as A")
        self.a, self.b, self.difference = self.latest, None, None
        self._clear()
        self.message.value = (
            f"<b>A</b>: {html.escape(self.a[1])}. Now change the backend, device, "
            "dtype or model and run the same input again: that run is B."
        )

    def draw(self, change: Any = None) -> None:
        """Draw the figure for the layer and head on the sliders."""
        if self.b is None or self.difference.attention_max is None:
            return
        key = (self.layer.value, self.head.value)
        if key not in self._pngs:
            figure = plot_difference(
                self.a[0],
                self.b[0],
                *key,
                a_label=self.a[1],
                b_label=self.b[1],
            )
            self._pngs[key] = figure_png(figure)
        self.figure.value = self._pngs[key]

    def _compare(self) -> None:
        (a, a_label), (b, b_label) = self.a, self.latest
        self.b, self.difference = None, None
        self._clear()
        try:
            difference = compare_traces(a, b)
        except ValueError as error:  # a new input is no error: it cannot be B
            self.message.value = (
                "<b>A and this run are of different inputs</b>: "
                f"{html.escape(str(error))}. Run A's input again, or keep this run "
                "as the new A."
            )
            return
        self.message.value = (
            f"<b>A</b>: {html.escape(a_label)}<br><b>B</b>: {html.escape(b_label)}"
        )
        self.summary.value = difference_html(difference)
        values = difference.attention_max
        self.layer.disabled = self.head.disabled = values is None
        if values is not None:
            # Open on the head that differs most; B is set last so that moving
            # the sliders here draws nothing until both are in place.
            row, column = np.unravel_index(np.argmax(values), values.shape)
            self.layer.options = difference.attention_layers
            self.head.options = difference.attention_heads
            self.layer.value = difference.attention_layers[row]
            self.head.value = difference.attention_heads[column]
        self.b, self.difference = self.latest, difference
        self.draw()

    def _clear(self) -> None:
        self._pngs = {}
        self.summary.value = ""
        self.figure.value = b""
