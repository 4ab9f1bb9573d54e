"""Hand a Trace to bertviz's `head_view` and `model_view`: a format adapter.

bertviz takes one attention tensor per layer plus the token strings, so any
model works with it. This module only reshapes: it never imports bertviz
(install it yourself to use it), and imports torch only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from distil_explorer.checks import checked_every_map, checked_index

if TYPE_CHECKING:
    from distil_explorer.trace import Trace


def to_bertviz(trace: Trace, index: int = 0) -> tuple[tuple[Any, ...], list[str]]:
    """Return `(attention, tokens)` for one sequence, in bertviz's format.

    `attention` holds one float32 torch tensor per layer, shaped
    (1, num_heads, n, n) where n is the number of real tokens: padded queries
    and keys are removed, and the remaining rows still sum to 1 because a
    Trace gives padded keys exactly zero weight. `tokens` are the n strings
    (`trace.tokens` when the input was text, else the token ids as strings).

    Args:
        trace: a `Trace`.
        index: int. Which sequence of the batch, 0 to B - 1.

    Examples:
    ```python
    from bertviz import head_view, model_view

    attention, tokens = to_bertviz(trace)
    head_view(attention, tokens)  # in a notebook
    html = model_view(attention, tokens, html_action="return").data
    ```
    """
    index = checked_index("index", index, trace.token_ids.shape[0])
    checked_every_map(trace, "bertviz")  # it numbers layers and heads from 0
    import torch

    real = np.flatnonzero(trace.padding_mask[index])
    maps = trace.attentions[:, index][..., real[:, None], real]  # a fresh copy
    attention = tuple(
        torch.from_numpy(np.ascontiguousarray(layer, dtype=np.float32))[None]
        for layer in maps
    )
    if trace.tokens is not None:
        tokens = [trace.tokens[index][i] for i in real]
    else:
        tokens = [str(trace.token_ids[index, i]) for i in real]
    return attention, tokens
