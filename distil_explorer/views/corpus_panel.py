"""The Corpus panel: per-head statistics over many texts, and a way into each head.

A person picks a corpus (the demo corpus or a text file) and a number of
texts and presses Compute; the panel then shows a layer x head grid of the
chosen statistic, one button per head, coloured by its value, and the
figure of every statistic with the map of heads. Clicking a head asks the
Explorer (through `on_head`) to open that head's example text in the head
view. The panel only draws what it is handed; it never runs a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w
import numpy as np

from distil_explorer.corpus.sums import STATISTICS
from distil_explorer.views.colours import ink_on
from distil_explorer.views.corpus_plots import TITLES, plot_corpus_statistics
from distil_explorer.views.feedback import ErrorArea
from distil_explorer.views.figures import PANEL_DPI, figure_png, image_widget, show_png
from distil_explorer.views.html_text import text as escaped

DEMO = "demo corpus (Python documentation)"
FILE = "a text file (one text per line)"


def head_title(layer: int, head: int) -> str:
    """The tooltip of a head's button: what a person (and a browser test) reads."""
    return f"layer {layer}, head {head}"


def _colour(value: float) -> tuple[str, str]:
    """(background, text colour) of a value in 0..1 on matplotlib's viridis."""
    from matplotlib import colormaps

    r, g, b, _ = colormaps["viridis"](float(np.clip(value, 0, 1)))
    background = f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
    return background, ink_on(background)


class CorpusPanel:
    """Widgets of the Corpus tab; `request()` reads what to compute."""

    def __init__(self) -> None:
        self.source = w.Dropdown(options=[DEMO, FILE], value=DEMO, description="corpus")
        self.path = w.Text(
            placeholder="path/to/texts.txt",
            description="file",
            layout=w.Layout(display="none"),
        )
        self.count = w.BoundedIntText(
            value=200, min=1, max=1_000_000, description="texts"
        )
        self.button = w.Button(
            description="Compute",
            button_style="primary",
            icon="bar-chart",
            disabled=True,
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, description="progress")
        self.status = w.HTML()
        self.error = ErrorArea()
        self.statistic = w.Dropdown(
            options=[(TITLES[n], n) for n in STATISTICS],
            value="cls",
            description="colour by",
        )
        self.grid = w.GridBox([])
        self.example = w.HTML()
        self.figure = image_widget()
        self.stats = None
        self._on_head: Callable[[int, int, str], None] = lambda *_: None
        self.widget = w.VBox(
            [
                w.HBox([self.source, self.path]),
                w.HBox([self.count, self.button, self.progress]),
                self.error.widget,
                self.status,
                self.statistic,
                w.HTML("Click a head to open its example text in the head view."),
                self.grid,
                self.example,
                self.figure,
            ]
        )
        self.source.observe(self._on_source, names="value")
        self.statistic.observe(self._recolour, names="value")

    def on_head(self, callback: Callable[[int, int, str], None]) -> None:
        """Call `callback(layer, head, statistic)` when a head is clicked."""
        self._on_head = callback

    def request(self) -> dict[str, Any]:
        """What Compute asks for: `Session.corpus_statistics` arguments."""
        if self.source.value == DEMO:
            return {"source": "demo", "count": self.count.value}
        path = self.path.value.strip()
        if not path:
            raise ValueError(
                "file: empty; allowed: the path of a text file, one text per line"
            )
        return {"source": path, "count": self.count.value}

    def show_progress(self, done: int, total: int) -> None:
        """A `progress(done, total)` for `corpus_statistics`."""
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)
        self.status.value = escaped(f"{done:,} of {total:,} texts")

    def show(self, stats: Any, timing: str = "") -> None:
        """Draw `stats` (a `CorpusStatistics`): the head grid and the figure."""
        self.stats = stats
        layers, heads = stats.num_layers, stats.num_heads
        buttons = []
        for layer in range(layers):
            for head in range(heads):
                button = w.Button(
                    tooltip=head_title(layer, head),
                    layout=w.Layout(width="44px", height="26px", padding="0"),
                )
                button.on_click(
                    lambda _b, layer=layer, head=head: self._on_head(
                        layer, head, self.statistic.value
                    )
                )
                buttons.append(button)
        for old in self.grid.children:
            old.close()
        self.grid.children = buttons
        self.grid.layout.grid_template_columns = f"repeat({heads}, 46px)"
        self._recolour()
        show_png(self.figure, figure_png(plot_corpus_statistics(stats), PANEL_DPI))
        self.status.value = escaped(
            f"{stats.num_texts:,} texts, {stats.num_tokens:,} tokens"
            + (f" ({timing})" if timing else "")
            + f"; rows are layers 0..{layers - 1}, columns heads 0..{heads - 1}."
        )
        self.example.value = ""

    def show_example(self, layer: int, head: int, statistic: str, text: str) -> None:
        """Say which text was opened for which head."""
        value = self.stats.values[statistic][layer, head]
        self.example.value = (
            f"<b>{escaped(head_title(layer, head))}</b>, "
            f"{escaped(TITLES[statistic])} {value:.3f} on average; its "
            f"highest in: <i>{escaped(text)}</i>"
        )

    def built(self, tokenizer_problem: str | None) -> None:
        """Follow a new backbone: statistics need text, so a tokenizer."""
        self.clear()
        self.button.disabled = tokenizer_problem is not None
        self.status.value = (
            ""
            if tokenizer_problem is None
            else escaped(f"Corpus statistics need text: {tokenizer_problem}.")
        )

    def clear(self) -> None:
        """Forget the statistics (a new backbone makes them stale)."""
        self.stats = None
        for old in self.grid.children:
            old.close()
        self.grid.children = []
        self.example.value = ""
        self.status.value = ""
        self.progress.value = 0
        show_png(self.figure, b"")

    def _on_source(self, change: Any = None) -> None:
        self.path.layout.display = None if self.source.value == FILE else "none"

    def _recolour(self, change: Any = None) -> None:
        if self.stats is None:
            return
        values = self.stats.values[self.statistic.value]
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else values * 0
        for button, value, level in zip(
            self.grid.children, values.flat, scaled.flat, strict=True
        ):
            background, text = _colour(level)
            button.description = f"{value:.2f}"
            button.style.button_color = background
            button.style.text_color = text
