"""Static matplotlib figures of a Trace and of a parameter table.

Every function builds its own `matplotlib.figure.Figure` (never pyplot's
global figures, so nothing leaks between calls) and returns it: a notebook
displays it, `fig.savefig("head.png")` or `"head.svg"` writes it. Padding is
cut away before drawing. Layers and heads are the model's indices, numbered
from 0 (a Trace captured with `layers=`/`heads=` holds only some: see
`Trace.attention_layers`); hidden-state index 0 is the embeddings output.
matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from distil_explorer.analysis.params import ParameterRow
from distil_explorer.checks import checked_index
from distil_explorer.views.weighting import LABELS, weighted

# Long inputs: a 512-token map at 0.22 in per token would be 114 in wide and
# take matplotlib tens of seconds to draw with every label.
MAX_SIDE = 9.0  # inches: with its colour bar, a map fits a 1100 px panel
# The smallest text any figure draws: 9 pt is 12.5 px in a panel (drawn at
# PANEL_DPI, shown at half size) and in an export at 100 dpi.
MIN_FONT = 9
LABEL_ROOM = 0.16  # inches per token label along an axis (9 pt and a gap)
PANEL_WIDTH = 11.0  # inches: wider figures are shrunk to fit the explorer
MAX_TICKS = 64  # token labels per axis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from distil_explorer.trace import Trace


def plot_head(
    trace: Trace,
    layer: int,
    head: int,
    index: int = 0,
    ax: Axes | None = None,
    weighting: str = "weights",
) -> Figure:
    """Heatmap of one head's attention for one sequence, tokens on both axes.

    Rows are queries, columns keys; padded positions are removed. The colour
    scale runs from 0 to this map's largest weight, so a diffuse head still
    shows its pattern; the colour bar gives the values. (`plot_model_view`
    shares one 0 to 1 scale across heads instead, for comparison.)

    Args:
        trace: a `Trace`.
        layer: int. A layer the Trace holds (`trace.attention_layers`).
        head: int. A head it holds (`trace.attention_heads`).
        index: int. Which sequence of the batch, 0 to B - 1.
        ax: a matplotlib `Axes` to draw into, or None for a new figure with a
            colour bar.
        weighting: str. "weights" (the softmax attention) or "norms" (the
            Trace's `attention_norms`, alpha * ||f(x)||, on the same 0 to
            this map's largest scale).

    Returns:
        The `Figure` that holds the heatmap.

    Examples:
    ```python
    fig = plot_head(trace, layer=0, head=1)
    fig.savefig("layer0_head1.svg")
    fig = plot_head(trace, layer=0, head=1, weighting="norms")
    ```
    """
    attention, labels = _real_map(weighted(trace, weighting), layer, head, index)
    side = map_side(len(labels))
    fig, ax, created = figure_and_axes(ax, (side + 1.0, side))
    image = token_map(ax, attention, labels, room=side)
    norms = weighting == "norms"
    ax.set_title(f"layer {layer}, head {head}" + (f" ({LABELS['norms']})" * norms))
    if created:
        label = "||alpha f(x)||" if norms else "attention"
        fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    return fig


def plot_head_lines(
    trace: Trace,
    layer: int,
    head: int,
    index: int = 0,
    ax: Axes | None = None,
    weighting: str = "weights",
) -> Figure:
    """One head as the canvas's lines view: queries left, keys right.

    A line joins query i (left) to key j (right), as opaque as its weight
    divided by the map's largest weight, so a diffuse head still shows its
    pattern; padded positions are removed. `weighting="norms"` draws the
    Trace's `attention_norms` the same way.

    Examples:
    ```python
    fig = plot_head_lines(trace, layer=0, head=1)
    fig.savefig("layer0_head1_lines.svg")
    ```
    """
    from matplotlib.collections import LineCollection

    attention, labels = _real_map(weighted(trace, weighting), layer, head, index)
    n = len(labels)
    fig, ax, _ = figure_and_axes(ax, (4.0, min(12.0, 0.6 + 0.22 * n)))
    top = float(attention.max()) or 1.0
    rows, cols = np.nonzero(attention >= top / 64)  # fainter ones are invisible
    segments = [((0.0, -i), (1.0, -j)) for i, j in zip(rows, cols, strict=True)]
    colours = np.zeros((len(segments), 4))
    colours[:, :3] = (0.12, 0.47, 0.71)
    colours[:, 3] = attention[rows, cols] / top
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=2))
    step = max(1, -(-n // MAX_TICKS))
    for i in range(0, n, step):
        ax.text(-0.03, -i, labels[i], ha="right", va="center", fontsize=MIN_FONT)
        ax.text(1.03, -i, labels[i], ha="left", va="center", fontsize=MIN_FONT)
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylim(-n + 0.5, 0.5)
    ax.axis("off")
    ax.set_title(
        f"layer {layer}, head {head}: query (left) attends to key (right)\n"
        f"opacity = {'||alpha f(x)||' if weighting == 'norms' else 'weight'}"
        f" / {top:.2f} (this map's largest)",
        fontsize=9,
    )
    return fig


def plot_model_view(trace: Trace, index: int = 0, weighting: str = "weights") -> Figure:
    """Every head of every layer as a small heatmap: layers down, heads across.

    Each panel is titled "L{layer} H{head}" (model indices: a selective
    capture shows only the layers and heads it kept) and shares one colour
    scale, 0 to 1 for the weights; padded positions are removed.

    Args:
        trace: a `Trace`.
        index: int. Which sequence of the batch, 0 to B - 1.
        weighting: str. "weights", or "norms" (the Trace's
            `attention_norms`): then the shared scale runs from 0 to the
            largest value of any panel, so heads that move their outputs
            little look faint, which is the point of the norms.

    Examples:
    ```python
    fig = plot_model_view(trace)
    len(fig.axes) == trace.num_layers * trace.num_heads  # True
    fig = plot_model_view(trace, weighting="norms")
    ```
    """
    checked_index("index", index, trace.token_ids.shape[0])
    trace = weighted(trace, weighting)
    layers, heads = trace.attention_layers, trace.attention_heads
    real = np.flatnonzero(trace.padding_mask[index])
    maps = trace.attentions[:, index][..., real[:, None], real]
    top = 1.0
    if weighting == "norms":
        top = float(maps.max()) if maps.size and maps.max() > 0 else 1.0
    # At most the explorer's width: a wider figure would be shrunk, its
    # titles with it.
    each = min(1.3, (PANEL_WIDTH - 0.4) / len(heads))
    fig = new_figure((each * len(heads) + 0.4, (each + 0.1) * len(layers) + 0.4))
    grid = fig.subplots(len(layers), len(heads), squeeze=False)
    for i, layer in enumerate(layers):
        for j, head in enumerate(heads):
            ax = grid[i, j]
            ax.imshow(maps[i, j], vmin=0.0, vmax=top, cmap="viridis")
            ax.set_title(f"L{layer} H{head}", fontsize=MIN_FONT)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def plot_parameters(rows: Sequence[ParameterRow]) -> Figure:
    """Parameters per block as stacked bars, one colour per component.

    The title gives the total, which is the sum of `rows` (for the output of
    `parameter_table`, the backbone's `count_params()`).

    Args:
        rows: the `ParameterRow`s from `parameter_table(backbone)`.

    Examples:
    ```python
    fig = plot_parameters(parameter_table(backbone))
    fig.axes[0].get_title()  # "66,362,880 parameters"
    ```
    """
    rows = list(rows)
    if not rows or not all(isinstance(r, ParameterRow) for r in rows):
        raise ValueError(
            f"rows={rows[:3]!r}: allowed: a non-empty list of ParameterRow, "
            "as parameter_table(backbone) returns"
        )
    blocks = list(dict.fromkeys(r.block for r in rows))
    components = list(dict.fromkeys(r.component for r in rows))
    counts = np.zeros((len(components), len(blocks)), dtype=np.int64)
    for r in rows:
        counts[components.index(r.component), blocks.index(r.block)] += r.params
    fig = new_figure((2.0 + 0.6 * len(blocks) + 2.5, 4.0))
    import matplotlib

    colours = matplotlib.colormaps["tab20"]
    ax = fig.subplots()
    bottom = np.zeros(len(blocks), dtype=np.int64)
    for i, component in enumerate(components):
        ax.bar(blocks, counts[i], bottom=bottom, label=component, color=colours(i % 20))
        bottom += counts[i]
    # Plain numbers, never a "1e7" offset above the axis.
    millions = counts.sum(axis=0).max() >= 1_000_000
    ax.yaxis.set_major_formatter(_count_formatter(millions))
    ax.set_ylabel("parameters (millions)" if millions else "parameters")
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_title(f"{int(counts.sum()):,} parameters")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=MIN_FONT)
    return fig


def _real_map(
    trace: Trace, layer: int, head: int, index: int
) -> tuple[np.ndarray, list[str]]:
    """One head's map for sequence `index` without padding, and its token labels."""
    checked_index("index", index, trace.token_ids.shape[0])
    real = np.flatnonzero(trace.padding_mask[index])
    attention = trace.attention(layer, head, index)[np.ix_(real, real)]
    return attention, token_labels(trace, index, real)


def token_labels(trace: Trace, index: int, positions: np.ndarray) -> list[str]:
    if trace.tokens is not None:
        return [trace.tokens[index][i] for i in positions]
    return [str(trace.token_ids[index, i]) for i in positions]


def token_map(
    ax: Axes,
    values: np.ndarray,
    labels: list[str],
    xlabel: str = "key",
    ylabel: str = "query",
    room: float | None = None,
    **imshow,
):
    """A token x token heatmap with token tick labels; returns the image.

    The colour scale runs from 0 to the largest value unless `imshow` says
    otherwise (`cmap`, `vmin`, `vmax`, ...). `room`: the map's side in
    inches, which thins the labels to what fits (`token_ticks`).
    """
    options = {"cmap": "viridis", "vmin": 0.0, "vmax": values.max(), **imshow}
    image = ax.imshow(values, **options)
    token_ticks(ax, labels, room=room)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return image


def token_ticks(
    ax: Axes,
    labels: list[str],
    x: bool = True,
    y: bool = True,
    room: float | None = None,
) -> None:
    """Token strings as tick labels; beyond what fits, every k-th.

    At most `MAX_TICKS` labels, and with `room` (inches along the axis) at
    most one per `LABEL_ROOM`, so labels at `MIN_FONT` never overlap: 512
    labels would be unreadable and make matplotlib spend seconds laying them
    out. The ticks still sit on the tokens they name.
    """
    step = tick_step(len(labels))
    if room is not None:
        step = max(step, -(-len(labels) // max(1, int(room / LABEL_ROOM))))
    ticks = range(0, len(labels), step)
    names = [labels[i] for i in ticks]
    fontsize = _fontsize(len(names))
    if x:
        ax.set_xticks(ticks, names, rotation=90, fontsize=fontsize)
    if y:
        ax.set_yticks(ticks, names, fontsize=fontsize)


def tick_step(count: int) -> int:
    """Label every `tick_step`-th token so at most MAX_TICKS labels show."""
    return max(1, -(-count // MAX_TICKS))


def map_side(count: int) -> float:
    """Inches for a count x count token map: 0.22 per token, at most MAX_SIDE."""
    return min(2.0 + 0.22 * count, MAX_SIDE)


def _fontsize(count: int) -> float:
    return float(np.clip(300.0 / max(count, 1), MIN_FONT, 10.0))


def _count_formatter(millions: bool):
    """Tick labels as 1.5M or 12,345: plain numbers with units, no offset."""
    from matplotlib.ticker import FuncFormatter

    if millions:
        return FuncFormatter(lambda value, _: f"{value / 1e6:,.3g}")
    return FuncFormatter(lambda value, _: f"{value:,.0f}")


def new_figure(size: tuple[float, float]) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "distil_explorer.views.plots needs matplotlib: pip install matplotlib"
        ) from None
    return Figure(figsize=size, layout="constrained")


def figure_and_axes(
    ax: Axes | None, size: tuple[float, float]
) -> tuple[Figure, Axes, bool]:
    """Return (figure, axes, created): a new figure, or the one `ax` lives in."""
    if ax is None:
        fig = new_figure(size)
        return fig, fig.subplots(), True
    from matplotlib.figure import Figure

    fig = ax.figure
    if not isinstance(fig, Figure):  # a SubFigure: return the whole figure
        fig = fig.figure
    return fig, ax, False


def plot_query_key(
    trace: Trace, layer: int, head: int, query: int, key: int, index: int = 0
) -> Figure:
    """Bars of the per-dimension terms that make one attention score.

    Examples:
    ```python
    trace = capture(backbone, text, tokenizer=tokenizer, keep_qk=True)
    fig = plot_query_key(trace, layer=0, head=2, query=3, key=2)
    ```
    """
    from distil_explorer.analysis.query_key import score_contributions

    at_layer, at_head = trace.attention_position(layer, head)
    terms = score_contributions(
        trace.queries, trace.keys, at_layer, at_head, query, key, index
    )
    labels = token_labels(trace, index, np.array([query, key]))
    fig, ax, _ = figure_and_axes(None, (6.0, 3.0))
    colours = np.where(terms >= 0, "#1f77b4", "#d62728")
    ax.bar(np.arange(terms.size), terms, color=colours)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("query/key dimension")
    ax.set_ylabel("q_d * k_d / sqrt(d)")
    weight = trace.attention(layer, head, index)[query, key]
    ax.set_title(
        f"layer {layer} head {head}: {labels[0]!r} -> {labels[1]!r}, "
        f"score {terms.sum():.2f}, weight {weight:.2f}"
    )
    return fig
