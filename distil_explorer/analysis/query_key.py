"""Which query and key dimensions make an attention score."""

from __future__ import annotations

import numpy as np

from distil_explorer.checks import checked_index


def score_contributions(
    queries: np.ndarray,
    keys: np.ndarray,
    layer: int,
    head: int,
    query: int,
    key: int,
    index: int = 0,
) -> np.ndarray:
    """Per-dimension terms of one attention score: q_d * k_d / sqrt(head_dim).

    They sum to the score the softmax sees (before masking), so the largest
    terms are the dimensions that make query `query` look at key `key`.

    Args:
        queries, keys: (L, B, heads, T, head_dim), e.g. `trace.queries`.
        layer, head, query, key, index: which score.

    Examples:
    ```python
    terms = score_contributions(trace.queries, trace.keys, 0, 2, query=3, key=2)
    terms.sum()  # the score; np.argsort(-np.abs(terms))[:5], the top dimensions
    ```
    """
    if queries is None or keys is None:
        raise ValueError(
            "queries: not in this Trace; allowed: capture(..., keep_qk=True)"
        )
    layers, batch, heads, length, head_dim = queries.shape
    checked_index("layer", layer, layers)
    checked_index("head", head, heads)
    checked_index("index", index, batch)
    checked_index("query", query, length)
    checked_index("key", key, length)
    q = queries[layer, index, head, query].astype(np.float64)
    k = keys[layer, index, head, key].astype(np.float64)
    return q * k / np.sqrt(head_dim)
