"""Figures of `CorpusStatistics`: a heatmap per statistic, and a map of heads.

Both only draw the values they are given; the head map's coordinates come
from `head_map_points` (Jensen-Shannon distances, classical MDS), plain
numpy, so the Corpus tab and these figures place every head alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distil_explorer.corpus.sums import (
    STATISTICS,
    embed_distances,
    head_distances,
)
from distil_explorer.views.label_layout import place_labels
from distil_explorer.views.plots import MIN_FONT

TITLES = {
    "cls": "mass on [CLS]",
    "sep": "mass on [SEP]",
    "punctuation": "mass on punctuation",
    "self": "mass on itself",
    "previous": "mass on the previous token",
    "next": "mass on the next token",
    "entropy": "entropy (nats)",
    "distance": "mean distance (tokens)",
}


def head_map_points(stats: Any) -> np.ndarray:
    """float64 (num_layers * num_heads, 2): each head on the clustering map.

    Heads are in layer-major order; heads close together spread their
    attention over [CLS], [SEP], punctuation and relative offsets alike.
    """
    return embed_distances(head_distances(stats.distributions))


def plot_corpus_statistics(stats: Any, statistics: Any = None, clustering: bool = True):
    """One layer x head heatmap per statistic, and the map of heads.

    Each heatmap has its own colour scale (the entropy and distance are not
    fractions); the last panel places every head by the Jensen-Shannon
    distance between heads' attention distributions (2-D classical MDS, as
    in Clark et al. 2019's figure), coloured by layer.

    Args:
        stats: a `CorpusStatistics`.
        statistics: None (all of `STATISTICS`) or a list of their names.
        clustering: bool. Add the map of heads.

    Returns:
        The matplotlib `Figure`.

    Examples:
    ```python
    fig = plot_corpus_statistics(stats)
    fig.savefig("heads.png")
    plot_corpus_statistics(stats, ["cls", "sep"], clustering=False)
    ```
    """
    names = list(STATISTICS) if statistics is None else list(statistics)
    unknown = [n for n in names if n not in STATISTICS]
    if unknown or not names:
        raise ValueError(
            f"statistics={statistics!r}: allowed: None or a non-empty list of "
            f"{', '.join(STATISTICS)}"
        )
    columns = min(3, len(names))  # 3 maps with colour bars fit the explorer
    rows = -(-len(names) // columns)
    layers, heads = stats.num_layers, stats.num_heads
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    # The map of heads gets a row of its own, at least 4 in (400 px) square.
    height = 2.9 * rows + (5.6 if clustering else 0.0)
    fig = Figure(figsize=(3.4 * columns + 0.6, height), layout="constrained")
    parts = fig.subfigures(
        2 if clustering else 1,
        1,
        squeeze=False,
        height_ratios=([2.9 * rows, 5.6] if clustering else None),
    )[:, 0]
    axes = parts[0].subplots(rows, columns, squeeze=False)
    flat = list(axes.flat)
    for ax, name in zip(flat[: len(names)], names, strict=True):
        image = ax.imshow(stats.values[name], cmap="viridis", aspect="auto")
        ax.set_title(TITLES[name], fontsize=10)
        ax.set_xlabel("head", fontsize=MIN_FONT)
        ax.set_ylabel("layer", fontsize=MIN_FONT)
        ax.set_xticks(range(0, heads, _step(heads)))
        ax.set_yticks(range(0, layers, _step(layers)))
        ax.tick_params(labelsize=MIN_FONT)
        parts[0].colorbar(image, ax=ax, shrink=0.8)
    for ax in flat[len(names) :]:
        ax.set_visible(False)
    if clustering:
        _draw_head_map(parts[1], stats)
    fig.suptitle(f"{stats.num_texts:,} texts, {stats.num_tokens:,} tokens", fontsize=11)
    if clustering:  # last: it freezes the layout to place its labels
        _label_heads(fig, stats)
    return fig


def _step(count: int) -> int:
    """Every tick up to 12, then every k-th: labels at 9 pt in a 3 in panel."""
    return max(1, -(-count // 12))


def _draw_head_map(part, stats) -> None:
    layers, heads = stats.num_layers, stats.num_heads
    ax = part.subplots()
    ax.set_box_aspect(0.75)
    points = head_map_points(stats)
    colour = np.repeat(np.arange(layers), heads)
    scatter = ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="plasma", s=24)
    ax.set_title("heads by behaviour (JS distance, MDS)", fontsize=10)
    ax.set_xlabel("labels: layer-head", fontsize=MIN_FONT)
    ax.set_xticks([])
    ax.set_yticks([])
    # Room for labels beside the outermost points.
    ax.margins(0.12)
    part.colorbar(scatter, ax=ax, shrink=0.8, label="layer")
    ax.set_gid("head-map")


def _label_heads(fig, stats) -> None:
    ax = next(a for a in fig.get_axes() if a.get_gid() == "head-map")
    points = head_map_points(stats)
    heads = stats.num_heads
    names = [f"{i // heads}-{i % heads}" for i in range(len(points))]
    hidden = place_labels(ax, points[:, 0], points[:, 1], names, MIN_FONT)
    if hidden:
        ax.set_xlabel(
            f"labels: layer-head; {hidden} of {len(names)} left out where points crowd",
            fontsize=MIN_FONT,
        )
