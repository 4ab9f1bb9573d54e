"""What changes when one token is masked or removed: original vs changed Trace."""

from __future__ import annotations

import dataclasses

import numpy as np

from distil_explorer.trace import Trace

ACTIONS = ("mask", "remove")


@dataclasses.dataclass(frozen=True, eq=False)
class InterventionEffect:
    """The effect of masking or removing the token at `position` (sequence 0).

    Attributes:
        position: the token's position in the original sequence.
        action: "mask" (replaced by [MASK]) or "remove" (deleted).
        attention_change: (L, heads) mean over the other tokens' query rows of
            the total variation distance between the two attention rows
            (0 = unchanged, 1 = disjoint). With "remove", the original rows
            drop the removed key and are renormalised first.
        hidden_cosine: (L + 1, n) cosine of each other token's two states,
            in the changed sequence's order.
    """

    position: int
    action: str
    attention_change: np.ndarray
    hidden_cosine: np.ndarray


def _kept(original: Trace, position: int) -> np.ndarray:
    real = np.flatnonzero(original.padding_mask[0])
    return real[real != position]


def intervention_effect(
    original: Trace, changed: Trace, position: int, action: str
) -> InterventionEffect:
    """Compare `changed` (one token masked or removed) with `original`.

    Examples:
    ```python
    effect = intervention_effect(trace, masked, position=3, action="mask")
    effect.attention_change.max()  # the head that moved most
    ```
    """
    if action not in ACTIONS:
        raise ValueError(f"action={action!r}: allowed: {', '.join(ACTIONS)}")
    real = int(original.padding_mask[0].sum())
    if not 0 <= position < real:
        raise ValueError(f"position={position}: allowed: 0..{real - 1}")
    kept = _kept(original, position)  # other real tokens, original positions
    # Where the other tokens stand in `changed`: the same places after a
    # mask, shifted past the gap after a removal.
    ours = kept if action == "mask" else np.arange(len(kept))
    if int(changed.padding_mask[0].sum()) != (real if action == "mask" else real - 1):
        raise ValueError(
            f"changed: has {int(changed.padding_mask[0].sum())} real tokens; allowed: "
            f"{real} after a mask, {real - 1} after a removal"
        )
    before = original.attentions[:, 0][:, :, kept][:, :, :, kept]
    before = before / np.maximum(before.sum(-1, keepdims=True), 1e-12)
    after = changed.attentions[:, 0][:, :, ours][:, :, :, ours]
    after = after / np.maximum(after.sum(-1, keepdims=True), 1e-12)
    attention_change = 0.5 * np.abs(before - after).sum(-1).mean(-1)
    a = original.hidden_states[:, 0, kept]
    b = changed.hidden_states[:, 0, ours]
    with np.errstate(invalid="ignore", divide="ignore"):  # zero states -> NaN
        cosine = (a * b).sum(-1) / (
            np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
        )
    return InterventionEffect(position, action, attention_change, cosine)


def intervened_inputs(
    token_ids: np.ndarray, position: int, action: str, mask_id: int | None = None
) -> np.ndarray:
    """Token ids (1, T) with the token at `position` masked or removed.

    Examples:
    ```python
    intervened_inputs(np.array([[101, 7, 8, 102]]), 1, "mask", mask_id=103)
    ```
    """
    ids = np.asarray(token_ids)[0]
    if action not in ACTIONS:
        raise ValueError(f"action={action!r}: allowed: {', '.join(ACTIONS)}")
    if not 0 <= position < len(ids):
        raise ValueError(f"position={position}: allowed: 0..{len(ids) - 1}")
    if action == "mask":
        if mask_id is None:
            raise ValueError("mask_id: needed to mask; allowed: the [MASK] token's id")
        out = ids.copy()
        out[position] = mask_id
        return out[None]
    if len(ids) < 2:
        raise ValueError("position: the only token cannot be removed")
    return np.delete(ids, position)[None]
