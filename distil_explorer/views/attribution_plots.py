"""Token attributions drawn: a coloured strip over the text and a bar chart.

Both take an `Attribution` (plain numpy) and only draw it. Colours are a
diverging map centred on 0 (red: the token raises the target, blue: it
lowers it), scaled to the largest |score| of the sequence; padding is never
drawn.
"""

from __future__ import annotations

import html

import numpy as np

from distil_explorer.checks import checked_index


def score_colours(scores: np.ndarray) -> list[str]:
    """`#rrggbb` per score: white at 0, red for +max|score|, blue for -max.

    Examples:
    ```python
    score_colours(np.array([1.0, 0.0, -0.5]))  # ['#d62728', '#ffffff', '#8fbbda']
    ```
    """
    scores = np.asarray(scores, np.float64)
    top = float(np.abs(scores).max()) if scores.size else 0.0
    share = scores / top if top > 0 else np.zeros_like(scores)
    red, blue, white = (
        np.array([214, 39, 40]),
        np.array([31, 119, 180]),
        np.array([255, 255, 255]),
    )
    colours = []
    for s in share:
        end = red if s >= 0 else blue
        rgb = np.rint(white + abs(s) * (end - white)).astype(int)
        colours.append("#{:02x}{:02x}{:02x}".format(*rgb))
    return colours


def attribution_html(attribution, index: int = 0) -> str:
    """The real tokens of sequence `index` as coloured spans, score on hover."""
    index = checked_index("index", index, attribution.scores.shape[0])
    tokens = attribution.real_tokens(index)
    scores = attribution.scores[index, : len(tokens)]
    spans = [
        f'<span class="de-attribution-token" title="{s:+.4g}" style="background:'
        f'{c};padding:1px 3px;margin:1px;border-radius:3px;display:inline-block">'
        f"{html.escape(t)}</span>"
        for t, s, c in zip(tokens, scores, score_colours(scores), strict=True)
    ]
    delta = float(attribution.delta[index])
    return (
        f"<div>{''.join(spans)}</div><div style='font-size:90%'>"
        f"{html.escape(attribution.method)} of {html.escape(attribution.target)}: "
        f"target {float(attribution.target_value[index]):.4g}, baseline "
        f"{float(attribution.baseline_value[index]):.4g}, sum of scores "
        f"{float(scores.sum()):.4g}, delta {delta:+.2g}</div>"
    )


def plot_attribution(attribution, index: int = 0, ax=None):
    """A bar chart of one sequence's token scores, bars in the strip's colours.

    Args:
        attribution: an `Attribution`.
        index: int. Which sequence of the batch.
        ax: a matplotlib Axes to draw into, or None for a new Figure.

    Returns:
        The matplotlib Figure.

    Examples:
    ```python
    a = de.attribute(backbone, "The cat sat.", de.cls_norm_target(),
                     tokenizer=tokenizer)
    de.plot_attribution(a).savefig("attribution.png")
    ```
    """
    from distil_explorer.views.plots import figure_and_axes

    index = checked_index("index", index, attribution.scores.shape[0])
    tokens = attribution.real_tokens(index)
    scores = attribution.scores[index, : len(tokens)]
    width = float(np.clip(0.35 * len(tokens) + 1.5, 4.0, 14.0))
    fig, ax, _ = figure_and_axes(ax, (width, 3.0))
    positions = np.arange(len(tokens))
    ax.bar(positions, scores, color=score_colours(scores), edgecolor="#555555")
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_xticks(positions, tokens, rotation=90 if len(tokens) > 12 else 45)
    ax.set_ylabel("score")
    ax.set_title(
        f"{attribution.method} of {attribution.target} "
        f"(delta {float(attribution.delta[index]):+.2g})",
        fontsize=10,
    )
    return fig
