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
    panels = len(names) + bool(clustering)
    columns = min(4, panels)
    rows = -(-panels // columns)
    layers, heads = stats.num_layers, stats.num_heads
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    fig = Figure(figsize=(3.2 * columns, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    flat = list(axes.flat)
    for ax, name in zip(flat[: len(names)], names, strict=True):
        image = ax.imshow(stats.values[name], cmap="viridis", aspect="auto")
        ax.set_title(TITLES[name], fontsize=9)
        ax.set_xlabel("head", fontsize=8)
        ax.set_ylabel("layer", fontsize=8)
        ax.set_xticks(range(heads))
        ax.set_yticks(range(layers))
        ax.tick_params(labelsize=6)
        fig.colorbar(image, ax=ax, shrink=0.8)
    if clustering:
        ax = flat[len(names)]
        points = head_map_points(stats)
        colour = np.repeat(np.arange(layers), heads)
        scatter = ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="plasma", s=18)
        for i, (x, y) in enumerate(points):
            ax.annotate(f"{i // heads}-{i % heads}", (x, y), fontsize=5)
        ax.set_title("heads by behaviour (JS distance, MDS)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(scatter, ax=ax, shrink=0.8, label="layer")
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.suptitle(f"{stats.num_texts:,} texts, {stats.num_tokens:,} tokens", fontsize=10)
    return fig
