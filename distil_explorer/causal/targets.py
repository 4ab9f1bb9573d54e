"""The target a causal test reads: checked once, prepared with the backbone.

A target is a callable from the last hidden state (B, T, D) to (B,) in
`keras.ops` (`cls_norm_target()`, `similarity_target(...)`); one that needs
the backbone first (to embed another text) has `prepared(backbone, encode)`.
It is evaluated in one place, `model.gradients.target_of`, which checks
that it reduces to (B,): a target on a task model's head plugs in there.
"""

from __future__ import annotations

import reprlib
from typing import Any

from distil_explorer.trace import encoded_inputs


def ready_target(target: Any, backbone, tokenizer: Any) -> Any:
    """`target`, checked callable and prepared with `backbone` when it asks."""
    if not callable(target):
        raise ValueError(
            f"target={reprlib.repr(target)}: not callable; allowed: a callable "
            "from the last hidden state (B, T, D) to (B,), cls_norm_target() or "
            "similarity_target(...)"
        )
    if hasattr(target, "prepared"):

        def encode(value, own_tokenizer=None):
            usage = "similarity_target(text, tokenizer=...)"
            return encoded_inputs(backbone, value, own_tokenizer or tokenizer, usage)[1]

        target = target.prepared(backbone, encode)
    return target


def label_of(target: Any) -> str:
    """A short name for a target, as `Attribution.target` reads."""
    return str(getattr(target, "label", getattr(target, "__name__", "target")))
