"""Which attention a view draws: the softmax weights, or the norm-weighted maps.

`Trace.attention_norms` (captured with `norms=True`) holds `alpha_ij *
||f_h(x_j)||` (Kobayashi et al. 2020): how far key j moves query i's output
in head h. Its maps have the shape of the weights but rows do not sum to 1
and the values are lengths in hidden-state units, so every view scales each
norm-weighted map to its own maximum (the canvas, `plot_head`), or a whole
figure to the largest map shown (`plot_model_view`), never to 0..1.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distil_explorer.trace import Trace

WEIGHTINGS = ("weights", "norms")
LABELS = {"weights": "attention weights", "norms": "norm-weighted"}


def checked_weighting(weighting: str, trace: Trace | None = None) -> str:
    """`weighting` if it is one of WEIGHTINGS that `trace` (when given) holds.

    Examples:
    ```python
    checked_weighting("norms", trace)  # ValueError unless captured with norms=True
    ```
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r}: allowed: {list(WEIGHTINGS)}")
    if weighting == "norms" and trace is not None and trace.attention_norms is None:
        raise ValueError(
            "weighting='norms': this Trace has no attention_norms; allowed: "
            "'weights', or a Trace from capture(..., norms=True)"
        )
    return weighting


def weighted(trace: Trace, weighting: str = "weights") -> Trace:
    """`trace` with `attentions` replaced by what `weighting` names.

    Every view slices `attentions`; handing them this Trace draws the
    norm-weighted maps with the same code (no copy: the arrays are shared).

    Examples:
    ```python
    weighted(trace, "norms").attentions is trace.attention_norms  # True
    ```
    """
    if checked_weighting(weighting, trace) == "weights":
        return trace
    return dataclasses.replace(trace, attentions=trace.attention_norms)
