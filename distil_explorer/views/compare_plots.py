"""A side-by-side figure of two Traces of one input: A, B and A - B.

Like the other figures (`distil_explorer.views.plots`), it builds its own
matplotlib `Figure` and returns it; matplotlib is imported only when a
figure is made.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np

from distil_explorer.analysis.compare import (
    TraceDifference,
    check_same_input,
    compare_traces,
    held_text,
    trace_label,
)
from distil_explorer.checks import checked_index
from distil_explorer.trace import Trace
from distil_explorer.views.plots import new_figure, token_labels, token_map

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure


def plot_difference(
    a: Trace,
    b: Trace,
    layer: int,
    head: int,
    index: int = 0,
    a_label: str | None = None,
    b_label: str | None = None,
) -> Figure:
    """One head of two Traces side by side, their difference, and a summary.

    The top row shows the head's attention in `a`, in `b` (both on one 0 to
    max colour scale, so they can be compared by eye) and `a - b` on a
    diverging scale centred at 0 with its own colour bar; padded positions are
    removed. The bottom row summarises `compare_traces(a, b)`: the largest
    |a - b| of each hidden state, and of each layer and head's attention map,
    with the head on show outlined. Use it to compare two backends, devices,
    dtypes or models (a preset against a custom config) on the same text.

    Args:
        a: a `Trace`.
        b: a `Trace` of the same input (same token ids and padding mask)
            holding the same layers and heads as `a`; its hidden width may
            differ.
        layer: int. A model layer, 0 to num_layers - 1, whose maps the
            Traces hold (`Trace.attention_layers`).
        head: int. A model head, 0 to num_heads - 1, held in the same way
            (`Trace.attention_heads`).
        index: int. Which sequence of the batch, 0 to B - 1.
        a_label: str or None. What `a` is, for the titles; None for its
            backend, device, dtype and shape (`trace_label`).
        b_label: str or None. The same for `b`.

    Returns:
        The `Figure`. Its first three axes are the maps of `a`, `b` and
        `a - b`.

    Examples:
    ```python
    fig = plot_difference(trace_torch, trace_jax, layer=5, head=3)
    fig = plot_difference(
        trace, low_trace, 0, 2, a_label="float32", b_label="mixed_bfloat16"
    )
    fig.savefig("float32_vs_bfloat16.png")
    ```
    """
    _check_pair(a, b)
    layer = checked_index("layer", layer, a.num_layers)
    head = checked_index("head", head, a.num_heads)
    a.attention_position(layer, head)  # says which layers and heads it holds
    index = checked_index("index", index, a.token_ids.shape[0])
    labels = [
        _checked_label("a_label", a_label, a),
        _checked_label("b_label", b_label, b),
    ]
    difference = compare_traces(a, b)
    count = int(a.padding_mask[index].sum())
    side = min(2.0 + 0.22 * count, 9.0)
    fig = new_figure((3 * side + 2.5, side + 3.8))
    maps, summary = fig.subfigures(2, 1, height_ratios=[side + 0.8, 3.0])
    _draw_maps(maps, (a, b), labels, layer, head, index)
    _draw_summary(summary, difference, layer, head)
    title = f"A - B, largest |A - B| anywhere: {difference.max_abs:.3g}"
    fig.suptitle("\n".join([title, *difference.notes]), fontsize=10)
    return fig


_TITLE_CHARS = 34  # characters per title line at fontsize 9 in one panel


def _check_pair(a: Trace, b: Trace) -> None:
    for name, trace in (("a", a), ("b", b)):
        if not isinstance(trace, Trace):
            raise ValueError(
                f"{name}={type(trace).__name__}: allowed: a Trace (from capture or "
                "Trace.load)"
            )
    check_same_input(a, b)
    held = [(t.attention_layers, t.attention_heads) for t in (a, b)]
    if held[0] != held[1]:
        raise ValueError(
            f"b: attention maps differ: {held_text(b, 'b')}, {held_text(a, 'a')}; "
            "allowed: two Traces holding the same layers and heads (compare_traces "
            "still compares the hidden states)"
        )


def _checked_label(name: str, label: str | None, trace: Trace) -> str:
    if label is None:
        return trace_label(trace)
    if not isinstance(label, str):
        raise ValueError(
            f"{name}={label!r}: allowed: a string, or None for the default"
        )
    return label


def _draw_maps(
    fig: SubFigure,
    traces: tuple[Trace, Trace],
    labels: list[str],
    layer: int,
    head: int,
    index: int,
) -> None:
    axes = fig.subplots(1, 3)
    real = np.flatnonzero(traces[0].padding_mask[index])
    names = token_labels(traces[0], index, real)
    maps = [t.attention(layer, head, index)[np.ix_(real, real)] for t in traces]
    top = max(float(m.max()) for m in maps)
    where = f"layer {layer}, head {head}"
    for ax, values, name, label in zip(axes[:2], maps, "AB", labels, strict=True):
        image = token_map(ax, values, names, vmax=top)
        # Long labels ("preset: torch on cpu, float32, ...") wrapped to the
        # width of their own panel, so A's and B's titles never run together.
        text = textwrap.fill(f"{name}: {label}", _TITLE_CHARS)
        ax.set_title(f"{text}\n{where}", fontsize=9)
    fig.colorbar(image, ax=list(axes[:2]), label="attention", shrink=0.8)
    delta = maps[0] - maps[1]
    largest = float(np.abs(delta).max())
    limit = largest or 1.0  # equal maps: a flat 0, still centred
    image = token_map(axes[2], delta, names, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[2].set_title(f"A - B, {where}\nlargest |A - B| {largest:.3g}", fontsize=9)
    fig.colorbar(image, ax=axes[2], label="A - B", shrink=0.8)


def _draw_summary(
    fig: SubFigure, difference: TraceDifference, layer: int, head: int
) -> None:
    from matplotlib.patches import Rectangle

    hidden, attention = fig.subplots(1, 2)
    hidden.set_title("largest |A - B| of each hidden state", fontsize=9)
    if difference.hidden_max is None:
        hidden.text(0.5, 0.5, "not compared:\nhidden widths differ", ha="center")
        hidden.set_axis_off()
    else:
        positions = np.arange(difference.hidden_max.size)
        hidden.bar(positions, difference.hidden_max, color="#1f77b4")
        hidden.set_xticks(positions)
        hidden.set_ylim(bottom=0.0)
        hidden.set_xlabel("hidden state (0 = embeddings)")
    values = difference.attention_max
    layers, heads = difference.attention_layers, difference.attention_heads
    image = attention.imshow(
        values, vmin=0.0, vmax=values.max() or 1.0, cmap="magma", aspect="auto"
    )
    row, column = layers.index(layer), heads.index(head)
    attention.add_patch(
        Rectangle(
            (column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="#2ca02c", lw=2
        )
    )
    attention.set_xticks(range(len(heads)), [str(h) for h in heads])
    attention.set_yticks(range(len(layers)), [str(i) for i in layers])
    attention.set_xlabel("head")
    attention.set_ylabel("layer")
    attention.set_title("largest |A - B| of each head's attention", fontsize=9)
    fig.colorbar(image, ax=attention, shrink=0.8)
