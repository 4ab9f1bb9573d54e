"""The Compare panel: kept run A, the run on screen B, how they differ."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np

from distil_explorer.analysis.compare import TraceDifference
from distil_explorer.config import PRECISIONS
from distil_explorer.views.attention_panel import summary_table
from distil_explorer.views.compare_plots import plot_difference
from distil_explorer.views.feedback import ErrorArea, Progress
from distil_explorer.views.figures import PANEL_DPI, figure_png, image_widget, show_png
from distil_explorer.views.html_text import text as escaped
from distil_explorer.views.task_html import compared_classes_html

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
    lines += [f"not compared: {escaped(note)}" for note in difference.notes]
    return "<br>".join(lines)


class ComparePanel:
    """Draws a `Session.comparison()`: A, B, their summary and one head's figure.

    The figure is drawn from the two cached Traces: moving a slider never
    reruns the model. The keep button is wired by the Explorer.
    """

    def __init__(self) -> None:
        self.keep_button = w.Button(
            description="Keep this run as A",
            icon="thumb-tack",
            disabled=True,
            layout=w.Layout(width="auto", min_width="190px"),
        )
        self.message = w.HTML(NO_A)
        self.keep_error = ErrorArea()
        self.summary = w.HTML()
        self.classes = w.HTML()  # class probabilities of A and B (classifiers)
        # Options are model indices: a Trace may hold only some layers and heads.
        self.layer = w.SelectionSlider(options=[0], description="layer")
        self.head = w.SelectionSlider(options=[0], description="head")
        self.sliders = w.HBox([self.layer, self.head], layout=w.Layout(display="none"))
        self.figure = image_widget()
        self.comparison = None
        self.on_screen = "float32"  # the backbone's precision
        self._pngs: dict[tuple[int, int], bytes] = {}
        self._drawing = False
        for slider in (self.layer, self.head):
            slider.observe(self._on_slider, names="value")
        choices = [p for p in PRECISIONS if p != "float32"]
        self.precisions = w.SelectMultiple(
            options=choices,
            value=("bfloat16", "int8"),
            description="precisions",
            rows=len(choices),  # every choice in sight, the chosen ones too
        )
        self.precision_button = w.Button(
            description="Run at these precisions",
            icon="balance-scale",
            disabled=True,
            layout=w.Layout(width="auto", min_width="200px"),
        )
        self.precision_progress = Progress()
        self.precision_error = ErrorArea()
        self.precision_table = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([self.keep_button, self.message]),
                self.keep_error.widget,
                self.summary,
                self.classes,
                self.sliders,
                self.figure,
                w.HTML(
                    "<b>Precision</b>: the run on screen against the same weights at "
                    "other precisions, every attention map (max and mean |A - B| "
                    "per head)."
                ),
                w.HBox([self.precisions, self.precision_button]),
                self.precision_error.widget,
                self.precision_progress.widget,
                self.precision_table,
            ]
        )

    def built(self, precision: str) -> None:
        """Offer every precision but the backbone's own (`precision`): the run
        on screen is already that one, compared with itself it says 0."""
        self.on_screen = precision
        choices = [p for p in PRECISIONS if p != precision]
        kept = [p for p in self.precisions.value if p in choices]
        self.precisions.options = choices
        self.precisions.rows = len(choices)
        self.precisions.value = tuple(kept or choices[:1])
        self.precision_table.value = ""

    @property
    def b(self):
        """Trace B on screen, or None."""
        return None if self.comparison is None else self.comparison.b

    def show(self, comparison, can_keep: bool, classes=None) -> None:
        """Draw `comparison` (None: no A kept); `can_keep`: a run is on screen;
        `classes`: (A's, B's) class probabilities (`Session.compared_classes`)."""
        self.classes.value = compared_classes_html(classes, ("A", "B"))
        self.keep_button.disabled = not can_keep
        self.precision_button.disabled = not can_keep
        self.precision_table.value = ""  # of the run before, if any
        self.comparison, self._pngs = comparison, {}
        self.summary.value = ""
        self._show_figure(b"")
        self.sliders.layout.display = "none"
        if comparison is None:
            self.message.value = NO_A
            return
        a_text = f"<b>A</b>: {escaped(comparison.a_label)}"
        if comparison.b is None:
            self.message.value = (
                f"{a_text}<br>{escaped(comparison.problem or '')}. Change the "
                "backend, device, dtype or model and run A's input: that run is B."
            )
            return
        self.message.value = f"{a_text}<br><b>B</b>: {escaped(comparison.b_label)}"
        difference = comparison.difference
        self.summary.value = difference_html(difference)
        values = difference.attention_max
        if values is None:
            return
        # Open on the head that differs most, sliders set before any draw.
        row, column = np.unravel_index(np.argmax(values), values.shape)
        self._drawing = True
        try:
            self.layer.options = difference.attention_layers
            self.head.options = difference.attention_heads
            self.layer.value = difference.attention_layers[row]
            self.head.value = difference.attention_heads[column]
        finally:
            self._drawing = False
        self.sliders.layout.display = None
        self.draw()

    def draw(self) -> None:
        """Draw the figure for the layer and head on the sliders."""
        comparison = self.comparison
        if comparison is None or comparison.b is None:
            return
        if comparison.difference.attention_max is None:
            return
        key = (self.layer.value, self.head.value)
        if key not in self._pngs:
            figure = plot_difference(
                comparison.a,
                comparison.b,
                *key,
                a_label=comparison.a_label,
                b_label=comparison.b_label,
            )
            self._pngs[key] = figure_png(figure, PANEL_DPI)
        self._show_figure(self._pngs[key])

    def _on_slider(self, change: Any) -> None:
        if not self._drawing:
            self.draw()

    def _show_figure(self, png: bytes) -> None:
        show_png(self.figure, png)

    def show_precisions(self, result) -> None:
        """Draw a `PrecisionComparison`: per precision, max and mean |A - B|."""
        parts = []
        reference = escaped(self.on_screen)
        for precision, difference in zip(
            result.precisions, result.differences, strict=True
        ):
            largest, mean = difference.attention_max, difference.attention_mean
            if largest is None:
                parts.append(f"<p>{escaped(precision)}: maps not compared</p>")
                continue
            layers, heads = difference.attention_layers, difference.attention_heads
            # Each table under its own title, side by side while they fit.
            parts.append(
                f"<h4 style='margin:12px 0 4px'>{escaped(precision)} against the "
                f"run on screen ({reference})</h4><p style='margin:0 0 6px'>"
                f"largest |A - B| {largest.max():.3g}, mean {mean.mean():.3g}; "
                f"last hidden state moves up to {difference.hidden_max[-1]:.3g}</p>"
                "<div style='display:flex;gap:24px;flex-wrap:wrap;"
                "align-items:flex-start'>"
                + summary_table(largest, "max |A - B| per head", layers, heads)
                + summary_table(mean, "mean |A - B| per head", layers, heads)
                + "</div>"
            )
        self.precision_table.value = "".join(parts)
