"""What each attention head looks at, as one number per layer, sequence and head.

Every function takes attention probabilities shaped like `Trace.attentions`,
(L, B, heads, T, T) with queries on axis 3 and keys on axis 4, plus the
(B, T) `padding_mask`, and returns an (L, B, heads) float64 array: a
per-query quantity averaged over the real query rows of each sequence.
Padded query rows never count, whatever they hold; padded keys must carry no
mass (each real query row sums to 1 over the real keys, as in a `Trace`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from distil_explorer.checks import checked_attention_maps

if TYPE_CHECKING:
    from distil_explorer.trace import Trace

# float32 softmax rows sum to 1 within ~1e-6 at T=512; 1e-3 still catches
# arrays that are not probabilities (logits, unnormalized scores).


def head_entropy(attentions: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
    """Mean entropy of each head's attention rows, over the real queries.

    Entropy is in nats: a head that spreads its attention evenly over n real
    keys scores log(n); one that puts everything on a single key scores 0.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L, B, heads).

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.attention import head_entropy

    uniform = np.full((1, 1, 1, 4, 4), 0.25)  # 1 layer, 1 sequence, 1 head
    head_entropy(uniform, np.ones((1, 4)))  # [[[1.386...]]] == log(4)
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    logs = np.log(attn, out=np.zeros_like(attn), where=attn > 0)
    per_query = -(attn * logs).sum(axis=-1, dtype=np.float64)
    return _mean_over(per_query, real)


def mean_attention_distance(
    attentions: np.ndarray, padding_mask: np.ndarray
) -> np.ndarray:
    """Expected distance |i - j| from each real query i to the keys j it reads.

    Distances count positions in the padded sequence, which are token
    distances when padding sits at the end, as tokenizers put it.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L, B, heads), in tokens.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.attention import mean_attention_distance

    previous = np.eye(3, k=-1)[None, None, None]  # query i reads key i - 1
    previous[..., 0, 1] = 1.0  # query 0 has no previous token: it reads key 1
    mean_attention_distance(previous, np.ones((1, 3)))  # [[[1.0]]]
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    positions = np.arange(attn.shape[-1])
    distance = np.abs(positions[:, None] - positions[None, :]).astype(attn.dtype)
    per_query = (attn * distance).sum(axis=-1, dtype=np.float64)
    return _mean_over(per_query, real)


def special_token_share(
    attentions: np.ndarray,
    token_ids: np.ndarray,
    special_ids: Iterable[int],
    padding_mask: np.ndarray,
) -> np.ndarray:
    """Mean attention mass that real queries put on keys whose id is special.

    With the ids of [CLS] and [SEP] this finds the heads that park their
    attention there when nothing else fits.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        token_ids: int (B, T). The ids the attention was computed on.
        special_ids: the token ids whose keys count, e.g. `[101, 102]` for
            [CLS] and [SEP] in bert-base-uncased.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L, B, heads), between 0 and 1.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.attention import special_token_share

    uniform = np.full((1, 1, 1, 4, 4), 0.25)
    ids = np.array([[101, 7, 8, 102]])  # [CLS] a b [SEP]
    special_token_share(uniform, ids, [101, 102], np.ones((1, 4)))  # [[[0.5]]]
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    token_ids = np.asarray(token_ids)
    if token_ids.shape != real.shape or not np.issubdtype(token_ids.dtype, np.integer):
        raise ValueError(
            f"token_ids shape={token_ids.shape} dtype={token_ids.dtype}: does not "
            f"match the attention; allowed: integers shaped (batch, T) = {real.shape}"
        )
    special = np.asarray(list(special_ids))
    if special.size == 0 or not np.issubdtype(special.dtype, np.integer):
        raise ValueError(
            f"special_ids={special.tolist()}: allowed: one or more integer token ids"
        )
    on_special = np.isin(token_ids, special).astype(attn.dtype)  # (B, T) keys
    per_query = np.einsum("lbhqk,bk->lbhq", attn, on_special).astype(np.float64)
    return _mean_over(per_query, real)


def self_attention_share(
    attentions: np.ndarray, padding_mask: np.ndarray
) -> np.ndarray:
    """Mean attention mass each real query puts on its own position.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L, B, heads), between 0 and 1.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.attention import self_attention_share

    diagonal = np.eye(3)[None, None, None]
    self_attention_share(diagonal, np.ones((1, 3)))  # [[[1.0]]]
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    per_query = np.diagonal(attn, axis1=-2, axis2=-1).astype(np.float64)
    return _mean_over(per_query, real)


def previous_token_share(
    attentions: np.ndarray, padding_mask: np.ndarray
) -> np.ndarray:
    """Mean attention mass each real query i puts on key i - 1.

    Only queries that have a real previous token count: position 0 is left
    out, so a perfect previous-token head scores 1 rather than (n - 1) / n.
    A sequence with a single real token has no such query; its entries are
    NaN.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L, B, heads), between 0 and 1, or NaN (see above).

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.attention import previous_token_share

    previous = np.eye(3, k=-1)[None, None, None]
    previous[..., 0, 0] = 1.0  # query 0 reads itself; it is not counted
    previous_token_share(previous, np.ones((1, 3)))  # [[[1.0]]]
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    per_query = np.zeros(attn.shape[:-1], dtype=np.float64)
    per_query[..., 1:] = np.diagonal(attn, offset=-1, axis1=-2, axis2=-1)
    has_previous = np.zeros_like(real)
    has_previous[:, 1:] = real[:, 1:] & real[:, :-1]
    return _mean_over(per_query, has_previous)


@dataclasses.dataclass(frozen=True, eq=False)
class HeadSummary:
    """Every per-head statistic of this module for one Trace.

    Each array is float64 (L, B, heads), averaged over real query rows: one
    row per layer in `layers` and one column per head in `heads` (model
    indices; all of them unless the Trace was captured with `layers=` or
    `heads=`).

    Attributes:
        entropy: `head_entropy`, in nats.
        distance: `mean_attention_distance`, in tokens.
        special_share: `special_token_share` for `special_ids`.
        self_share: `self_attention_share`.
        previous_share: `previous_token_share` (NaN for one-token sequences).
        special_ids: the token ids counted by `special_share`.
        layers, heads: tuple of int. The model layers and heads of axes 0
            and 2 (the Trace's `attention_layers`, `attention_heads`); empty
            when built from arrays alone.
    """

    entropy: np.ndarray
    distance: np.ndarray
    special_share: np.ndarray
    self_share: np.ndarray
    previous_share: np.ndarray
    special_ids: tuple[int, ...]
    layers: tuple[int, ...] = ()
    heads: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in _STATISTICS:
            view = np.asarray(getattr(self, name), dtype=np.float64).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)
        for name in ("special_ids", "layers", "heads"):
            object.__setattr__(self, name, tuple(int(i) for i in getattr(self, name)))


_STATISTICS = ("entropy", "distance", "special_share", "self_share", "previous_share")


def head_summary(trace: Trace, special_ids: Iterable[int]) -> HeadSummary:
    """Compute every per-head statistic of this module for a Trace.

    Args:
        trace: a `Trace`, from `capture` or built by hand.
        special_ids: the token ids counted by `special_share`, e.g. the ids
            of [CLS] and [SEP].

    Examples:
    ```python
    import numpy as np
    from distil_explorer import Trace
    from distil_explorer.analysis.attention import head_summary

    trace = Trace(
        hidden_states=np.zeros((2, 1, 3, 4)),
        attentions=np.eye(3)[None, None, None],  # 1 layer, 1 head, diagonal
        token_ids=np.array([[101, 7, 102]]),
        padding_mask=np.ones((1, 3)),
        config={}, backend="numpy", device="cpu",
    )
    summary = head_summary(trace, special_ids=[101, 102])
    summary.self_share[0, 0]  # [1.0]: layer 0, sequence 0, every head
    ```
    """
    special_ids = tuple(special_ids)
    attn, mask = trace.attentions, trace.padding_mask
    return HeadSummary(
        entropy=head_entropy(attn, mask),
        distance=mean_attention_distance(attn, mask),
        special_share=special_token_share(attn, trace.token_ids, special_ids, mask),
        self_share=self_attention_share(attn, mask),
        previous_share=previous_token_share(attn, mask),
        special_ids=special_ids,
        layers=trace.attention_layers,
        heads=trace.attention_heads,
    )


def _mean_over(per_query: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Average (L, B, heads, T) over the positions where `queries` (B, T) holds."""
    selected = queries[None, :, None, :]
    total = np.where(selected, per_query, 0.0).sum(axis=-1)
    count = queries.sum(axis=-1)[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)
