"""What the canvas shows, as a numpy map and a label in Python (no widget).

`AttentionWidget.head_array` and `view_label` read these; they take the
Trace, the `ViewState` and the context mixing held, so they can be tested
with a hand-made Trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from distil_explorer.views.view_state import ViewState, heads_text
from distil_explorer.views.weighting import LABELS, MIXING, weighted

if TYPE_CHECKING:
    from distil_explorer.trace import Trace


def head_array(trace: Trace | None, state: ViewState, mixing: dict) -> np.ndarray:
    """float32 (n, n) of (`layer`, `head`) in the weighting chosen (a mixing
    weighting: the layer's map), padding dropped; (0, 0) with nothing to show.

    Examples:
    ```python
    head_array(trace, ViewState(layer=1, head=2), {}).shape  # (n, n)
    ```
    """
    if trace is None or (state.weighting in MIXING and state.weighting not in mixing):
        return np.zeros((0, 0), dtype=np.float32)
    real = np.flatnonzero(trace.padding_mask[state.index])
    if state.weighting in MIXING:
        values = mixing[state.weighting].per_layer[state.layer, state.index]
    else:
        shown = weighted(trace, state.weighting)
        values = shown.attention(state.layer, state.head, state.index)
    return np.asarray(values[real][:, real], dtype=np.float32)


def view_label(state: ViewState) -> str:
    """What the head view shows, in words (scene.js's title says more).

    Examples:
    ```python
    view_label(state)  # 'layer 2, head 5', 'mean over heads 0-11 of layer 2'
    ```
    """
    heads = heads_text(state.visible())
    if state.weighting in MIXING:
        what = "rollout through layer" if state.aggregate == "rollout" else "layer"
        return f"{what} {state.layer} ({LABELS[state.weighting]})"
    if state.aggregate == "mean_heads":
        label = f"mean over heads {heads} of layer {state.layer}"
    elif state.aggregate == "mean_layers":
        layers = heads_text(state.shown.layers)
        count = len(state.shown.layers) * len(state.visible())
        label = f"mean over layers {layers} \u00d7 heads {heads} ({count} maps)"
    else:
        label = f"layer {state.layer}, head {state.head}"
    if state.weighting == "norms":
        label += f" ({LABELS['norms']})"
    return label
