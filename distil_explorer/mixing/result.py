"""`ContextMixing`: how much each token shapes each token, per layer; numpy.

`context_mixing` (in `driver`) makes it; nothing here imports a framework.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer._internal.frozen import freeze_arrays, token_rows

METHODS = ("value_zeroing", "alti")


def normalised_rows(scores: np.ndarray, padding_mask: np.ndarray) -> np.ndarray:
    """float32 (L, B, T, T): rows over real tokens summing to 1, padding 0.

    `scores` (L, B, T, T) are raw non-negative scores; a real row whose
    scores are all 0 stays 0 (nothing to share out).
    """
    real = np.asarray(padding_mask, bool)
    keep = real[None, :, :, None] & real[None, :, None, :]
    scores = np.where(keep, np.asarray(scores, np.float64), 0.0)
    total = scores.sum(-1, keepdims=True)
    rows = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
    return rows.astype(np.float32)


def rolled_out(per_layer: np.ndarray) -> np.ndarray:
    """float32 (L, B, T, T): R_0 = C_0, R_l = C_l @ R_(l-1), no identity added.

    Both measures already include the residual stream, and both papers'
    code rolls out this way. Computed in float64.
    """
    out = np.zeros(per_layer.shape, np.float32)
    current = None
    for depth, layer in enumerate(np.asarray(per_layer, np.float64)):
        current = layer if current is None else layer @ current
        out[depth] = current
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class ContextMixing:
    """Context mixing of every layer, as numpy.

    Attributes:
        per_layer: float32 (L, B, T, T). Row i of layer l: how much each token
            j shapes token i's output of that layer; each real row sums to 1
            over the real tokens, padding rows and columns are exactly 0.
        rollout: float32 (L, B, T, T). The per-layer matrices multiplied
            through the layers: R_0 = C_0, R_l = C_l @ R_(l-1), no identity
            added; row i of R_l: how much each input token shapes token i
            after layer l.
        method: "value_zeroing" or "alti".
        token_ids: int32 (B, T).
        padding_mask: int32 (B, T).
        tokens: the token strings per row, when the input was text.
        backend: the Keras backend it ran on.

    Examples:
    ```python
    mixing = distil_explorer.context_mixing(backbone, "The cat sat.",
                                            tokenizer=tokenizer)
    mixing.per_layer[0, 0].sum(-1)  # ones
    mixing.self_share()[:, 0]  # (L, T): how much each token keeps of itself
    ```
    """

    per_layer: np.ndarray
    method: str
    token_ids: np.ndarray
    padding_mask: np.ndarray
    tokens: tuple[tuple[str, ...], ...] | None = None
    backend: str = ""
    rollout: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}: allowed: {', '.join(METHODS)}")
        per_layer = np.asarray(self.per_layer, np.float32)
        if per_layer.ndim != 4 or per_layer.shape[-1] != per_layer.shape[-2]:
            raise ValueError(
                f"per_layer shape={per_layer.shape}: allowed: (L, B, T, T)"
            )
        batch, length = per_layer.shape[1:3]
        arrays = {
            "per_layer": per_layer,
            "rollout": rolled_out(per_layer)
            if self.rollout is None
            else np.asarray(self.rollout, np.float32),
            "token_ids": np.asarray(self.token_ids, np.int32),
            "padding_mask": np.asarray(self.padding_mask, np.int32),
        }
        if arrays["rollout"].shape != per_layer.shape:
            raise ValueError(
                f"rollout shape={arrays['rollout'].shape}: allowed: "
                f"{per_layer.shape}, like per_layer"
            )
        for name in ("token_ids", "padding_mask"):
            if arrays[name].shape != (batch, length):
                raise ValueError(
                    f"{name} shape={arrays[name].shape}: allowed: "
                    f"({batch}, {length}), like per_layer"
                )
        freeze_arrays(self, arrays)
        if self.tokens is not None:
            tokens = token_rows(self.tokens, batch, length, "per_layer")
            object.__setattr__(self, "tokens", tokens)

    def self_share(self) -> np.ndarray:
        """float32 (L, B, T): the share of each token's row given to itself."""
        return np.diagonal(self.per_layer, axis1=-2, axis2=-1).copy()
