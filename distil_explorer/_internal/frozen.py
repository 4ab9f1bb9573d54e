"""Frozen numpy values: arrays set on a frozen dataclass as read-only views.

A read-only view freezes a result without copying it (a Trace's maps at T=512
are tens of MB) and without touching the caller's array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def freeze_arrays(value: Any, arrays: Mapping[str, Any]) -> None:
    """Set each of `arrays` on the frozen dataclass `value`, read-only.

    Examples:
    ```python
    freeze_arrays(self, {"scores": np.asarray(self.scores, np.float32)})
    self.scores.flags.writeable  # False
    ```
    """
    for name, array in arrays.items():
        view = np.asarray(array).view()
        view.flags.writeable = False
        object.__setattr__(value, name, view)


def token_rows(
    tokens: Iterable[Iterable[Any]], batch: int, length: int, like: str
) -> tuple[tuple[str, ...], ...]:
    """`tokens` as a tuple of str rows, one per sequence and one per position.

    Examples:
    ```python
    token_rows([["[CLS]", "a"]], 1, 2, "scores")  # (("[CLS]", "a"),)
    ```
    """
    rows = tuple(tuple(str(t) for t in row) for row in tokens)
    if len(rows) != batch or any(len(row) != length for row in rows):
        raise ValueError(
            f"tokens: rows do not match {like}'s (B, T) = {(batch, length)}; "
            "allowed: one string per token"
        )
    return rows
