"""Which maps a view draws: attention weights, norm-weighted, or context mixing.

`Trace.attention_norms` (captured with `norms=True`) holds `alpha_ij *
||f_h(x_j)||` (Kobayashi et al. 2020): how far key j moves query i's output
in head h. Its maps have the shape of the weights but rows do not sum to 1
and the values are lengths in hidden-state units, so every view scales each
norm-weighted map to its own maximum (the canvas, `plot_head`), or a whole
figure to the largest map shown (`plot_model_view`), never to 0..1.

The context-mixing weightings ("value_zeroing", "alti") are not in the
Trace: they come from a `ContextMixing` of the Trace's inputs
(`distil_explorer.context_mixing`, or `Session.context_mixing`), one
token x token map per layer with no heads, plus its rollout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.views.contract import CONTRACT

if TYPE_CHECKING:
    from distil_explorer.mixing import ContextMixing
    from distil_explorer.trace import Trace

# Every weighting with its label (static/contract.json, which scene.js reads).
LABELS: dict[str, str] = dict(CONTRACT["weightings"])
WEIGHTINGS = tuple(LABELS)
# The context-mixing weightings, with what their maps say.
MIXING_TEXT: dict[str, str] = dict(CONTRACT["mixing"])
MIXING = tuple(MIXING_TEXT)


def checked_weighting(
    weighting: str, trace: Trace | None = None, mixing: Any = None
) -> str:
    """`weighting` if it is one of WEIGHTINGS that `trace` (when given) can draw.

    "norms" needs a Trace with `attention_norms`; a mixing weighting needs
    its `ContextMixing` among `mixing` (see `mixings_of`).

    Examples:
    ```python
    checked_weighting("norms", trace)  # ValueError unless captured with norms=True
    checked_weighting("alti", trace, mixing=[alti])  # 'alti'
    ```
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r}: allowed: {list(WEIGHTINGS)}")
    if trace is None:
        return weighting
    if weighting == "norms" and trace.attention_norms is None:
        raise ValueError(
            "weighting='norms': this Trace has no attention_norms; allowed: "
            "'weights', or a Trace from capture(..., norms=True)"
        )
    if weighting in MIXING and weighting not in mixings_of(mixing, trace):
        raise ValueError(
            f"weighting={weighting!r}: needs the Trace's context mixing; allowed: "
            f"mixing=context_mixing(backbone, inputs, method={weighting!r}) of "
            "the Trace's inputs, or 'weights'"
        )
    return weighting


def mixings_of(mixing: Any, trace: Trace) -> dict[str, ContextMixing]:
    """`mixing` (None, a ContextMixing, or several) as {method: ContextMixing},
    each checked to be of `trace`'s inputs.

    Examples:
    ```python
    mixings_of([alti, zeroing], trace)  # {'alti': ..., 'value_zeroing': ...}
    ```
    """
    if mixing is None:
        return {}
    if isinstance(mixing, Mapping):
        mixing = list(mixing.values())
    elif not isinstance(mixing, Sequence):
        mixing = [mixing]
    found = {}
    for one in mixing:
        method = getattr(one, "method", None)
        if method not in MIXING:
            raise ValueError(
                f"mixing={type(one).__name__}: allowed: a ContextMixing "
                "(distil_explorer.context_mixing) or a list of them"
            )
        same = np.array_equal(one.token_ids, trace.token_ids) and np.array_equal(
            one.padding_mask, trace.padding_mask
        )
        if not same or one.per_layer.shape[0] <= max(trace.attention_layers):
            raise ValueError(
                f"mixing={method}: made for other inputs or another model than "
                "this Trace's; allowed: context_mixing(backbone, inputs) of the "
                "inputs and backbone the Trace was captured from"
            )
        found[method] = one
    return found


def weighted(trace: Trace, weighting: str = "weights") -> Trace:
    """`trace` with `attentions` replaced by what `weighting` names.

    Every view slices `attentions`; handing them this Trace draws the
    norm-weighted maps with the same code (no copy: the arrays are shared).
    A mixing weighting has no heads: the views draw it from the scene
    (`views/scene.py`), not from a Trace.

    Examples:
    ```python
    weighted(trace, "norms").attentions is trace.attention_norms  # True
    ```
    """
    if checked_weighting(weighting) in MIXING:
        raise ValueError(
            f"weighting={weighting!r}: a context-mixing map has no heads; "
            "allowed here: 'weights' or 'norms' (draw it with export_view(..., "
            "weighting=..., mixing=...))"
        )
    if checked_weighting(weighting, trace) == "weights":
        return trace
    return dataclasses.replace(trace, attentions=trace.attention_norms)
