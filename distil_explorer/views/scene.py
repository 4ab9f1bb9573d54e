"""What the canvas draws, in Python: the scene of static/scene.js, for the export.

A scene is the list of what is drawn (lines with their colour and level,
heatmap cells, thumbnails) plus the title and the legend's largest value,
computed from (`ViewState`, the Trace payload). scene.js computes the same
for the screen from the same bytes, with the same float64 arithmetic in the
same order; tests/views/test_scene.py runs it under node and compares. The
export draws a Python scene with matplotlib (`views/scene_plots.py`), so
the file shows what the screen shows.

A context-mixing weighting ("value_zeroing", "alti") draws the layer's one
map (no heads: the head choices are kept but do not apply), the mean over
layers, or the rollout through the layer; the model view one map per layer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from distil_explorer.views.contract import LAYOUT, head_colour
from distil_explorer.views.payload import Arrays
from distil_explorer.views.view_state import ViewState, heads_text
from distil_explorer.views.weighting import LABELS, MIXING, MIXING_TEXT


def _round(x: np.ndarray) -> np.ndarray:
    """Math.round for non-negative values: floor(x + 0.5)."""
    return np.floor(x + 0.5)


def visible_of(state: ViewState, data: Arrays) -> tuple[int, ...]:
    return state.visible_heads or data.heads


def mixing_of(state: ViewState) -> bool:
    """Whether `state` draws a context-mixing map (one per layer, no heads)."""
    return state.weighting in MIXING


def _map(data: Arrays, layer: int, head: int | None) -> np.ndarray:
    at = 0 if data.mixing else data.heads.index(head)
    return data.maps[data.maps_layers.index(layer), at].ravel()


def mean_map(state: ViewState, data: Arrays) -> np.ndarray:
    """The mean `state.aggregate` names, summed in scene.js's order."""
    visible = (None,) if mixing_of(state) else visible_of(state, data)
    n = len(data.tokens)
    total = np.zeros(n * n, dtype=np.float64)
    count = 0
    if state.aggregate == "mean_layers" and data.layer_mean is not None:
        for head in visible:
            at = 0 if head is None else data.heads.index(head)
            total += data.layer_mean[at].ravel()
            count += 1
    else:
        layers = data.layers if state.aggregate == "mean_layers" else (state.layer,)
        for layer in layers:
            for head in visible:
                total += _map(data, layer, head)
                count += 1
    return total / count


def drawn_maps(state: ViewState, data: Arrays) -> list[dict[str, Any]]:
    """[{head, colour, A}] as scene.js's drawnMaps (head None: a mean, or a
    mixing map)."""
    if mixing_of(state) and state.aggregate != "mean_layers":
        layer = data.maps_layers.index(state.layer)
        rolled = state.aggregate == "rollout"
        values = (
            data.rollout[layer].ravel() if rolled else _map(data, state.layer, None)
        )
        return [{"head": None, "colour": None, "A": values}]
    if state.aggregate != "head":
        return [{"head": None, "colour": None, "A": mean_map(state, data)}]
    if state.draw_style == "heatmap":
        heads = [state.head]
    else:
        heads = [h for h in visible_of(state, data) if h != state.head]
        heads.append(state.head)
    return [
        {"head": h, "colour": head_colour(h), "A": _map(data, state.layer, h)}
        for h in heads
    ]


def combined(
    values: np.ndarray, n: int, picked: tuple[int, ...], side: str, mean: bool
) -> np.ndarray:
    """Rows ("query") or columns ("key") of `picked`, summed or averaged."""
    square = values.reshape(n, n)
    out = np.zeros(n, dtype=np.float64)
    for p in picked:
        out += square[p] if side == "query" else square[:, p]
    if mean and picked:
        out /= len(picked)
    return out


def strongest(values: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of the `count` largest values, ties to the lower index."""
    if values.size <= count:
        return np.arange(values.size)
    edge = np.sort(values)[values.size - count]
    above = values > edge
    ties = np.flatnonzero(values == edge)[: count - int(above.sum())]
    chosen = above.copy()
    chosen[ties] = True
    return np.flatnonzero(chosen)


def strongest_count(maps: int) -> int:
    """How many lines each of `maps` maps draws at most when no token is picked."""
    return max(16, LAYOUT["strongest_lines"] // max(1, maps))


def _candidates(
    values: np.ndarray, n: int, picked, side: str, count: int
) -> np.ndarray:
    if picked:
        t = np.arange(n)
        rows = [p * n + t if side == "query" else t * n + p for p in picked]
        return np.concatenate(rows)
    if n <= LAYOUT["many"]:
        return np.arange(n * n)
    return strongest(values, count)


def head_scene(state: ViewState, data: Arrays) -> dict[str, Any]:
    """The head view's scene (lines or heatmap) as scene.js's headScene.

    Examples:
    ```python
    scene = head_scene(state, decoded(trace_payload(trace)))
    scene["kind"], scene["title"]  # ('lines', 'layer 0, heads 0–11 overlaid ...')
    ```
    """
    picked = state.pins()
    n = len(data.tokens)
    base = {
        "n": n,
        "tokens": list(data.tokens),
        "picked": list(picked),
        "side": state.selected_side if picked else "query",
        "title": title_of(state, data),
        "mixing": state.weighting if mixing_of(state) else "",
    }
    if n == 0:
        return {**base, "kind": "empty"}
    maps = drawn_maps(state, data)
    drawn = [{"head": m["head"], "colour": m["colour"]} for m in maps]
    if state.draw_style == "heatmap":
        values = maps[0]["A"]
        top = float(values.max())
        cells = _round(values / top * 255) if top > 0 else np.zeros_like(values)
        return {**base, "kind": "heatmap", "maps": drawn, "top": top, "cells": cells}
    side = base["side"]
    count = strongest_count(len(maps))
    chosen = [_candidates(m["A"], n, picked, side, count) for m in maps]
    top = max(
        (float(m["A"][c].max()) for m, c in zip(maps, chosen, strict=True) if c.size),
        default=0,
    )
    lines = []
    for k, (m, c) in enumerate(zip(maps, chosen, strict=True)):
        levels = _round(m["A"][c] / top * LAYOUT["levels"]) if top > 0 else c * 0
        keep = levels > 0
        rows = np.stack(
            [np.full(keep.sum(), k), c[keep] // n, c[keep] % n, levels[keep]], axis=1
        )
        lines.append(rows.astype(np.int64))
    scene = {**base, "kind": "lines", "maps": drawn, "top": top, "sums": [], "most": 0}
    scene["lines"] = np.concatenate(lines).ravel() if lines else np.zeros(0)
    scene["every"] = not picked and n <= LAYOUT["many"]
    if picked:
        mean = state.combine == "mean"
        sums = [combined(m["A"], n, picked, side, mean) for m in maps]
        scene["sums"] = sums
        scene["most"] = max([top, *(float(s.max()) for s in sums)])
    return scene


def percentile(sorted_values: np.ndarray, p: float) -> float:
    """The `p`-th percentile of sorted values, linear between neighbours."""
    pos = (p / 100) * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    a, b = float(sorted_values[lo]), float(sorted_values[hi])
    return a + (b - a) * (pos - lo)


def contrast(small: np.ndarray, p: float) -> np.ndarray:
    """uint8 thumbnails (..., t, t), each scaled so its `p`-th percentile is 255.

    Examples:
    ```python
    contrast(np.array([[[0, 10], [20, 90]]], dtype=np.uint8), 50)  # 15 -> 255
    ```
    """
    flat = small.reshape(-1, small.shape[-1] * small.shape[-2]).astype(np.float64)
    out = np.zeros(flat.shape, dtype=np.uint8)
    for k, values in enumerate(flat):
        ordered = np.sort(values)
        top = percentile(ordered, p)
        if not top > 0:
            top = ordered[-1]
        if top > 0:
            out[k] = np.minimum(255, _round(values * 255 / top))
    return out.reshape(small.shape)


def model_scene(state: ViewState, data: Arrays) -> dict[str, Any]:
    """The model view's scene: contrast thumbnails and the chosen head (a
    mixing weighting: one thumbnail per layer, `heads` empty, the chosen
    layer)."""
    mixing = mixing_of(state)
    return {
        "kind": "model",
        "layers": list(data.layers),
        "heads": [] if mixing else list(data.heads),
        "t": int(data.small.shape[-1]),
        "thumbs": contrast(data.small, state.thumbnail_percentile).ravel(),
        "chosen": [state.layer, -1 if mixing else state.head],
        "ablated": [] if mixing else [list(pair) for pair in data.ablated],
        "n": len(data.tokens),
        "title": title_of(state, data),
        "mixing": state.weighting if mixing else "",
    }


def scene_of(state: ViewState, data: Arrays) -> dict[str, Any]:
    """`model_scene` or `head_scene`, as `state.mode` says."""
    if state.mode == "model":
        return model_scene(state, data)
    return head_scene(state, data)


def heads_off(ablated) -> str:
    """The title's mark of heads switched off, as scene.js's headsOff writes it.

    Examples:
    ```python
    heads_off(((0, 1), (1, 3)))  # ' · heads off: 0.1, 1.3'; () gives ''
    ```
    """
    if not ablated:
        return ""
    named = ", ".join(f"{layer}.{head}" for layer, head in ablated)
    return f" \u00b7 heads off: {named}"


def title_of(state: ViewState, data: Arrays) -> str:
    """What is drawn, in words, exactly as scene.js's titleOf writes it."""
    n = len(data.tokens)
    if not n:
        return "Nothing to draw yet: press Run in the Run tab."
    count = f"{n} tokens"
    norms = " \u00b7 norm-weighted \u2016\u03b1f(x)\u2016" * (
        state.weighting == "norms"
    )
    norms += heads_off(data.ablated)
    visible = visible_of(state, data)
    heads = heads_text(visible)
    if mixing_of(state):
        return _mixing_title(state, data, count)
    if state.mode == "model":
        return (
            f"model view: {len(data.layers)} layers \u00d7 {len(data.heads)} heads"
            f" \u00b7 {count} \u00b7 layer {state.layer}, head {state.head} "
            f"selected{norms}"
        )
    few = ""
    if state.draw_style == "lines" and n > LAYOUT["many"] and not state.pins():
        drawn = len(visible) if state.aggregate == "head" else 1
        few = (
            f" \u00b7 the {strongest_count(drawn)} strongest lines "
            "of each map (hover a token for all of its lines)"
        )
    tail = f" \u00b7 {count}{few}{norms}"
    if state.aggregate == "mean_heads":
        return f"mean over heads {heads} of layer {state.layer}{tail}"
    if state.aggregate == "mean_layers":
        maps = len(data.layers) * len(visible)
        layers = heads_text(data.layers)
        return f"mean over layers {layers} \u00d7 heads {heads} ({maps} maps){tail}"
    if state.draw_style == "lines" and len(visible) > 1:
        return (
            f"layer {state.layer}, heads {heads} overlaid ({len(visible)} of "
            f"{len(data.heads)}), each in its colour; head {state.head} on top{tail}"
        )
    return f"layer {state.layer}, head {state.head}{tail}"


def _mixing_title(state: ViewState, data: Arrays, count: str) -> str:
    """A mixing map's title, as scene.js's mixingTitle writes it."""
    label, layer = LABELS[state.weighting], state.layer
    if state.mode == "model":
        return (
            f"model view: {len(data.layers)} layers \u00b7 {label}, one map per "
            f"layer (no heads) \u00b7 {count} \u00b7 layer {layer} selected"
        )
    few = ""
    long = len(data.tokens) > LAYOUT["many"] and not state.pins()
    if state.draw_style == "lines" and long:
        few = (
            f" \u00b7 the {strongest_count(1)} strongest lines of the map "
            "(hover a token for all of its lines)"
        )
    tail = f" \u00b7 {count}{few}"
    if state.aggregate == "rollout":
        return (
            f"rollout through layer {layer} \u00b7 {label}: how much each input "
            f"token shapes each token after layer {layer}{tail}"
        )
    what = MIXING_TEXT[state.weighting]
    if state.aggregate == "mean_layers":
        return (
            f"mean over layers {heads_text(data.layers)} \u00b7 {label}: {what}{tail}"
        )
    return f"layer {layer} \u00b7 {label}: {what}{tail}"


def plain_scene(scene: dict[str, Any]) -> dict[str, Any]:
    """A scene as plain JSON values (arrays as lists), as scene.js's plainScene."""
    out = {}
    for key, value in scene.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif key == "sums":
            value = [s.tolist() for s in value]
        out[key] = value
    return out
