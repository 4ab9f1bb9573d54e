"""`patch_activations`: which hidden state carries what a target needs.

Activation patching (causal tracing): run a clean and a corrupted input,
then the corrupted one again with one hidden state (layer l, position t)
taken from the clean run, for every l and t. The runs are batched layer by
layer in `model.interventions.patched_targets`; this module checks the
inputs and makes the numpy `Patching`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distil_explorer.causal.result import Patching
from distil_explorer.causal.targets import label_of, ready_target
from distil_explorer.checks import checked_heads
from distil_explorer.trace import encoded_inputs

USAGE = "patch_activations(backbone, clean_text, corrupted_text, target, tokenizer=...)"


def patch_activations(
    backbone,
    clean: Any,
    corrupted: Any,
    target: Any,
    tokenizer: Any = None,
    ablate: Any = None,
) -> Patching:
    """The effect of patching each clean hidden state into the corrupted run.

    effect[l, t] = (target(corrupted, with the clean hidden state l at
    position t) - target(corrupted)) / (target(clean) - target(corrupted)),
    for every hidden state l (0 = the embeddings' output, L = the last
    layer's) and position t: 1 where that single state restores the clean
    value, 0 where it changes nothing. All (L + 1) x T patched runs are
    batched: each continues from layer l + 1, and the layers below are not
    run again.

    Args:
        backbone: a `DistilBertBackbone`, on any backend.
        clean: one sequence, as `capture` takes inputs (text with
            `tokenizer`, an `Encoding`, or a dict of token_ids and
            padding_mask of one row).
        corrupted: one sequence of the same length as `clean`.
        target: a callable from the last hidden state (B, T, D) to (B,) in
            `keras.ops`, e.g. `cls_norm_target()`.
        tokenizer: a `DistilBertTokenizer`, needed for text.
        ablate: None, or (layer, head) pairs switched off in every run (the
            clean, the corrupted and each patched one), as
            `capture(..., ablate=...)` runs them: the patching of that
            ablated model. `Patching.ablated_heads` says which.

    Examples:
    ```python
    import distil_explorer as de
    p = de.patch_activations(backbone, "The cat sat on the mat.",
                             "The dog sat on the mat.",
                             de.similarity_target("A kitten rests."),
                             tokenizer=tokenizer)
    p.effect[0]  # at the embeddings: 1 at "cat", 0 elsewhere
    ```
    """
    import keras

    from distil_explorer.model.interventions import patched_targets

    clean_tokens, clean_batch = _one_sequence("clean", backbone, clean, tokenizer)
    corrupted_tokens, corrupted_batch = _one_sequence(
        "corrupted", backbone, corrupted, tokenizer
    )
    _check_same_length(clean_tokens, clean_batch, corrupted_tokens, corrupted_batch)
    target = ready_target(target, backbone, tokenizer)
    layers, heads = backbone.num_layers, backbone.num_heads
    ablate = checked_heads("ablate", ablate, layers, heads)
    mask = clean_batch["padding_mask"]
    found, clean_value, corrupted_value = patched_targets(
        backbone,
        clean_batch["token_ids"],
        corrupted_batch["token_ids"],
        mask,
        target,
        ablate,
    )
    change = float(clean_value) - float(corrupted_value)
    if change == 0.0:
        raise ValueError(
            f"target: the same value on clean and corrupted ({float(clean_value)}); "
            "allowed: inputs the target tells apart (effect divides by the change)"
        )
    effect = (found.astype(np.float64) - corrupted_value) / change
    effect = np.where(mask[0].astype(bool), effect, 0.0) + 0.0  # no -0.0
    return Patching(
        effect=effect,
        clean_value=clean_value,
        corrupted_value=corrupted_value,
        clean_token_ids=clean_batch["token_ids"][0],
        corrupted_token_ids=corrupted_batch["token_ids"][0],
        padding_mask=mask[0],
        clean_tokens=None if clean_tokens is None else clean_tokens[0],
        corrupted_tokens=None if corrupted_tokens is None else corrupted_tokens[0],
        target=label_of(target),
        backend=keras.backend.backend(),
        ablated_heads=ablate,
    )


def _one_sequence(name: str, backbone, inputs: Any, tokenizer: Any):
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]  # one text in a list
    tokens, batch = encoded_inputs(backbone, inputs, tokenizer, USAGE)
    rows = batch["token_ids"].shape[0]
    if rows != 1:
        raise ValueError(f"{name}: {rows} sequences; allowed: exactly one")
    return tokens, batch


def _check_same_length(clean_tokens, clean, corrupted_tokens, corrupted) -> None:
    """Patching swaps states position by position: both need the same T."""
    masks = clean["padding_mask"], corrupted["padding_mask"]
    if masks[0].shape == masks[1].shape and np.array_equal(*masks):
        return
    lengths = [int(mask.sum()) for mask in masks]
    if clean_tokens is not None and corrupted_tokens is not None:
        shown = [
            list(clean_tokens[0][: lengths[0]]),
            list(corrupted_tokens[0][: lengths[1]]),
        ]
    else:
        pairs = zip((clean, corrupted), lengths, strict=True)
        shown = [b["token_ids"][0][:n].tolist() for b, n in pairs]
    raise ValueError(
        f"corrupted: {lengths[1]} tokens {shown[1]} where clean has {lengths[0]} "
        f"{shown[0]}; allowed: the same tokenized length and padding, so that "
        "positions line up (swap a word for one of as many tokens)"
    )
