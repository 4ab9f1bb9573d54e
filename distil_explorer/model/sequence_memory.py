"""How much memory one sequence costs a pass through a backbone, and how many fit.

A rough, deliberately generous count of the float32 values a DistilBERT
encoder layer makes for one sequence of `length` tokens, from its config
alone (no keras, no allocation), so callers can size a batch or a chunk of
integration steps before they allocate. Per layer and sequence (T tokens,
D hidden, I intermediate, H heads):

- attention: queries, keys, values, the context, the output projection and
  the residual with its LayerNorm: about 9 T D; scores and probabilities:
  2 H T T;
- feed-forward: the intermediate activation before and after GELU, 2 T I.

Forward only, about two layers' worth live at once (the one running and
its input); forward and backward, every layer's values are kept for the
backward pass plus one layer's gradients. The embeddings add 3 T D.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FLOAT32_BYTES = 4
_FIELDS = ("num_layers", "num_heads", "hidden_dim", "intermediate_dim")


def bytes_per_sequence(model: Any, length: int, *, backward: bool) -> int:
    """Bytes one sequence of `length` tokens takes in a pass (float32).

    Args:
        model: a `DistilBertBackbone` or a config mapping (with `num_layers`,
            `num_heads`, `hidden_dim`, `intermediate_dim`).
        length: int. Tokens per sequence, padding included.
        backward: bool. Also keep what a backward pass needs.

    Examples:

    >>> base = {"num_layers": 6, "num_heads": 12, "hidden_dim": 768,
    ...         "intermediate_dim": 3072}
    >>> round(bytes_per_sequence(base, 128, backward=True) / 2**20)
    56
    """
    layers, heads, hidden, intermediate = _sizes(model)
    t = int(length)
    per_layer = 9 * t * hidden + 2 * t * intermediate + 2 * heads * t * t
    kept = layers + 1 if backward else 2
    return FLOAT32_BYTES * (kept * per_layer + 3 * t * hidden)


def sequences_that_fit(
    model: Any, length: int, budget_bytes: int, *, backward: bool
) -> int:
    """How many sequences of `length` tokens a pass can run within the budget.

    At least 1: a single sequence is what the caller asked for, so the
    caller decides what to do when even one is over the budget.

    Examples:

    >>> tiny = {"num_layers": 2, "num_heads": 2, "hidden_dim": 8,
    ...         "intermediate_dim": 16}
    >>> sequences_that_fit(tiny, 16, 2**20, backward=True)
    31
    """
    one = bytes_per_sequence(model, length, backward=backward)
    return max(1, int(budget_bytes) // one)


def _sizes(model: Any) -> tuple[int, ...]:
    if isinstance(model, Mapping):
        missing = [name for name in _FIELDS if name not in model]
        if missing:
            raise ValueError(
                f"model: a config without {', '.join(missing)}; allowed: a "
                f"DistilBertBackbone or a config with {', '.join(_FIELDS)}"
            )
        return tuple(int(model[name]) for name in _FIELDS)
    return tuple(int(getattr(model, name)) for name in _FIELDS)
