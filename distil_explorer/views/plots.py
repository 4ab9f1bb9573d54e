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

from distil_explorer.analysis.hidden import (
    common_basis,
    layer_similarity_matrix,
    pca,
    token_norms,
)
from distil_explorer.analysis.params import ParameterRow
from distil_explorer.checks import checked_every_map, checked_index
from distil_explorer.views.weighting import LABELS, weighted

# Long inputs: a 512-token map at 0.22 in per token would be 114 in wide and
# take matplotlib tens of seconds to draw with every label.
MAX_SIDE = 12.0  # inches
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
    side = _map_side(len(labels))
    fig, ax, created = figure_and_axes(ax, (side + 1.0, side))
    image = token_map(ax, attention, labels)
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
        ax.text(-0.03, -i, labels[i], ha="right", va="center", fontsize=8)
        ax.text(1.03, -i, labels[i], ha="left", va="center", fontsize=8)
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
    fig = new_figure((1.3 * len(heads) + 0.4, 1.4 * len(layers) + 0.4))
    grid = fig.subplots(len(layers), len(heads), squeeze=False)
    for i, layer in enumerate(layers):
        for j, head in enumerate(heads):
            ax = grid[i, j]
            ax.imshow(maps[i, j], vmin=0.0, vmax=top, cmap="viridis")
            ax.set_title(f"L{layer} H{head}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def plot_hidden_states(trace: Trace, index: int = 0) -> Figure:
    """Per-token norms at every layer, and how similar the layers are.

    Left: the norm of each real token's hidden state (columns) at each
    hidden-state index (rows, 0 = embeddings). Right: the mean cosine
    similarity between every pair of hidden-state indices
    (`layer_similarity_matrix`).

    Args:
        trace: a `Trace`.
        index: int. Which sequence of the batch, 0 to B - 1.

    Examples:
    ```python
    fig = plot_hidden_states(trace, index=1)
    ```
    """
    checked_index("index", index, trace.token_ids.shape[0])
    real = np.flatnonzero(trace.padding_mask[index])
    labels = token_labels(trace, index, real)
    states = trace.hidden_states[:, index : index + 1]
    mask = trace.padding_mask[index : index + 1]
    norms = token_norms(states, mask)[:, 0, real]
    similarity = layer_similarity_matrix(states, mask)
    depth = [str(i) for i in range(states.shape[0])]
    norms_width = min(1.5 + 0.25 * len(real), MAX_SIDE)
    fig = new_figure((norms_width + 5.0, 4.0))
    left, right = fig.subplots(1, 2, width_ratios=[norms_width, 4.0])
    image = left.imshow(norms, aspect="auto", cmap="magma")
    token_ticks(left, labels, y=False)
    left.set_yticks(range(len(depth)), depth)
    left.set_ylabel("hidden state (0 = embeddings)")
    left.set_title("token norm")
    fig.colorbar(image, ax=left, shrink=0.8)
    # A diverging -1..1 scale only where some similarity is negative: an
    # all-positive matrix on it would look uniformly pale.
    if np.nanmin(similarity) < 0:
        scale = {"vmin": -1.0, "vmax": 1.0, "cmap": "coolwarm"}
    else:
        scale = {"vmin": float(np.nanmin(similarity)), "vmax": 1.0, "cmap": "viridis"}
    image = right.imshow(similarity, **scale)
    right.set_xticks(range(len(depth)), depth)
    right.set_yticks(range(len(depth)), depth)
    right.set_title("layer similarity (cosine)")
    fig.colorbar(image, ax=right, shrink=0.8)
    return fig


def plot_pca(
    trace: Trace,
    layer: int,
    index: int = 0,
    shared_basis: bool = False,
    ax: Axes | None = None,
    basis=None,
) -> Figure:
    """One sequence's tokens at one hidden-state index, on two principal axes.

    Each point is a real token, coloured by its position and labelled with
    its string (beyond `MAX_TICKS` tokens, every k-th is labelled). By
    default the axes are fitted to this layer alone (the best view of it);
    with `shared_basis=True` they are fitted once on every layer of the
    sequence (`common_basis`), so figures for different layers share axes and
    can be compared side by side.

    Args:
        trace: a `Trace`.
        layer: int. Hidden-state index, 0 (embeddings) to num_layers.
        index: int. Which sequence of the batch, 0 to B - 1.
        shared_basis: bool. Fit the axes on all layers instead of this one.
        ax: a matplotlib `Axes` to draw into, or None for a new figure.
        basis: a `Projection` from `common_basis`, fitted once by a caller
            that draws many layers (implies shared axes).

    Examples:
    ```python
    fig = plot_pca(trace, layer=trace.num_layers)  # the last hidden state
    ```
    """
    checked_index("layer", layer, trace.num_layers + 1)
    checked_index("index", index, trace.token_ids.shape[0])
    states = trace.hidden_states[:, index : index + 1]
    mask = trace.padding_mask[index : index + 1]
    shared_basis = shared_basis or basis is not None
    if shared_basis and basis is None:
        basis = common_basis(states, mask)
    projection = pca(states[layer], mask, basis=basis)
    real = projection.positions[:, 1]
    labels = token_labels(trace, index, real)
    fig, ax, _ = figure_and_axes(ax, (5.5, 4.5))
    x, y = projection.points.T
    ax.scatter(x, y, c=real, cmap="viridis", s=30)
    step = _tick_step(len(labels))  # every point, but at most MAX_TICKS names
    for label, px, py in list(zip(labels, x, y, strict=True))[::step]:
        ax.annotate(label, (px, py), xytext=(3, 3), textcoords="offset points")
    if shared_basis:
        # Same directions, same scale, and the variance the axes were fitted
        # on: the layer slider moves points, never the frame.
        ratio, whose = basis.explained_variance_ratio, "all layers'"
        low, high = basis.points.min(axis=0), basis.points.max(axis=0)
        margin = 0.05 * np.maximum(high - low, 1e-9)
        ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
        ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
        basis_name = "axes and scale shared by all layers"
    else:
        ratio, whose = projection.explained_variance_ratio, "this layer's"
        basis_name = "axes of this layer"
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of {whose} variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of {whose} variance)")
    ax.set_title(f"hidden state {layer}, sequence {index} ({basis_name})")
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
    ax.set_ylabel("parameters")
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_title(f"{int(counts.sum()):,} parameters")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
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
    **imshow,
):
    """A token x token heatmap with token tick labels; returns the image.

    The colour scale runs from 0 to the largest value unless `imshow` says
    otherwise (`cmap`, `vmin`, `vmax`, ...).
    """
    options = {"cmap": "viridis", "vmin": 0.0, "vmax": values.max(), **imshow}
    image = ax.imshow(values, **options)
    token_ticks(ax, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return image


def token_ticks(ax: Axes, labels: list[str], x: bool = True, y: bool = True) -> None:
    """Token strings as tick labels; beyond `MAX_TICKS` tokens, every k-th.

    512 labels would be unreadable and make matplotlib spend seconds laying
    them out; the ticks still sit on the tokens they name.
    """
    step = _tick_step(len(labels))
    ticks = range(0, len(labels), step)
    names = [labels[i] for i in ticks]
    fontsize = _fontsize(len(names))
    if x:
        ax.set_xticks(ticks, names, rotation=90, fontsize=fontsize)
    if y:
        ax.set_yticks(ticks, names, fontsize=fontsize)


def _tick_step(count: int) -> int:
    return max(1, -(-count // MAX_TICKS))


def _map_side(count: int) -> float:
    """Inches for a count x count token map: 0.22 per token, at most MAX_SIDE."""
    return min(2.0 + 0.22 * count, MAX_SIDE)


def _fontsize(count: int) -> float:
    return float(np.clip(300.0 / max(count, 1), 4.0, 10.0))


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


def plot_rollout(
    trace: Trace, index: int = 0, layer: int | None = None, ax: Axes | None = None
) -> Figure:
    """Heatmap of attention rollout for one sequence: what each token mixed in.

    Row i shows how much of each input token (columns) the token at position
    i has mixed in by the output of `layer`, following `attention_rollout`
    with its defaults (heads averaged, residual added). Rows sum to 1;
    padded positions are removed. The colour scale runs from 0 to the
    largest share.

    Args:
        trace: a `Trace`.
        index: int. Which sequence of the batch, 0 to B - 1.
        layer: int or None. 0 to num_layers - 1; None for the last layer.
        ax: a matplotlib `Axes` to draw into, or None for a new figure with a
            colour bar.

    Returns:
        The `Figure` that holds the heatmap.

    Examples:
    ```python
    fig = plot_rollout(trace)  # through every layer
    fig = plot_rollout(trace, layer=0)  # after the first layer only
    ```
    """
    from distil_explorer.analysis.rollout import attention_rollout

    checked_index("index", index, trace.token_ids.shape[0])
    checked_every_map(trace, "attention rollout")
    layer = trace.num_layers - 1 if layer is None else layer
    checked_index("layer", layer, trace.num_layers)
    real = np.flatnonzero(trace.padding_mask[index])
    labels = token_labels(trace, index, real)
    rows = slice(index, index + 1)
    rollout = attention_rollout(
        trace.attentions[: layer + 1, rows], trace.padding_mask[rows]
    )[layer, 0][np.ix_(real, real)]
    side = _map_side(len(real))
    fig, ax, created = figure_and_axes(ax, (side + 1.0, side))
    image = token_map(ax, rollout, labels, "input token", f"token after layer {layer}")
    ax.set_title(
        f"attention rollout to layer {layer}:\n"
        "what each token has mixed in from the input"
    )
    if created:
        fig.colorbar(image, ax=ax, label="share of the input", shrink=0.8)
    return fig


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
