"""Checks shared by model, trace, analysis and views: indices, selections, masks.

A numpy-only leaf: it imports nothing else of the package, so every layer may
import it, and each check exists once. Errors read `argument=value: why;
allowed: ...`, as everywhere in the package.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np


def checked_padding_mask(padding_mask: Any, shape: tuple[int, int]) -> np.ndarray:
    """A (B, T) 0/1 mask with a real token in every row, as booleans."""
    mask = np.asarray(padding_mask)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"padding_mask shape={mask.shape}: allowed: (batch, T) = {tuple(shape)}"
        )
    if mask.dtype.kind in "biu":
        # Two reductions; np.isin sorts, several times the cost, and this
        # runs before every capture and every call of the backbone.
        binary = mask.size == 0 or (mask.min() >= 0 and mask.max() <= 1)
    else:
        binary = np.isin(mask, (0, 1)).all()
    if not binary:
        raise ValueError(
            f"padding_mask values={np.unique(mask)[:5].tolist()}: "
            "allowed: 0 (padding) or 1 (real token)"
        )
    empty = np.flatnonzero(mask.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(
            f"padding_mask row {int(empty[0])}: has no real token; "
            "allowed: at least one 1 in every row"
        )
    return mask.astype(bool)


def checked_index(name: str, value: Any, stop: int) -> int:
    """`value` as an int in 0..stop-1 (bools and floats refused)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}={value!r}: allowed: an int, 0..{stop - 1}") from None
    if not 0 <= value < stop:
        raise ValueError(f"{name}={value}: out of range; allowed: 0..{stop - 1}")
    return value


def checked_held(name: str, value: Any, held: tuple[int, ...], plural: str) -> int:
    """Where model index `value` sits in `held` (the indices a Trace holds).

    `plural` names the `capture` argument that chose them ("layers", "heads").

    Examples:
    ```python
    checked_held("head", 3, (0, 3), "heads")  # 1
    ```
    """
    if (
        isinstance(value, (int, np.integer))
        and not isinstance(value, bool)
        and value in held
    ):
        return held.index(int(value))
    raise ValueError(
        f"{name}={value!r}: not in this Trace; allowed: one of {list(held)} "
        f"(capture(..., {plural}=...) chose which {plural} to keep)"
    )


def checked_every_map(trace, what: str) -> None:
    """Raise unless `trace` holds every layer's and head's attention.

    `what` names the computation that needs them, e.g. "rollout".
    """
    if not trace.has_all_attention:
        raise ValueError(
            f"trace: {what} needs every layer's and head's attention, but this "
            f"Trace holds layers {list(trace.attention_layers)}, heads "
            f"{list(trace.attention_heads)}; allowed: a Trace from capture(...) "
            "without layers= or heads="
        )


def checked_selection(name: str, value: Any, stop: int) -> tuple[int, ...]:
    """`layers=` / `heads=` as sorted model indices; None means all of them.

    Accepts one int or a sequence of ints; negative ints count from the end,
    as in Python indexing.
    """
    if value is None:
        return tuple(range(stop))
    items = [value] if isinstance(value, (int, np.integer)) else value
    allowed = (
        f"allowed: None (all), an int or a list of ints in "
        f"{-stop}..{stop - 1}, at least one"
    )
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"{name}={value!r}: {allowed}") from None
    if not items or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items
    ):
        raise ValueError(f"{name}={value!r}: {allowed}")
    bad = [int(i) for i in items if not -stop <= i < stop]
    if bad:
        raise ValueError(f"{name}={value!r}: {bad} out of range; {allowed}")
    return tuple(sorted({int(i) % stop for i in items}))
