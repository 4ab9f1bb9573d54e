"""The Attribution panel: pick a target and a method, see each token's score."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from distil_explorer.views.attribution_plots import attribution_html, plot_attribution
from distil_explorer.views.feedback import ErrorArea, Progress
from distil_explorer.views.figures import PANEL_DPI, figure_png, image_widget, show_png
from distil_explorer.views.html_text import text as escaped

TARGETS = (
    ("[CLS] norm", "cls_norm"),
    ("similarity with a second text", "similarity"),
)
METHODS = (
    ("integrated gradients", "integrated_gradients"),
    ("gradient x input", "gradient_x_input"),
    ("attention x gradient", "attention_x_gradient"),
)
HINT = (
    "Which tokens make the number on the left? Red raises it, blue lowers it "
    "(from a baseline with [PAD] in place of every word, [CLS] and [SEP] kept)."
)


class AttributionPanel:
    """The controls of one attribution and what it found; draws only.

    The Explorer wires `button` to `Session.attribute` with `request()` and
    hands the result to `show`.
    """

    def __init__(self) -> None:
        self.target = w.Dropdown(
            options=TARGETS, value="cls_norm", description="target"
        )
        self.other_text = w.Textarea(
            value="A kitten is resting on a rug.",
            description="second text",
            layout=w.Layout(width="95%", display="none"),
        )
        self.method = w.Dropdown(
            options=METHODS, value="integrated_gradients", description="method"
        )
        self.steps = w.BoundedIntText(value=32, min=1, max=512, description="steps")
        self.button = w.Button(description="Attribute", button_style="primary")
        self.status = w.HTML()
        self.error = ErrorArea()
        self.progress = Progress()
        self.shown = None  # the Attribution drawn, or None
        self.strip = w.HTML()
        self.chart = image_widget()
        self.target.observe(self._follow_target, names="value")
        self.method.observe(self._follow_method, names="value")
        self.widget = w.VBox(
            [
                w.HTML(HINT),
                w.HBox([self.target, self.method, self.steps]),
                self.other_text,
                w.HBox([self.button, self.status]),
                self.error.widget,
                self.progress.widget,
                self.strip,
                self.chart,
            ]
        )
        self.set_ready(None, ran=False)

    def set_targets(self, task_targets, value: str) -> None:
        """Offer the built head's targets (`Session.task_targets`: (label, key)
        pairs) after the backbone's, with `value` chosen (reconciled)."""
        options = TARGETS + tuple(task_targets)
        if tuple(self.target.options) != options:
            self.target.options = options
        self.target.value = value

    def request(self, pinned: int = -1) -> dict[str, Any]:
        """What `Session.attribute` is asked for, from the controls; `pinned`
        (the token pinned in the head view, -1: none) is the position of the
        "original_token" target."""
        request = {**self.target_request(pinned), "method": self.method.value}
        if self.method.value == "integrated_gradients":
            request["steps"] = int(self.steps.value)
        return request

    def target_request(self, pinned: int = -1) -> dict[str, Any]:
        """The target chosen (`target`, `other_text`, `position`), as
        `Session.attribute` and the Causal tab's `Session.patch` and
        `head_importance` take it; `pinned` as `request` takes it."""
        request = {"target": self.target.value}
        if self.target.value == "original_token":
            request["position"] = pinned if pinned >= 0 else None
        if self.target.value == "similarity":
            request["other_text"] = self.other_text.value
        return request

    def target_controls(self) -> tuple[w.Widget, ...]:
        """The widgets that choose the target: the Causal tab shows these same
        objects, so a choice made in one tab is the choice in the other."""
        return (self.target, self.other_text)

    def set_ready(self, problem: str | None, ran: bool) -> None:
        """Attribute is on when the backbone allows it (`problem` None) and a
        run is on screen (`ran`); if not, the reason shows beside the button."""
        if problem is None and not ran:
            problem = "run some text first (the Run tab)"
        self.button.disabled = problem is not None
        why = "" if problem is None else f"<i>Attribute is off: {escaped(problem)}</i>"
        self.status.value = why

    def working_text(self, request: dict[str, Any]) -> str:
        """What the progress line says while `request` runs."""
        method = dict((v, k) for k, v in METHODS)[request["method"]]
        steps = request.get("steps")
        return f"attributing with {method}" + (f", {steps} steps" if steps else "")

    def show(self, attribution) -> None:
        """Draw `attribution` (sequence 0): the coloured strip and the chart."""
        self.shown = attribution
        self.strip.value = attribution_html(attribution)
        show_png(self.chart, figure_png(plot_attribution(attribution), PANEL_DPI))
        self.status.value = escaped(f"{attribution.backend}: {attribution.target}")

    def clear(self) -> None:
        """Nothing attributed for the Trace on screen (a new run or build)."""
        self.shown = None
        self.strip.value = ""
        show_png(self.chart, b"")

    def _follow_target(self, change: Any = None) -> None:
        similar = self.target.value == "similarity"
        self.other_text.layout.display = None if similar else "none"

    def _follow_method(self, change: Any = None) -> None:
        self.steps.disabled = self.method.value != "integrated_gradients"
