"""The layer lens as a grid: what each layer would predict at each position.

`lens_grid` turns a `LayerPredictions` (plain numpy) into the cells both
drawings show: the table on screen and in the report (`lens_html`) and the
exported figure (`lens_plots.plot_layer_predictions`). Rows are the hidden
states the head was applied to, embeddings output first, then layers 1..L
(as `Trace.hidden_states`); columns are the real tokens of one sequence.
Each cell holds the top-1 token, coloured by its probability on one
sequential scale (white: the head is unsure, dark blue: certain), in bold
where the top-1 is the token actually there; hovering a cell
lists the top-k and the actual token's rank and probability.

Long sequences stay legible: the table scrolls sideways with the layer names
pinned on the left (a line above it says so when there are more than
`SCROLL_HINT` columns), and at most `MAX_POSITIONS` positions are drawn
(the same line says how many are left out).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer.checks import checked_index
from distil_explorer.views.colours import ink_on
from distil_explorer.views.html_text import text as escaped

MAX_POSITIONS = 64  # columns drawn; more would be unreadable in a figure too
LABEL_CHARS = 10  # a longer token is cut in its cell (whole in the hover)
SCROLL_HINT = 16  # more columns than this may not fit a panel: say it scrolls
# ColorBrewer "Blues", 0 to 1 evenly: probability of the top-1 token.
SCALE = (
    "#f7fbff",
    "#deebf7",
    "#c6dbef",
    "#9ecae1",
    "#6baed6",
    "#4292c6",
    "#2171b5",
    "#08519c",
    "#08306b",
)
LEGEND = "probability of the cell's token (its top-1)"
HIT = "bold: the top-1 is the token actually there (at [MASK]: the original one)"


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], np.float64)


def probability_colours(probabilities) -> np.ndarray:
    """`#rrggbb` per probability on `SCALE` (0 white, 1 dark blue), same shape.

    Examples:
    ```python
    probability_colours(np.array([0.0, 1.0]))  # array(['#f7fbff', '#08306b'])
    ```
    """
    p = np.clip(np.nan_to_num(np.asarray(probabilities, np.float64)), 0.0, 1.0)
    stops = np.stack([_rgb(c) for c in SCALE])
    where = p * (len(SCALE) - 1)
    low = np.minimum(np.floor(where).astype(int), len(SCALE) - 2)
    share = (where - low)[..., None]
    rgb = np.rint(stops[low] * (1 - share) + stops[low + 1] * share).astype(int)
    flat = ["#{:02x}{:02x}{:02x}".format(*c) for c in rgb.reshape(-1, 3)]
    return np.array(flat, dtype="<U7").reshape(p.shape)


def ink(colour: str) -> str:
    """Black or white text, whichever reads on the `#rrggbb` background."""
    return ink_on(colour, threshold=0.55)


@dataclasses.dataclass(frozen=True)
class LensGrid:
    """The cells of one sequence's layer lens, as both drawings show them.

    Attributes:
        positions: int (P,). The token positions drawn (real tokens only).
        header: str per position: the token there.
        layers: str per row: "embeddings", "layer 1", ... "layer L".
        labels: str (L + 1, P). The top-1 token of each cell.
        colours: `#rrggbb` (L + 1, P), from the top-1 probability.
        hits: bool (L + 1, P). The top-1 is the actual token.
        titles: str (L + 1, P). The hover text: top-k, actual token's rank.
        note: what is left out ("" when every real position is drawn).
    """

    positions: np.ndarray
    header: tuple[str, ...]
    layers: tuple[str, ...]
    labels: np.ndarray
    colours: np.ndarray
    hits: np.ndarray
    titles: np.ndarray
    note: str


def _namer(lens, index: int):
    """id -> token string for sequence `index` (or "id N" when unnamed)."""
    names: dict[int, str] = {}
    if lens.top_tokens is not None:
        for layer, strings in zip(lens.top_ids, lens.top_tokens, strict=True):
            for top, row in zip(layer[index], strings[index], strict=True):
                names.update(zip(top.tolist(), row, strict=True))
    actual = getattr(lens, "actual_tokens", None)
    if actual is not None:
        names.update(zip(lens.actual_ids[index].tolist(), actual[index], strict=True))
    return lambda i: names.get(int(i), f"id {int(i)}")


def short_label(token: str) -> str:
    """`token` cut to `LABEL_CHARS` characters (with "…"), as cells show it."""
    return token if len(token) <= LABEL_CHARS else token[: LABEL_CHARS - 1] + "…"


def lens_grid(lens, index: int = 0, max_positions: int = MAX_POSITIONS) -> LensGrid:
    """The cells of sequence `index` of `lens`, first `max_positions` real tokens.

    Examples:
    ```python
    grid = lens_grid(lens)
    grid.labels[-1]  # the model's own top-1 at each position
    ```
    """
    index = checked_index("index", index, lens.top_ids.shape[1])
    real = np.flatnonzero(lens.padding_mask[index])
    positions = real[:max_positions]
    name = _namer(lens, index)
    tokens = lens.tokens[index] if lens.tokens is not None else None
    header = tuple(
        tokens[p] if tokens is not None else name(lens.actual_ids[index, p])
        for p in positions
    )
    count = lens.top_ids.shape[0]
    layers = ("embeddings", *(f"layer {i}" for i in range(1, count)))
    layers = (*layers[:-1], f"{layers[-1]} (output)")
    top1 = lens.top_ids[:, index, positions, 0]
    labels = np.vectorize(name, otypes=[object])(top1) if top1.size else top1
    colours = probability_colours(lens.probabilities[:, index, positions, 0])
    hits = lens.actual_rank[:, index, positions] == 0
    titles = np.empty(top1.shape, dtype=object)
    for row in range(count):
        for j, p in enumerate(positions):
            titles[row, j] = _hover(lens, name, index, row, int(p), header[j], layers)
    note = ""
    if len(real) > len(positions):
        note = (
            f"positions 0-{len(positions) - 1} of {len(real)} shown "
            f"(max_positions={max_positions})"
        )
    return LensGrid(
        positions=positions,
        header=header,
        layers=layers,
        labels=np.asarray(labels, dtype=object),
        colours=colours,
        hits=hits,
        titles=titles,
        note=note,
    )


def _hover(lens, name, index: int, row: int, p: int, header: str, layers) -> str:
    ids = lens.top_ids[row, index, p]
    probabilities = lens.probabilities[row, index, p]
    top = ", ".join(
        f"{name(i)} {q:.3f}" for i, q in zip(ids, probabilities, strict=True)
    )
    actual = name(lens.actual_ids[index, p])
    rank = int(lens.actual_rank[row, index, p]) + 1
    chance = float(lens.actual_probability[row, index, p])
    return (
        f"{layers[row]}, position {p} ({header})\n"
        f"top-{len(ids)}: {top}\n"
        f"actual {actual}: rank {rank}, probability {chance:.3g}"
    )


def _legend() -> str:
    gradient = ", ".join(SCALE)
    return (
        "<div style='display:flex;align-items:center;gap:10px;margin:6px 0;"
        "flex-wrap:wrap'><span>0 (unsure)</span>"
        "<span style='display:inline-block;width:200px;height:16px;"
        f"border:1px solid #999;background:linear-gradient(to right, {gradient})'>"
        f"</span><span>1 (certain): {escaped(LEGEND)}</span>"
        f"</div><div style='margin:0 0 6px 0'><b>{escaped(HIT)}</b>; "
        "hover a cell for the top-k</div>"
    )


_STICKY = (
    "position:sticky;left:0;background:#ffffff;z-index:1;"
    "border-right:2px solid #444444;"
)
_UNDER = "border-bottom:2px solid #444444;"
_CELL = "padding:3px 7px;border:1px solid #ffffff;white-space:nowrap;"


def lens_html(lens, index: int = 0, max_positions: int = MAX_POSITIONS) -> str:
    """The layer x position grid of sequence `index` as an HTML fragment.

    Inline styles only (it sits in an ipywidgets HTML and in the report);
    every token is escaped, in cells and in hover titles.

    Examples:
    ```python
    lens = distil_explorer.layer_predictions(masked_lm, trace, tokenizer=tokenizer)
    IPython.display.HTML(lens_html(lens))
    ```
    """
    grid = lens_grid(lens, index, max_positions)
    head = "".join(
        f"<th style='{_CELL}{_UNDER}' title='{escaped(f'position {p}: {t}')}'>"
        f"{escaped(short_label(t))}</th>"
        for p, t in zip(grid.positions.tolist(), grid.header, strict=True)
    )
    rows = []
    for r, layer in enumerate(grid.layers):
        cells = []
        for j in range(len(grid.positions)):
            colour = grid.colours[r, j]
            hit = "font-weight:bold;" if grid.hits[r, j] else ""
            cells.append(
                f"<td class='de-lens-cell' style='{_CELL}background:{colour};"
                f"color:{ink(colour)};{hit}' title='{escaped(grid.titles[r, j])}'>"
                f"{escaped(short_label(grid.labels[r, j]))}</td>"
            )
        rows.append(
            f"<tr><th style='{_CELL}{_STICKY}text-align:right'>{escaped(layer)}</th>"
            f"{''.join(cells)}</tr>"
        )
    said = [grid.note] if grid.note else []
    if len(grid.positions) > SCROLL_HINT:
        said.append(f"{len(grid.positions)} columns: scroll sideways for the rest")
    note = f"<div style='margin:0 0 4px 0'>{escaped('; '.join(said))}</div>"
    return (
        "<div class='de-lens'>"
        f"{_legend()}{note if said else ''}"
        "<div style='overflow-x:auto;overflow-y:hidden;max-width:100%;"
        "padding-bottom:6px'>"
        "<table style='border-collapse:separate;border-spacing:0;font-family:monospace;"
        "font-size:15px'>"
        f"<thead><tr><th style='{_CELL}{_STICKY}{_UNDER}text-align:right'>"
        f"token here</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></div>"
    )
