"""How much of each input token every layer's tokens have mixed in.

Attention rollout and attention flow (Abnar & Zuidema 2020, "Quantifying
Attention Flow in Transformers") follow attention through the layers instead
of looking at one layer at a time. Both see the model as a layered graph: the
input tokens at the bottom, each layer's outputs above, and an edge from
token i of layer l down to token j of the layer below weighted by layer l's
attention from i to j, with its heads fused into one map and, by default, the
residual connection added as an identity (A' = 0.5 A + 0.5 I, rows
normalised to sum to 1).

- Rollout multiplies these maps: it treats the weights as proportions and
  sums over every path.
- Flow treats them as capacities and asks for the maximum flow from a token
  at the top to each input token, so a path carries no more than its
  narrowest edge.

Both take attention probabilities shaped like `Trace.attentions`,
(L, B, heads, T, T), plus the (B, T) `padding_mask`. Padding takes no part:
padded keys are dropped and padded query rows come back as zeros.
"""

from __future__ import annotations

import numpy as np

from distil_explorer.checks import checked_attention_maps, checked_index

_FUSIONS = {"mean": np.mean, "max": np.max, "min": np.min}

# scipy's maximum_flow needs integer capacities. Weights become multiples of
# 1e-6, so a flow is exact to about 1e-6 times the number of edges it uses.
FLOW_SCALE = 1_000_000

# attention_flow solves one max-flow problem per pair of real tokens, each on
# a graph of layers * tokens**2 edges: tokens**4 * layers grows fast. 64 tokens
# through 6 layers (this bound) take about 10 s on one CPU core.
MAX_FLOW_WORK = 64**4 * 6


def attention_rollout(
    attentions: np.ndarray,
    padding_mask: np.ndarray,
    head_fusion: str = "mean",
    residual: bool = True,
    start_layer: int = 0,
) -> np.ndarray:
    """Attention rollout: the attention maps multiplied through the layers.

    Each layer's heads are fused into one map (their mean, max or min); with
    `residual`, the identity is mixed in for the skip connection
    (A' = 0.5 A + 0.5 I); each real row is then normalised to sum to 1. The
    rollout of layer l is R_l = A'_l @ R_(l - 1), starting from the identity
    before `start_layer`: row i of R_l says how much of each input position j
    the token at position i has mixed in by the output of layer l.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.
        head_fusion: str. "mean", "max" or "min" over the heads.
        residual: bool. Add the identity for the residual connection.
        start_layer: int. 0 to L - 1. The first layer multiplied in; layers
            before it are the identity (their outputs count as the input).

    Returns:
        float64 (L, B, T, T). Rows of real tokens sum to 1; padded keys and
        padded query rows are 0.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.rollout import attention_rollout

    to_first = np.array([[1.0, 0.0], [1.0, 0.0]])  # both tokens read token 0
    attention_rollout(to_first[None, None, None], np.ones((1, 2)))[0, 0]
    # [[1.0, 0.0], [0.5, 0.5]]: token 1 keeps half of itself (the residual)
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    start_layer = checked_index("start_layer", start_layer, attn.shape[0])
    mixing = _mixing(attn, real, head_fusion, residual)
    current = _real_identity(real)
    rollout = np.empty_like(mixing)
    rollout[:start_layer] = current
    for layer in range(start_layer, mixing.shape[0]):
        current = mixing[layer] @ current
        rollout[layer] = current
    return rollout


def attention_flow(
    attentions: np.ndarray,
    padding_mask: np.ndarray,
    index: int = 0,
    head_fusion: str = "mean",
    residual: bool = True,
    layer: int | None = None,
) -> np.ndarray:
    """Attention flow: max-flow from each token at `layer` to each input token.

    The graph is the one rollout multiplies (fused heads, residual identity,
    normalised rows), its weights read as edge capacities. For every pair of
    real tokens (i at the output of `layer`, j at the input) this solves a
    maximum-flow problem with `scipy.sparse.csgraph.maximum_flow` (Dinic),
    then divides each row by its sum so rows compare with rollout's. Unlike
    rollout, a path carries at most its narrowest edge.

    On dense maps (heads averaged) through several layers the narrowest cut
    is often the set of edges into each input token at layer 0, so every row
    comes out the same: min(1, column j of A'_0 summed), normalised. Rows
    then say which inputs can pass on the most, not what token i read.

    Capacities are rounded to multiples of 1 / `FLOW_SCALE` (1e-6), as scipy
    needs integers. Cost: n**2 problems of about (layer + 1) * n**2 edges for
    n real tokens, so n**4 * (layer + 1) may be at most `MAX_FLOW_WORK`
    (64 tokens through 6 layers, about 10 s). Needs scipy.

    Args:
        attentions: float (L, B, heads, T, T). Softmax probabilities.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.
        index: int. Which sequence of the batch, 0 to B - 1.
        head_fusion: str. "mean", "max" or "min" over the heads.
        residual: bool. Add the identity for the residual connection.
        layer: int or None. 0 to L - 1, the layer whose outputs are the
            sources; None for the last.

    Returns:
        float64 (T, T), like `attention_rollout(...)[layer, index]`: rows of
        real tokens sum to 1; padded rows and columns are 0.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.rollout import attention_flow

    to_first = np.array([[1.0, 0.0], [1.0, 0.0]])
    attention_flow(to_first[None, None, None], np.ones((1, 2)))
    # [[1.0, 0.0], [0.5, 0.5]]: with one layer, flow equals rollout
    ```
    """
    attn, real = checked_attention_maps(attentions, padding_mask)
    checked_index("index", index, attn.shape[1])
    last = attn.shape[0] - 1
    layer = last if layer is None else checked_index("layer", layer, last + 1)
    positions = np.flatnonzero(real[index])
    count, depth = len(positions), layer + 1
    if count**4 * depth > MAX_FLOW_WORK:
        most = int((MAX_FLOW_WORK / depth) ** 0.25)
        raise ValueError(
            f"attentions: {count} real tokens through {depth} layers is too large "
            f"for attention_flow (n**4 * layers = {count**4 * depth:,}); allowed: "
            f"n**4 * layers <= {MAX_FLOW_WORK:,}, i.e. at most {most} real tokens "
            f"at layer={layer}; use attention_rollout for longer sequences"
        )
    sequence = (slice(None, depth), slice(index, index + 1))
    mixing = _mixing(attn[sequence], real[index : index + 1], head_fusion, residual)
    mixing = mixing[:, 0][:, positions[:, None], positions]
    flow = np.zeros(real.shape[1:] * 2)
    flow[np.ix_(positions, positions)] = _max_flows(mixing)
    return flow


def _max_flows(mixing: np.ndarray) -> np.ndarray:
    """(n, n) max-flow values, rows normalised, for (depth, n, n) capacities."""
    try:
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import maximum_flow
    except ImportError:
        raise ImportError(
            "attention_flow needs scipy for its max-flow solver: pip install scipy"
        ) from None
    depth, n, _ = mixing.shape
    capacities = np.rint(mixing * FLOW_SCALE).astype(np.int32)
    # Node level * n + t is token t at level `level`: 0 the input, k the
    # output of layer k - 1. Edges run from level k + 1 down to level k.
    level, rows, cols = np.nonzero(capacities)
    graph = csr_array(
        (capacities[level, rows, cols], ((level + 1) * n + rows, level * n + cols)),
        shape=((depth + 1) * n,) * 2,
    )
    top = depth * n
    values = np.zeros((n, n))
    for i, j in np.ndindex(n, n):
        values[i, j] = maximum_flow(graph, top + i, j).flow_value
    return values / values.sum(axis=1, keepdims=True)


def _mixing(attn, real, head_fusion, residual) -> np.ndarray:
    """(L, B, T, T) float64: heads fused, residual added, real rows summing to 1."""
    if head_fusion not in _FUSIONS:
        raise ValueError(f"head_fusion={head_fusion!r}: allowed: {', '.join(_FUSIONS)}")
    if not isinstance(residual, bool | np.bool_):
        raise ValueError(f"residual={residual!r}: allowed: True or False")
    fused = _FUSIONS[head_fusion](attn, axis=2).astype(np.float64)
    # Zeroing padded keys makes "padding stays 0" exact, not just within the
    # tolerance `checked_attention_maps` allows.
    fused *= (real[:, :, None] & real[:, None, :])[None]
    if residual:
        fused = 0.5 * fused + 0.5 * _real_identity(real)[None]
    sums = fused.sum(axis=-1, keepdims=True)
    empty = np.argwhere((sums[..., 0] == 0) & real[None])
    if empty.size:
        layer, row, query = (int(i) for i in empty[0])
        raise ValueError(
            f"head_fusion={head_fusion!r}: fused attention row [{layer}, {row}, "
            f"{query}] is all zeros with residual=False, so it cannot be "
            "normalised; allowed: residual=True, or head_fusion 'mean' or 'max'"
        )
    return np.divide(fused, sums, out=np.zeros_like(fused), where=sums > 0)


def _real_identity(real: np.ndarray) -> np.ndarray:
    """(B, T, T): the identity on real positions, 0 on padded ones."""
    return np.eye(real.shape[1]) * real[:, :, None]
