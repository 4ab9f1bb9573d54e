"""The Causal tab: activation patching, and head importance with ablation.

Patching: a corrupted text (the Run text with one word changed), the target
chosen in the Attribution tab (the same widgets, shown here too: one choice),
a Patch button and the hidden state x token heatmap. Heads: how importance is
measured, a Head importance button, and a layer x head grid of buttons
coloured by importance; clicking one switches that head off and re-runs,
"Restore all heads" switches every head back on. The panel only draws what
it is handed (`show`); the Explorer wires its buttons to the Session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np

from distil_explorer.views.causal_plots import (
    colours,
    head_label,
    importance_scale,
    importance_values,
    patching_html,
    scale_html,
)
from distil_explorer.views.colours import ink_on
from distil_explorer.views.feedback import ErrorArea, Progress
from distil_explorer.views.html_text import text as escaped

METHODS = (
    ("gradient |d target / d gate|", "gradient"),
    ("ablation: target(head off) - target", "ablation"),
)
PATCH_HINT = (
    "<b>Activation patching</b>: run the corrupted text, then put back one "
    "hidden state of the text on screen at a time. A cell near 1 carries what "
    "the target needs at that layer and token."
)
HEADS_HINT = (
    "<b>Heads</b>: click a head to switch it off and re-run the text on screen "
    "(every view marks it); click it again to switch it back on."
)
NEUTRAL = "#eeeeee"
OFF = "#9e9e9e"


def one_word_changed(text: str) -> str:
    """`text` with one word swapped, a first corrupted input to patch against.

    Examples:
    ```python
    one_word_changed("The cat sat on the mat.")  # 'The dog sat on the mat.'
    ```
    """
    pairs = ("cat dog", "good bad", "he she", "man woman", "big small", "happy sad")
    swaps = {a: b for pair in pairs for a, b in (pair.split(), pair.split()[::-1])}
    words = text.split(" ")
    for i, word in enumerate(words):
        core = word.strip(".,!?;:")
        if core.lower() in swaps:
            swap = swaps[core.lower()]
            words[i] = word.replace(
                core, swap.capitalize() if core[0].isupper() else swap
            )
            return " ".join(words)
    return text


class CausalPanel:
    """Widgets of the Causal tab.

    Args:
        target_controls: the Attribution tab's target widgets (the target
            dropdown, its second text): shown here as well, so that one
            choice serves both tabs.
        text: the Run tab's text, changed by a word for the corrupted box.
    """

    def __init__(self, target_controls: Sequence[w.Widget], text: str = "") -> None:
        self.corrupted = w.Textarea(
            value=one_word_changed(text),
            description="corrupted text",
            layout=w.Layout(width="95%"),
            style={"description_width": "initial"},
        )
        self.patch_button = w.Button(description="Patch", button_style="primary")
        self.patch_status = w.HTML()
        self.heatmap = w.HTML()
        self.method = w.Dropdown(
            options=METHODS,
            value="gradient",
            description="importance by",
            style={"description_width": "initial"},
            layout=w.Layout(width="380px"),
        )
        self.importance_button = w.Button(
            description="Head importance", button_style="primary"
        )
        self.restore_button = w.Button(
            description="Restore all heads", icon="undo", layout=w.Layout(width="auto")
        )
        self.heads_status = w.HTML()
        self.heads_scale = w.HTML()
        self.grid = w.GridBox([])
        self.error = ErrorArea()
        self.progress = Progress()
        self._prefilled = self.corrupted.value  # until a person edits it
        self._on_head: Callable[[int, int], None] = lambda *_: None
        self._shape = (0, 0)
        self.widget = w.VBox(
            [
                self.error.widget,
                self.progress.widget,
                w.HTML(PATCH_HINT),
                self.corrupted,
                *target_controls,
                w.HBox([self.patch_button, self.patch_status]),
                self.heatmap,
                w.HTML(HEADS_HINT),
                w.HBox([self.method, self.importance_button, self.restore_button]),
                self.heads_status,
                self.grid,
                self.heads_scale,
            ]
        )
        self.show(None, None, None)

    def follow_text(self, text: str) -> None:
        """Prefill the corrupted box from the Run tab's `text`, unless a
        person has typed in it."""
        if self.corrupted.value == self._prefilled:
            self.corrupted.value = self._prefilled = one_word_changed(text)

    def on_head(self, callback: Callable[[int, int], None]) -> None:
        """Call `callback(layer, head)` when a head's button is clicked."""
        self._on_head = callback

    def show(self, trace, patching, importance) -> None:
        """Draw what belongs to `trace` (None: nothing run): its patching and
        importance (each None when there is none) and the heads it ran
        without."""
        ran = trace is not None
        for button in (self.patch_button, self.importance_button):
            button.disabled = not ran
        self.heatmap.value = "" if patching is None else patching_html(patching)
        self.patch_status.value = "" if ran else "<i>Run some text first.</i>"
        if ran and trace.ablated_heads:
            self.patch_status.value = (
                "<i>Patch runs the model as the text on screen ran: with the "
                "heads switched off below switched off.</i>"
            )
        shape = (0, 0) if not ran else (trace.num_layers, trace.num_heads)
        self._grid(shape)
        ablated = () if not ran else trace.ablated_heads
        self.restore_button.disabled = not ablated
        self._colour(importance, ablated)
        self.heads_status.value = _heads_text(trace, importance)
        self.heads_scale.value = ""
        if importance is not None:
            values, _ = importance_values(importance)
            what = "importance; grey, crossed out: switched off"
            self.heads_scale.value = scale_html(importance_scale(values), what)

    def _grid(self, shape: tuple[int, int]) -> None:
        if shape == self._shape:
            return
        for old in self.grid.children:
            old.close()
        buttons = []
        for layer in range(shape[0]):
            for head in range(shape[1]):
                button = w.Button(
                    description=head_label(layer, head),
                    layout=w.Layout(width="86px", height="30px", padding="0"),
                )
                button.on_click(
                    lambda _b, layer=layer, head=head: self._on_head(layer, head)
                )
                buttons.append(button)
        self.grid.children = buttons
        self.grid.layout.grid_template_columns = f"repeat({shape[1]}, 90px)"
        self._shape = shape

    def _colour(self, importance, ablated) -> None:
        layers, heads = self._shape
        values = np.full((layers, heads), np.nan)
        fill = np.full((layers, heads), NEUTRAL)
        if importance is not None:
            values, _ = importance_values(importance)
            fill = colours(values, importance_scale(values))
        off = {tuple(pair) for pair in ablated}
        for k, button in enumerate(self.grid.children):
            layer, head = divmod(k, heads)
            value = values[layer, head]
            is_off = (layer, head) in off
            background = OFF if is_off else str(fill[layer, head])
            button.style.button_color = background
            button.style.text_color = ink_on(background)
            button.style.text_decoration = "line-through" if is_off else "none"
            button.icon = "ban" if is_off else ""
            measured = "" if np.isnan(value) else f": importance {value:+.4g}"
            now = (
                "switched off; click to switch it on"
                if is_off
                else "click to switch it off"
            )
            # Not "layer l, head h": the Corpus tab's grid is titled that way.
            button.tooltip = f"head {head} of layer {layer}{measured} ({now})"
            if is_off:
                button.add_class("de-head-off")
            else:
                button.remove_class("de-head-off")


def _heads_text(trace, importance) -> str:
    if trace is None:
        return ""
    off = ", ".join(f"{a}.{b}" for a, b in trace.ablated_heads)
    parts = [f"Heads off in the run on screen: {off}." if off else "Every head is on."]
    if importance is not None:
        values, caption = importance_values(importance)
        layer, head = np.unravel_index(np.argmax(np.abs(values)), values.shape)
        parts.append(
            f"Colour: {caption} (measured with every head on); largest |value| "
            f"at layer {layer}, head {head}. Hover a head for its value."
        )
    else:
        parts.append("Press Head importance to colour the heads.")
    return escaped(" ".join(parts))
