"""The Hidden states panel: norms and similarity per layer, PCA with a slider."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from distil_explorer.analysis.hidden import common_basis
from distil_explorer.views.figures import PANEL_DPI, figure_png, image_widget, show_png
from distil_explorer.views.hidden_plots import (
    plot_hidden_states,
    plot_pca,
    plot_rollout,
)


def ablated_note(trace) -> str:
    """A line saying which heads the run had switched off ("" for none)."""
    if not trace.ablated_heads:
        return ""
    off = ", ".join(f"{layer}.{head}" for layer, head in trace.ablated_heads)
    return (
        f"<b>Heads off: {off}</b> (layer.head): these hidden states are the "
        "ablated model's (the Causal tab's Restore all heads runs every head)."
    )


class HiddenPanel:
    """Static figures of the Trace's hidden states, redrawn from the cache."""

    def __init__(self) -> None:
        self.overview = image_widget()
        self.note = w.HTML()  # says when the run had heads switched off
        self.layer = w.IntSlider(min=0, max=0, description="PCA layer")
        self.pca = image_widget()
        self.layer.observe(self._draw_pca, names="value")
        self.rollout_layer = w.IntSlider(min=0, max=0, description="rollout to")
        self.rollout = image_widget()
        self.rollout_layer.observe(self._draw_rollout, names="value")
        self._rollouts: dict[int, bytes] = {}
        self._trace = None
        self.visible = True  # the Explorer says when its tab is not shown
        self._basis = None
        self._pngs: dict[int, bytes] = {}
        self.widget = w.VBox(
            [
                self.note,
                self.overview,
                self.layer,
                self.pca,
                w.HTML(
                    "<b>Attention rollout</b>: what each token has mixed in from "
                    "the input, through every layer up to this one."
                ),
                self.rollout_layer,
                self.rollout,
            ]
        )

    def show(self, trace) -> None:
        """Take a new Trace; its figures are drawn now if the panel is
        `visible`, else the first time it is (each costs ~0.5-1 s at T=128)."""
        self._trace, self._pngs, self._rollouts = trace, {}, {}
        self.note.value = ablated_note(trace)
        show_png(self.overview, b"")  # drawn again once on screen
        # One basis for all layers, fitted once: the slider keeps its axes.
        self._basis = common_basis(trace.hidden_states[:, :1], trace.padding_mask[:1])
        self.layer.max = trace.num_layers
        self.rollout_layer.max = trace.num_layers - 1
        self.rollout_layer.value = trace.num_layers - 1
        self.refresh()

    def clear(self) -> None:
        """Forget the Trace (a new backbone is built): nothing to draw."""
        self._trace, self._pngs, self._rollouts, self._basis = None, {}, {}, None
        self.note.value = ""
        for image in (self.overview, self.pca, self.rollout):
            show_png(image, b"")

    def set_visible(self, visible: bool) -> None:
        """Whether the panel is on screen; becoming visible draws what is due."""
        self.visible = visible
        self.refresh()

    def refresh(self) -> None:
        """Draw the figures of the current Trace and sliders, if on screen."""
        if not self.visible or self._trace is None:
            return
        if not self.overview.value:
            figure = plot_hidden_states(self._trace)
            show_png(self.overview, figure_png(figure, PANEL_DPI))
        self._draw_pca()
        self._draw_rollout()

    def _draw_pca(self, change: Any = None) -> None:
        if self._trace is None or not self.visible:
            return
        layer = self.layer.value
        if layer not in self._pngs:  # drawing 128 labels costs ~1 s: once each
            figure = plot_pca(self._trace, layer, basis=self._basis)
            self._pngs[layer] = figure_png(figure, PANEL_DPI)
        show_png(self.pca, self._pngs[layer])

    def _draw_rollout(self, change: Any = None) -> None:
        if self._trace is None or not self.visible:
            return
        layer = self.rollout_layer.value
        if layer not in self._rollouts:
            figure = plot_rollout(self._trace, layer=layer)
            self._rollouts[layer] = figure_png(figure, PANEL_DPI)
        show_png(self.rollout, self._rollouts[layer])
