"""A canvas scene (views/scene.py) drawn with matplotlib: the export of the screen.

The head view's lines keep their head colours, opacity and width levels, the
pins and their sums; the heatmap its cells; the model view its contrast
thumbnails and the chosen head. The title is the canvas's own caption.
Saved at `export_dpi_scale` (2) times the figure's 100 dpi.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from distil_explorer.views.contract import LAYOUT

DPI = 100  # px per inch of the figure as laid out; saved at DPI * export_dpi_scale
EXPORT_DPI = DPI * LAYOUT["export_dpi_scale"]
INK = "#222222"
FONT_PT = LAYOUT["font_px"] * 72 / DPI  # the canvas's font size, in points
_PX = 72 / DPI  # one CSS px in points


def plot_scene(scene: dict[str, Any]) -> Figure:
    """The Figure of a head-view or model-view scene.

    Examples:
    ```python
    figure = plot_scene(scene_of(state, decoded(trace_payload(trace))))
    figure.savefig("head_view.png", dpi=EXPORT_DPI)
    ```
    """
    kind = scene["kind"]
    if kind == "lines":
        return _lines(scene)
    if kind == "heatmap":
        return _heatmap(scene)
    if kind == "model":
        return _model(scene)
    figure = Figure(figsize=(6, 1), dpi=DPI)
    figure.text(0.5, 0.5, scene["title"], ha="center", va="center", fontsize=FONT_PT)
    return figure


def _title(figure: Figure, scene: dict[str, Any], legend: str) -> None:
    figure.suptitle(
        f"{scene['title']}\n{legend}", fontsize=FONT_PT, x=0.01, ha="left", y=0.995
    )


def _lines(scene: dict[str, Any]) -> Figure:
    n, tokens = scene["n"], scene["tokens"]
    row = LAYOUT["row"]
    height = (n * row + 4 + 60) / DPI
    figure = Figure(figsize=(10.0, height), dpi=DPI)
    top_margin = 60 / (height * DPI)
    ax = figure.add_axes((0.14, 0.0, 0.72, 1 - top_margin))
    ax.set_xlim(0, 1)
    ax.set_ylim(n - 0.5, -0.5)
    ax.axis("off")
    lines = np.asarray(scene["lines"], dtype=np.int64).reshape(-1, 4)
    colours = [to_rgba(m["colour"] or INK) for m in scene["maps"]]
    for k, colour in enumerate(colours):
        mine = lines[lines[:, 0] == k]
        if not len(mine):
            continue
        levels = mine[:, 3] / LAYOUT["levels"]
        rgba = np.tile(colour, (len(mine), 1))
        rgba[:, 3] = levels
        segments = [((0.0, i), (1.0, j)) for i, j in mine[:, 1:3]]
        widths = (0.5 + 2.5 * levels) * _PX
        ax.add_collection(LineCollection(segments, colors=rgba, linewidths=widths))
    picked = set(scene["picked"])
    for i, token in enumerate(tokens):
        weight = "bold" if i in picked else "normal"
        ax.text(
            -0.01, i, token, ha="right", va="center", fontsize=FONT_PT, weight=weight
        )
        ax.text(1.01, i, token, ha="left", va="center", fontsize=FONT_PT, weight=weight)
    if scene["picked"] and scene["most"] > 0:
        _sums(ax, scene, colours)
    weight = "share" if scene.get("mixing") else "weight"
    legend = f"line opacity and width \u221d {weight} \u00f7 {_number(scene['top'])}"
    if scene.get("mixing"):
        legend += " \u00b7 left: a token's output, right: the tokens that shape it"
    _title(figure, scene, legend)
    return figure


def _sums(ax, scene: dict[str, Any], colours: list) -> None:
    """Each map's summed (or mean) weight of the pins, beside the other column."""
    x0 = 1.12 if scene["side"] == "query" else -0.2
    width = 0.07 / len(colours)
    for k, sums in enumerate(scene["sums"]):
        for t, value in enumerate(np.asarray(sums) / scene["most"]):
            colour = (*colours[k][:3], float(value))
            ax.add_patch(_rect((x0 + k * width, t - 0.4), width * 0.9, 0.8, colour, ax))


def _rect(xy, width, height, colour, ax):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, width, height, color=colour, clip_on=False, lw=0)


def _heatmap(scene: dict[str, Any]) -> Figure:
    n, top = scene["n"], scene["top"]
    side = max(4.0, min(14.0, 0.2 * n + 2.0))
    figure = Figure(figsize=(side + 1.2, side + 0.6), dpi=DPI)
    ax = figure.add_subplot()
    cells = np.asarray(scene["cells"], dtype=np.float64).reshape(n, n)
    image = ax.imshow(cells / 255 * top, cmap="viridis", vmin=0, vmax=top)
    step = max(1, -(-n // 64))
    ticks = range(0, n, step)
    ax.set_xticks(list(ticks), [scene["tokens"][i] for i in ticks], rotation=90)
    ax.set_yticks(list(ticks), [scene["tokens"][i] for i in ticks])
    ax.tick_params(labelsize=FONT_PT)
    mixing = scene.get("mixing")
    ax.set_xlabel("source token (shapes)" if mixing else "key", fontsize=FONT_PT)
    ax.set_ylabel("output token" if mixing else "query", fontsize=FONT_PT)
    for p in scene["picked"]:
        box = (
            (-0.5, p - 0.5, n, 1) if scene["side"] == "query" else (p - 0.5, -0.5, 1, n)
        )
        ax.add_patch(_outline(box))
    bar = figure.colorbar(image, ax=ax, shrink=0.8)
    bar.ax.tick_params(labelsize=FONT_PT)
    _title(figure, scene, f"colour scaled to this map's largest, {_number(top)}")
    return figure


def _outline(box):
    from matplotlib.patches import Rectangle

    x, y, w, h = box
    return Rectangle((x, y), w, h, fill=False, edgecolor=INK, lw=2 * _PX)


def _model(scene: dict[str, Any]) -> Figure:
    if scene.get("mixing"):
        return _mixing_model(scene)
    layers, heads, t = scene["layers"], scene["heads"], scene["t"]
    step, label = LAYOUT["thumb"] + LAYOUT["gap"], LAYOUT["label"]
    width = (label + len(heads) * step) * 1.6 / DPI
    height = (label + len(layers) * step) * 1.6 / DPI + 0.6
    figure = Figure(figsize=(max(width, 6.0), height), dpi=DPI)
    grid = figure.subplots(len(layers), len(heads), squeeze=False)
    thumbs = np.asarray(scene["thumbs"], dtype=np.uint8)
    thumbs = thumbs.reshape(len(layers), len(heads), t, t)
    for i, layer in enumerate(layers):
        for j, head in enumerate(heads):
            ax = grid[i, j]
            ax.imshow(thumbs[i, j], cmap="viridis", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if [layer, head] in [list(pair) for pair in scene.get("ablated", ())]:
                _cross_out(ax, t)
            chosen = [layer, head] == list(scene["chosen"])
            for spine in ax.spines.values():
                spine.set_linewidth(3 * _PX if chosen else 0.5 * _PX)
            if i == 0:
                ax.set_title(f"H{head}", fontsize=FONT_PT)
            if j == 0:
                ax.set_ylabel(f"L{layer}", fontsize=FONT_PT)
    legend = "each map scaled to its own percentile"
    if scene.get("ablated"):
        legend += " \u00b7 \u2715 crossed out: a head switched off in this run"
    _title(figure, scene, legend)
    figure.subplots_adjust(top=1 - 0.7 / height, wspace=0.08, hspace=0.08)
    return figure


def _cross_out(ax, t: int) -> None:
    """A head switched off: dimmed and crossed, as canvas.js's crossOut draws it."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((-0.5, -0.5), t, t, color=(1, 1, 1, 0.6), lw=0))
    ax.plot([-0.5, t - 0.5], [-0.5, t - 0.5], color=INK, lw=2 * _PX)
    ax.plot([t - 0.5, -0.5], [-0.5, t - 0.5], color=INK, lw=2 * _PX)


def _mixing_model(scene: dict[str, Any]) -> Figure:
    """One map per layer, in a row, as the canvas draws a mixing weighting."""
    layers, t = scene["layers"], scene["t"]
    size = 2 * LAYOUT["thumb"] * 1.6 / DPI
    figure = Figure(figsize=(max(len(layers) * (size + 0.1), 6.0), size + 0.9), dpi=DPI)
    grid = figure.subplots(1, len(layers), squeeze=False)[0]
    thumbs = np.asarray(scene["thumbs"], dtype=np.uint8).reshape(len(layers), t, t)
    for ax, layer, thumb in zip(grid, layers, thumbs, strict=True):
        ax.imshow(thumb, cmap="viridis", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        chosen = layer == scene["chosen"][0]
        for spine in ax.spines.values():
            spine.set_linewidth(3 * _PX if chosen else 0.5 * _PX)
        ax.set_title(f"L{layer}", fontsize=FONT_PT)
    _title(figure, scene, "each map scaled to its own percentile")
    figure.subplots_adjust(top=1 - 0.75 / (size + 0.9), wspace=0.08)
    return figure


def _number(value: float) -> str:
    """As canvas.js's legend writes a value."""
    if value >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}" if value > 0 else "0"
