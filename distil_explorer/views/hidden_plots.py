"""Figures of the Hidden states tab: per-token norms and layer-to-layer
similarity, PCA of every layer on shared axes, and attention rollout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from distil_explorer.analysis.hidden import (
    common_basis,
    layer_similarity_matrix,
    pca,
    token_norms,
)
from distil_explorer.checks import checked_every_map, checked_index
from distil_explorer.views.label_layout import place_labels
from distil_explorer.views.plots import (
    MIN_FONT,
    PANEL_WIDTH,
    figure_and_axes,
    map_side,
    new_figure,
    tick_step,
    token_labels,
    token_map,
    token_ticks,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from distil_explorer.trace import Trace


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
    norms_width = min(1.5 + 0.25 * len(real), PANEL_WIDTH - 5.0)
    fig = new_figure((norms_width + 5.0, 4.0))
    left, right = fig.subplots(1, 2, width_ratios=[norms_width, 4.0])
    image = left.imshow(norms, aspect="auto", cmap="magma")
    token_ticks(left, labels, y=False, room=norms_width - 1.0)
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
    fig, ax, created = figure_and_axes(ax, (7.0, 5.5))
    x, y = projection.points.T
    ax.scatter(x, y, c=real, cmap="viridis", s=30)
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
    title = f"hidden state {layer}, sequence {index} ({basis_name})"
    ax.set_title(title)
    if created:  # labels that neither overlap nor leave the frame
        hidden = place_labels(ax, x, y, labels, MIN_FONT)
        if hidden:
            ax.set_title(f"{title}\n{hidden} of {len(labels)} labels left out")
    else:  # someone else's figure: its layout is theirs, label every k-th
        step = tick_step(len(labels))
        for label, px, py in list(zip(labels, x, y, strict=True))[::step]:
            ax.annotate(label, (px, py), xytext=(3, 3), textcoords="offset points")
    return fig


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
    side = map_side(len(real))
    fig, ax, created = figure_and_axes(ax, (side + 1.0, side))
    image = token_map(
        ax, rollout, labels, "input token", f"token after layer {layer}", room=side
    )
    ax.set_title(
        f"attention rollout to layer {layer}:\n"
        "what each token has mixed in from the input"
    )
    if created:
        fig.colorbar(image, ax=ax, label="share of the input", shrink=0.8)
    return fig
