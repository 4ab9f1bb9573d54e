"""The Hidden states panel: norms and similarity per layer, PCA with a slider."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from distil_explorer.views.figures import figure_png
from distil_explorer.views.plots import plot_hidden_states, plot_pca


class HiddenPanel:
    """Static figures of the Trace's hidden states, redrawn from the cache."""

    def __init__(self) -> None:
        self.overview = w.Image(format="png")
        self.layer = w.IntSlider(min=0, max=0, description="PCA layer")
        self.pca = w.Image(format="png")
        self.layer.observe(self._draw_pca, names="value")
        self._trace = None
        self.widget = w.VBox([self.overview, self.layer, self.pca])

    def show(self, trace) -> None:
        self._trace = trace
        self.overview.value = figure_png(plot_hidden_states(trace))
        self.layer.max = trace.num_layers
        self._draw_pca()

    def _draw_pca(self, change: Any = None) -> None:
        if self._trace is not None:
            figure = plot_pca(self._trace, self.layer.value, shared_basis=True)
            self.pca.value = figure_png(figure)
