"""The layer lens as a matplotlib figure: the same cells as `lens_html`.

Both read `lens_html.lens_grid`, so the exported file and the screen show
the same top-1 tokens in the same colours, hits in bold, with the same
positions left out of a long sequence (said in the title).
"""

from __future__ import annotations

import numpy as np

from distil_explorer.views.lens_html import (
    HIT,
    MAX_POSITIONS,
    SCALE,
    ink,
    lens_grid,
    short_label,
)

CELL_WIDTH = 0.85  # inches per position: a 10-character token at 9 pt
CELL_HEIGHT = 0.32  # inches per layer


def cell_rgb(colours: np.ndarray) -> np.ndarray:
    """uint8 (rows, columns, 3) of `#rrggbb` strings (rows, columns).

    Examples:
    ```python
    cell_rgb(np.array([["#ff0000"]]))  # array([[[255, 0, 0]]], dtype=uint8)
    ```
    """
    flat = [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours.reshape(-1)]
    return np.array(flat, np.uint8).reshape(*colours.shape, 3)


def plot_layer_predictions(
    lens, index: int = 0, max_positions: int = MAX_POSITIONS, ax=None
):
    """The layer x position grid of top-1 tokens, coloured by probability.

    Args:
        lens: a `LayerPredictions` (`distil_explorer.layer_predictions`).
        index: int. Which sequence of the batch.
        max_positions: int. The first real positions drawn.
        ax: a matplotlib Axes to draw into, or None for a new Figure.

    Returns:
        The matplotlib Figure.

    Examples:
    ```python
    lens = de.layer_predictions(masked_lm, trace, tokenizer=tokenizer)
    de.plot_layer_predictions(lens).savefig("predictions_by_layer.png")
    ```
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    from distil_explorer.views.plots import figure_and_axes

    grid = lens_grid(lens, index, max_positions)
    rows, columns = grid.labels.shape
    size = (CELL_WIDTH * columns + 2.5, CELL_HEIGHT * rows + 1.6)
    fig, ax, _ = figure_and_axes(ax, size)
    ax.imshow(cell_rgb(grid.colours), aspect="auto", interpolation="nearest")
    for (r, j), label in np.ndenumerate(grid.labels):
        ax.text(
            j,
            r,
            short_label(label),
            ha="center",
            va="center",
            fontsize=9,
            family="monospace",
            color=ink(grid.colours[r, j]),
            fontweight="bold" if grid.hits[r, j] else "normal",
        )
    ax.set_yticks(range(rows), grid.layers)
    header = [short_label(t) for t in grid.header]
    upright = max(map(len, header), default=0) <= 7  # fits its 0.85 in column
    ax.set_xticks(range(columns), header, rotation=0 if upright else 90)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    scale = LinearSegmentedColormap.from_list("lens", SCALE)
    bar = fig.colorbar(
        ScalarMappable(Normalize(0, 1), scale), ax=ax, fraction=0.02, pad=0.01
    )
    bar.set_label("top-1 probability (0: unsure, 1: certain)")
    title = f"Predictions by layer (sequence {index}); {HIT}"
    ax.set_title(title + (f"; {grid.note}" if grid.note else ""), fontsize=10)
    return fig
