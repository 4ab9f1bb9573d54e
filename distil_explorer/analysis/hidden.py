"""How token representations grow and turn from layer to layer.

Functions take hidden states shaped like `Trace.hidden_states`,
(L + 1, B, T, H) with the embeddings output at index 0, plus the (B, T)
`padding_mask`. Per-token outputs are NaN at padded positions, so a padded
token can never be mistaken for a real one; averages skip them. Arithmetic is
float64.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer.checks import (
    checked_hidden_states,
    checked_index,
    checked_padding_mask,
)


def token_norms(hidden_states: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
    """Euclidean norm of every token's hidden state at every layer.

    Args:
        hidden_states: float (L + 1, B, T, H).
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.

    Returns:
        float64 (L + 1, B, T); NaN at padded positions.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.hidden import token_norms

    states = np.zeros((1, 1, 2, 2))
    states[0, 0, 0] = [3.0, 4.0]
    token_norms(states, [[1, 0]])  # [[[5.0, nan]]]: the second token is padding
    ```
    """
    states, real = checked_hidden_states(hidden_states, padding_mask)
    norms = np.linalg.norm(states, axis=-1)
    return np.where(real[None], norms, np.nan)


def layer_similarity(
    hidden_states: np.ndarray, padding_mask: np.ndarray | None = None
) -> np.ndarray:
    """Cosine similarity of each token's state between consecutive layers.

    Entry [i, b, t] compares layer i and layer i + 1 (index 0 is the
    embeddings output), so a value near 1 means layer i + 1 barely turned
    that token. A zero vector has similarity 0 with anything.

    Args:
        hidden_states: float (L + 1, B, T, H).
        padding_mask: int or bool (B, T), or None when every position is real.

    Returns:
        float64 (L, B, T), in [-1, 1]; NaN at padded positions.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.hidden import layer_similarity

    states = np.ones((3, 1, 2, 4))  # nothing changes from layer to layer
    layer_similarity(states)  # all 1.0, shape (2, 1, 2)
    ```
    """
    states, real = checked_hidden_states(hidden_states, padding_mask)
    similarity = _cosine(states[:-1], states[1:])
    return np.where(real[None], similarity, np.nan)


def layer_similarity_matrix(
    hidden_states: np.ndarray, padding_mask: np.ndarray | None = None, index: int = 0
) -> np.ndarray:
    """Layer-by-layer cosine similarity for one sequence, averaged over its tokens.

    Entry [i, j] is the mean, over the real tokens of sequence `index`, of
    the cosine similarity between a token's state at layer i and at layer j.
    The matrix is symmetric with ones on the diagonal (for nonzero states).

    Args:
        hidden_states: float (L + 1, B, T, H).
        padding_mask: int or bool (B, T), or None when every position is real.
        index: int. Which sequence of the batch, 0 to B - 1.

    Returns:
        float64 (L + 1, L + 1).

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.hidden import layer_similarity_matrix

    states = np.zeros((2, 1, 1, 2))
    states[0, 0, 0], states[1, 0, 0] = [1.0, 0.0], [0.0, 1.0]  # turned 90 degrees
    layer_similarity_matrix(states)  # [[1.0, 0.0], [0.0, 1.0]]
    ```
    """
    states, real = checked_hidden_states(hidden_states, padding_mask)
    checked_index("index", index, states.shape[1])
    tokens = states[:, index, real[index]]  # (L + 1, n, H)
    unit = _unit(tokens)
    return np.einsum("inh,jnh->ij", unit, unit) / tokens.shape[1]


@dataclasses.dataclass(frozen=True, eq=False)
class Projection:
    """Token states projected onto principal components.

    Attributes:
        points: float64 (N, n_components). One row per real token, in the
            order of `positions`.
        explained_variance_ratio: float64 (n_components,). The share of the
            projected states' variance (around their own mean) that lies
            along each component.
        components: float64 (n_components, H). Orthonormal directions, each
            with its largest-magnitude coordinate positive; zero rows beyond
            the rank of the fitted data.
        mean: float64 (H,). The centre subtracted before projecting.
        positions: int (N, 2) (sequence, position) of each point from `pca`;
            (N, 3) (layer, sequence, position) from `common_basis`.
    """

    points: np.ndarray
    explained_variance_ratio: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    positions: np.ndarray

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            view = np.asarray(getattr(self, field.name)).view()
            view.flags.writeable = False
            object.__setattr__(self, field.name, view)


def pca(
    hidden_states_layer: np.ndarray,
    padding_mask: np.ndarray,
    n_components: int = 2,
    basis: Projection | None = None,
) -> Projection:
    """Principal components of the real tokens' states at one layer.

    Fitted with numpy's SVD on the centred real-token states. Each component's
    sign is fixed so that its largest-magnitude coordinate is positive, so the
    same data always gives the same picture. Directions beyond the rank of
    the data (a 1-token sequence, points on a line) are zero vectors, so
    their coordinates and ratios are exactly 0.

    By default every call fits its own basis: the best 2-D view of that layer,
    but axes may turn or flip from one layer to the next. Pass `basis` (from
    `common_basis`, or an earlier `pca`) to project onto its mean and
    components instead, so that a layer slider keeps the same axes.

    Args:
        hidden_states_layer: float (B, T, H). One layer's states, e.g.
            `trace.hidden_states[layer]`.
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.
        n_components: int. 1 to H. Ignored when `basis` is given.
        basis: a `Projection` whose mean and components to reuse, or None.

    Returns:
        A `Projection` of the N real tokens of all B sequences.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.hidden import pca

    line = np.outer(np.arange(5.0), [1.0, 2.0, 2.0])[None]  # 5 points on a line
    result = pca(line, np.ones((1, 5)))
    result.explained_variance_ratio  # [1.0, 0.0]
    result.points[:, 0]  # [-6, -3, 0, 3, 6]: distances along the line
    ```
    """
    states = np.asarray(hidden_states_layer, dtype=np.float64)
    if states.ndim != 3:
        raise ValueError(
            f"hidden_states_layer shape={states.shape}: allowed: (batch, T, H), "
            "one layer of Trace.hidden_states"
        )
    real = checked_padding_mask(padding_mask, states.shape[:2])
    points = states[real]
    if basis is None:
        mean, components = _fit(points, n_components)
    elif basis.mean.shape != (states.shape[-1],):
        raise ValueError(
            f"basis: fitted on H={basis.mean.shape[0]}; allowed: a basis for "
            f"H={states.shape[-1]}"
        )
    else:
        mean, components = basis.mean, basis.components
    return _project(points, mean, components, np.argwhere(real))


def common_basis(
    hidden_states: np.ndarray, padding_mask: np.ndarray, n_components: int = 2
) -> Projection:
    """One PCA basis fitted on the real tokens of every layer at once.

    Use it as `pca(states[layer], mask, basis=common_basis(states, mask))` so
    that every layer is drawn on the same axes. Its own `points` are every
    layer's real tokens, layer after layer.

    Args:
        hidden_states: float (L + 1, B, T, H).
        padding_mask: int or bool (B, T). 1 for real tokens, 0 for padding.
        n_components: int. 1 to H.

    Examples:
    ```python
    import numpy as np
    from distil_explorer.analysis.hidden import common_basis, pca

    states = np.random.default_rng(0).normal(size=(3, 1, 6, 4))
    mask = np.ones((1, 6))
    basis = common_basis(states, mask)
    [pca(states[layer], mask, basis=basis).points.shape for layer in range(3)]
    ```
    """
    states, real = checked_hidden_states(hidden_states, padding_mask)
    points = states[:, real].reshape(-1, states.shape[-1])
    mean, components = _fit(points, n_components)
    layers = np.repeat(np.arange(states.shape[0]), real.sum())
    within = np.tile(np.argwhere(real), (states.shape[0], 1))
    return _project(points, mean, components, np.column_stack([layers, within]))


def _fit(points: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean (H,), components (n_components, H)) of `points` (N, H)."""
    size = points.shape[1]
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(f"n_components={n_components!r}: allowed: an int, 1..{size}")
    if not 1 <= n_components <= size:
        raise ValueError(
            f"n_components={n_components}: out of range; allowed: 1..{size} (H)"
        )
    mean = points.mean(axis=0)
    centred = points - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    # numpy's matrix_rank tolerance: directions below it are rounding noise,
    # whose orientation would change from run to run.
    rank_tolerance = singular.max() * max(centred.shape) * np.finfo(float).eps
    kept = vt[singular > rank_tolerance][:n_components]
    components = np.zeros((n_components, size))
    components[: len(kept)] = kept
    largest = np.abs(components).argmax(axis=1)
    signs = np.sign(components[np.arange(n_components), largest])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    return mean, components


def _project(points, mean, components, positions) -> Projection:
    projected = (points - mean) @ components.T
    own = projected - projected.mean(axis=0)
    total = ((points - points.mean(axis=0)) ** 2).sum()
    spread = (own**2).sum(axis=0)
    ratio = spread / total if total > 0 else np.zeros_like(spread)
    return Projection(projected, ratio, components, mean, positions)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (_unit(a) * _unit(b)).sum(axis=-1)
