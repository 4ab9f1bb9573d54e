"""Where each token's row goes, one number per layer, for any token map.

The papers that compare attention weights with norms (Kobayashi et al.
2020), value zeroing (Mohebbi et al. 2023) and ALTI (Ferrando et al. 2022)
each plot, per layer, how much of a token's row lands on [CLS], on [SEP]
and on the token itself. These functions compute that for any of them:
a `ContextMixing.per_layer` (L, B, T, T), or per-head maps (L, B, H, T, T)
such as `Trace.attentions` and `Trace.attention_norms`. Rows are receiving
tokens, columns the tokens they read from; values must be non-negative.
"""

from __future__ import annotations

import numpy as np

from distil_explorer.checks import checked_padding_mask


def key_share_by_layer(
    maps: np.ndarray, keys: np.ndarray, padding_mask: np.ndarray
) -> np.ndarray:
    """Per layer, the mean share of a real token's row that lands on `keys`.

    Each real row is divided by its sum over the real tokens (a no-op for
    attention probabilities and context-mixing rows; for norm-weighted
    maps, the share of the norm), per head where there are heads, then
    heads are averaged. The mean runs over every real token of every
    sequence, so longer sequences count more.

    Args:
        maps: float (L, B, T, T), or (L, B, H, T, T) per head. Non-negative.
        keys: bool (B, T). The columns that count, e.g.
            `np.isin(trace.token_ids, [cls_id, sep_id])`.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L,), between 0 and 1.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.shares import key_share_by_layer

    uniform = np.full((1, 1, 4, 4), 0.25)  # 1 layer, 1 sequence of 4 tokens
    cls = np.array([[True, False, False, False]])
    key_share_by_layer(uniform, cls, np.ones((1, 4)))  # [0.25]
    ```
    """
    rows, real = _rows(maps, padding_mask)
    keys = np.asarray(keys)
    if keys.shape != real.shape or keys.dtype != bool:
        raise ValueError(
            f"keys shape={keys.shape} dtype={keys.dtype}: allowed: bool (batch, T) "
            f"= {real.shape}, one flag per token of maps"
        )
    per_row = np.einsum("lbqk,bk->lbq", rows, keys.astype(np.float64))
    return per_row[:, real].mean(-1)


def self_share_by_layer(maps: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
    """Per layer, the mean share of a real token's row on its own position.

    Rows are normalised and heads averaged as in `key_share_by_layer`.

    Args:
        maps: float (L, B, T, T), or (L, B, H, T, T) per head. Non-negative.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L,), between 0 and 1.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.shares import self_share_by_layer

    maps = np.stack([np.eye(3), np.full((3, 3), 1 / 3)])[:, None]  # 2 layers
    self_share_by_layer(maps, np.ones((1, 3)))  # [1.0, 0.333...]
    ```
    """
    rows, real = _rows(maps, padding_mask)
    return np.diagonal(rows, axis1=-2, axis2=-1)[:, real].mean(-1)


def _rows(maps, padding_mask) -> tuple[np.ndarray, np.ndarray]:
    """(float64 (L, B, T, T) rows summing to 1 over real keys, real (B, T))."""
    maps = np.asarray(maps, np.float64)
    if maps.ndim not in (4, 5) or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(
            f"maps shape={maps.shape}: allowed: (L, B, T, T) or (L, B, H, T, T)"
        )
    real = checked_padding_mask(padding_mask, (maps.shape[1], maps.shape[-1]))
    keep = real[:, :, None] & real[:, None, :]  # padded rows may hold anything
    maps = np.where(keep if maps.ndim == 4 else keep[:, None], maps, 0.0)
    if not np.isfinite(maps).all() or maps.min() < 0:
        raise ValueError(
            "maps: negative or non-finite values on real tokens; allowed: "
            "non-negative weights, norms or context-mixing scores"
        )
    total = maps.sum(-1, keepdims=True)
    rows = np.divide(maps, total, out=np.zeros_like(maps), where=total > 0)
    return (rows.mean(2) if rows.ndim == 5 else rows), real
