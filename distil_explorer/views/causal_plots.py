"""Patching and head importance drawn: HTML for the screen and the report,
matplotlib figures for the export, from the same numbers and colours.

Both scales come from one function each (`patching_scale`,
`importance_scale`): the HTML cells, the Heads tab's buttons and the
figures' images colour a value with the same colormap and limits, so the file
shows what the screen shows. Every token and label is escaped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure

from distil_explorer.views.colours import ink_on
from distil_explorer.views.html_text import text as escaped

DIVERGING = "RdBu_r"  # blue below 0, white at 0, red above
SEQUENTIAL = "viridis"
_CELL = "padding:2px 6px;text-align:right;font-size:12px"


def _symmetric(values: np.ndarray) -> tuple[float, float]:
    top = float(np.abs(values).max()) if values.size else 0.0
    top = top if top > 0 else 1.0
    return -top, top


def patching_scale(effect: np.ndarray) -> tuple[str, float, float]:
    """(colormap, vmin, vmax) of a patching effect: diverging, centred at 0.

    Examples:
    ```python
    patching_scale(np.array([[0.0, 1.0], [-0.2, 0.5]]))  # ('RdBu_r', -1.0, 1.0)
    ```
    """
    return (DIVERGING, *_symmetric(np.asarray(effect, np.float64)))


def importance_scale(values: np.ndarray) -> tuple[str, float, float]:
    """(colormap, vmin, vmax) of head importances.

    Gradient importances (|d target / d g| >= 0) run from 0 to their largest
    on viridis; ablation scores, signed, are diverging and centred at 0.

    Examples:
    ```python
    importance_scale(np.array([[0.1, 0.3]]))  # ('viridis', 0.0, 0.3)
    ```
    """
    values = np.asarray(values, np.float64)
    if values.size and values.min() < 0:
        return (DIVERGING, *_symmetric(values))
    top = float(values.max()) if values.size else 0.0
    return SEQUENTIAL, 0.0, top if top > 0 else 1.0


def colours(values: np.ndarray, scale: tuple[str, float, float]) -> np.ndarray:
    """'#rrggbb' per value on `scale`, as the figures' images colour it.

    Examples:
    ```python
    colours(np.array([0.0]), ("RdBu_r", -1.0, 1.0))  # array(['#f7f7f7'])
    ```
    """
    name, low, high = scale
    rgba = colormaps[name](Normalize(low, high)(np.asarray(values, np.float64)))
    flat = [to_hex(c) for c in rgba.reshape(-1, 4)]
    return np.asarray(flat).reshape(np.shape(values))


def scale_html(scale: tuple[str, float, float], what: str) -> str:
    """A colour bar of `scale` from its low to its high value, and `what` it is."""
    name, low, high = scale
    stops = ", ".join(colours(np.linspace(low, high, 9), scale))
    return (
        f"<div class='de-scale' style='font-size:90%'>{low:.3g} <span style='display:"
        f"inline-block;width:160px;height:10px;vertical-align:middle;background:"
        f"linear-gradient(to right, {stops})'></span> {high:.3g} {escaped(what)}</div>"
    )


def cell_text(values: np.ndarray):
    """How a cell's value is written, alike on screen and in the figures: as
    many decimals as the largest |value| needs for 3 significant digits (at
    least 2), no exponent and no "-0.00".

    Examples:
    ```python
    cell_text(np.array([0.103, -7e-5]))(-7e-5)  # '-0.000' is written '0.000'
    ```
    """
    top = float(np.abs(values).max()) if np.size(values) else 0.0
    digits = 2 if top == 0 else int(min(6, max(2, 2 - np.floor(np.log10(top)))))
    return lambda value: f"{round(float(value), digits) + 0.0:.{digits}f}"


def patching_labels(patching) -> tuple[list[str], list[str]]:
    """(column labels: token, "clean → corrupted" where they differ; row labels)."""
    real = int(np.asarray(patching.padding_mask).sum())
    clean = patching.clean_tokens or [str(i) for i in patching.clean_token_ids]
    other = patching.corrupted_tokens or [str(i) for i in patching.corrupted_token_ids]
    pairs = zip(clean[:real], other[:real], strict=True)
    columns = [c if c == o else f"{c} \u2192 {o}" for c, o in pairs]
    rows = ["0 embeddings"] + [str(i) for i in range(1, patching.effect.shape[0])]
    return columns, rows


def patching_summary(patching) -> str:
    """The target on both inputs, in words (escaped)."""
    off = ", ".join(f"{a}.{b}" for a, b in patching.ablated_heads)
    return escaped(
        f"target {patching.target or 'target'}: clean {patching.clean_value:.4g}, "
        f"corrupted {patching.corrupted_value:.4g}"
        + (f" (heads off in every run: {off})" if off else "")
        + ". Cell (hidden state l, token t): the corrupted run with the clean "
        "state l at t put back; 1 restores the clean value, 0 changes nothing."
    )


def _hover(row: str, column: str, value: float) -> str:
    return escaped(f"hidden state {row}, {column}: effect {value:+.4f}")


def patching_html(patching) -> str:
    """The layer x position heatmap as an HTML table, value on hover."""
    columns, rows = patching_labels(patching)
    effect = patching.effect[:, : len(columns)]
    scale = patching_scale(effect)
    fill, written = colours(effect, scale), cell_text(effect)
    head = "".join(
        f"<th style='font-weight:normal;writing-mode:vertical-rl;transform:"
        f"rotate(180deg);padding:2px'>{escaped(c)}</th>"
        for c in columns
    )
    lines = []
    for row, values, backgrounds in zip(rows, effect, fill, strict=True):
        cells = "".join(
            f"<td class='de-patch-cell' title='{_hover(row, c, v)}' style='"
            f"background:{b};color:{ink_on(b)};{_CELL}'>{written(v)}</td>"
            for c, v, b in zip(columns, values, backgrounds, strict=True)
        )
        lines.append(
            f"<tr><th style='text-align:right'>{escaped(row)}</th>{cells}</tr>"
        )
    return (
        "<div class='de-patching'><table style='border-collapse:collapse'>"
        f"<tr><th>hidden state \\ token</th>{head}</tr>{''.join(lines)}</table>"
        f"{scale_html(scale, 'effect (white: 0, no change)')}"
        f"<div style='font-size:90%'>{patching_summary(patching)}</div></div>"
    )


def _token_ticks(ax, columns: list[str], rows: list[str]) -> None:
    short = [c if len(c) <= 24 else c[:23] + "\u2026" for c in columns]
    ax.set_xticks(range(len(columns)), short, rotation=90)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("token (clean \u2192 corrupted where they differ)")
    ax.set_ylabel("hidden state")


def plot_patching(patching) -> Figure:
    """The patching heatmap: hidden state (rows) x token, diverging at 0.

    Examples:
    ```python
    plot_patching(session.patch("The dog sat.")).savefig("patching.png")
    ```
    """
    columns, rows = patching_labels(patching)
    effect = patching.effect[:, : len(columns)]
    name, low, high = patching_scale(effect)
    figure = Figure(
        layout="constrained",
        figsize=(max(5.0, 0.55 * len(columns) + 2.5), 1.0 + 0.45 * len(rows) + 1.6),
    )
    ax = figure.add_subplot()
    image = ax.imshow(effect, cmap=name, vmin=low, vmax=high, aspect="auto")
    _token_ticks(ax, columns, rows)
    written = cell_text(effect)
    for (i, j), value in np.ndenumerate(effect):
        ink = ink_on(to_hex(image.to_rgba(value)))
        ax.text(j, i, written(value), ha="center", va="center", fontsize=7, color=ink)
    figure.colorbar(image, ax=ax, label="effect (1: restores the clean value)")
    off = ", ".join(f"{a}.{b}" for a, b in patching.ablated_heads)
    ax.set_title(
        f"Activation patching of {patching.target or 'the target'}: clean "
        f"{patching.clean_value:.4g}, corrupted {patching.corrupted_value:.4g}"
        + (f"\nheads off in every run: {off}" if off else ""),
        fontsize=9,
    )
    return figure


def importance_values(importance: Any) -> tuple[np.ndarray, str]:
    """(float64 (L, H) values, a caption) of a `HeadImportance` or an array."""
    values = np.asarray(getattr(importance, "values", importance), np.float64)
    if values.ndim != 2:
        raise ValueError(
            f"importance shape={values.shape}: allowed: (layers, heads), as "
            "head_importance returns"
        )
    method = getattr(importance, "method", "")
    target = getattr(importance, "target", "")
    caption = "head importance" + (f" ({method})" if method else "")
    return values, caption + (f" of {target}" if target else "")


def head_label(layer: int, head: int) -> str:
    """A head's button label: 'L2 H3'."""
    return f"L{layer} H{head}"


def importance_html(importance: Any, ablated=()) -> str:
    """The layer x head grid as an HTML table (value on hover; heads off crossed)."""
    values, caption = importance_values(importance)
    scale = importance_scale(values)
    fill, written = colours(values, scale), cell_text(values)
    off = {tuple(pair) for pair in ablated}
    head = "".join(f"<th>H{h}</th>" for h in range(values.shape[1]))
    lines = []
    for layer, (row, backgrounds) in enumerate(zip(values, fill, strict=True)):
        cells = []
        for h, (v, b) in enumerate(zip(row, backgrounds, strict=True)):
            mark = " \u2715 off" if (layer, h) in off else ""
            strike = "text-decoration:line-through;" if mark else ""
            cells.append(
                f"<td title='{escaped(f'layer {layer}, head {h}: {v:+.4g}{mark}')}' "
                f"style='background:{b};color:{ink_on(b)};{strike}{_CELL}'>"
                f"{written(v)}{mark}</td>"
            )
        lines.append(f"<tr><th>L{layer}</th>{''.join(cells)}</tr>")
    return (
        f"<div class='de-importance'><b>{escaped(caption)}</b><table style='border-"
        f"collapse:collapse'><tr><th></th>{head}</tr>{''.join(lines)}</table>"
        f"{scale_html(scale, 'importance')}</div>"
    )


def plot_head_importance(importance: Any, ablated=()) -> Figure:
    """The layer x head importance grid; heads switched off crossed out.

    Examples:
    ```python
    plot_head_importance(de.head_importance(backbone, texts, target,
                                            tokenizer=tokenizer))
    ```
    """
    values, caption = importance_values(importance)
    name, low, high = importance_scale(values)
    layers, heads = values.shape
    size = (max(4.0, 0.6 * heads + 2.2), max(2.5, 0.5 * layers + 1.5))
    figure = Figure(figsize=size, layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(values, cmap=name, vmin=low, vmax=high, aspect="auto")
    ax.set_xticks(range(heads), [f"H{h}" for h in range(heads)])
    ax.set_yticks(range(layers), [f"L{layer}" for layer in range(layers)])
    written = cell_text(values)
    for (i, j), value in np.ndenumerate(values):
        ink = ink_on(to_hex(image.to_rgba(value)))
        ax.text(j, i, written(value), ha="center", va="center", fontsize=7, color=ink)
    for layer, h in ablated:
        ax.plot([h - 0.45, h + 0.45], [layer - 0.45, layer + 0.45], color="black")
        ax.plot([h - 0.45, h + 0.45], [layer + 0.45, layer - 0.45], color="black")
    figure.colorbar(image, ax=ax)
    off = f"; \u2715 switched off: {', '.join(f'{a}.{b}' for a, b in ablated)}"
    ax.set_title(caption + (off if ablated else ""), fontsize=9)
    return figure
