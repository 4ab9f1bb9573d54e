"""`head_importance`: which attention heads a target needs (Michel et al. 2019).

Each head's output, before the output projection, is multiplied by a gate
g_lh (`DistilBertEncoderLayer(head_gates=...)`): "gradient" reads
|d target / d g_lh| at g = 1, "ablation" sets one gate to 0. Texts stream in
batches with a progress bar; the backend work is in
`model.interventions`.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from distil_explorer.causal.targets import ready_target
from distil_explorer.checks import is_text
from distil_explorer.trace import encoded_inputs

METHODS = ("gradient", "ablation")
GRADIENT_BACKENDS = ("torch", "jax")
USAGE = "head_importance(backbone, texts, target, tokenizer=...)"


def head_importance(
    backbone,
    texts: Any,
    target: Any,
    tokenizer: Any = None,
    method: str = "gradient",
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """How much `target` depends on each attention head, float64 (L, H).

    - "gradient" (Michel et al. 2019, "Are Sixteen Heads Really Better than
      One?"): the mean over texts of |d target / d g_h| at g = 1, with g_h a
      gate multiplying head h's output before the output projection. One
      forward and one backward pass per batch.
    - "ablation": the mean over texts of target(g_h = 0) - target(all gates
      1): negative where removing the head lowers the target. Layer l's H
      ablations start from layer l's input (computed once), as a batch of
      H times the texts.

    Args:
        backbone: a `DistilBertBackbone`; "gradient" needs a float32 one on
            torch or jax, "ablation" runs on any backend.
        texts: a list of strings (with `tokenizer`), one string, an
            `Encoding`, or a dict of token_ids and padding_mask (one row a
            text).
        target: a callable from the last hidden state (B, T, D) to (B,) in
            `keras.ops`, e.g. `cls_norm_target()`.
        tokenizer: a `DistilBertTokenizer`, needed for text.
        method: "gradient" or "ablation".
        batch_size: int >= 1. Texts per batch.
        progress: bool. Show a progress bar (tqdm).

    Examples:
    ```python
    import distil_explorer as de
    texts = de.demo_corpus()[:200]
    scores = de.head_importance(backbone, texts, de.cls_norm_target(),
                                tokenizer=tokenizer)
    np.unravel_index(scores.argmax(), scores.shape)  # the head that counts most
    ```
    """
    import keras

    from distil_explorer.model import interventions

    _check_options(method, batch_size, progress, keras.backend.backend(), backbone)
    target = ready_target(target, backbone, tokenizer)

    def sums_for(target):
        if method == "gradient":
            return interventions.gate_gradients(backbone, target)
        return lambda ids, mask: interventions.ablation_sums(
            backbone, ids, mask, target
        )

    # A target with one row per input (a similarity target with one reference
    # per text) meets each batch with its own rows; the gradient program is
    # then made per batch (on jax: compiled per batch).
    sums_of = sums_for(target)
    total = np.zeros((backbone.num_layers, backbone.num_heads))
    count = 0
    batches = _batches(backbone, texts, tokenizer, batch_size, progress)
    for rows, (ids, mask) in batches:
        if _per_input(target) and count == 0:
            _check_rows(target, rows)
        if _per_input(target):
            sums_of = sums_for(target.rows(count, count + len(ids)))
        total += sums_of(ids, mask)
        count += len(ids)
    return total / count


def _per_input(target) -> bool:
    reference = getattr(target, "reference", None)
    return hasattr(target, "rows") and reference is not None and len(reference) > 1


def _check_rows(target, rows: int) -> None:
    if len(target.reference) != rows:
        raise ValueError(
            f"target: holds {len(target.reference)} reference rows for {rows} "
            "texts; allowed: one shared reference, or one per text"
        )


def _check_options(method, batch_size, progress, backend, backbone) -> None:
    if method not in METHODS:
        raise ValueError(
            f"method={reprlib.repr(method)}: allowed: {', '.join(METHODS)}"
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size={reprlib.repr(batch_size)}: allowed: an int >= 1")
    if not isinstance(progress, bool):
        raise ValueError(f"progress={progress!r}: allowed: True, False")
    if method != "gradient":
        return
    if backend not in GRADIENT_BACKENDS:
        raise ValueError(
            f"backend={backend!r}: method='gradient' needs gradients; allowed: "
            f"{', '.join(GRADIENT_BACKENDS)}, or method='ablation'"
        )
    dtype = backbone.dtype_policy.compute_dtype
    if dtype != "float32" or backbone.quantization_modes:
        raise ValueError(
            f"backbone dtype={dtype}: method='gradient' needs a float32, "
            "unquantized backbone; allowed: that, or method='ablation'"
        )


def _batches(
    backbone, texts, tokenizer, batch_size: int, progress: bool
) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """(rows in all, (token_ids, padding_mask)): numpy batches of at most
    `batch_size` rows."""
    if isinstance(texts, str):
        texts = [texts]
    if isinstance(texts, (list, tuple)) and not texts:
        raise ValueError("texts=[]: allowed: at least one text")
    if is_text(texts):
        rows = len(texts)

        def batch(start):
            part = list(texts[start : start + batch_size])
            return encoded_inputs(backbone, part, tokenizer, USAGE)[1]
    else:
        whole = encoded_inputs(backbone, texts, tokenizer, USAGE)[1]
        rows = len(whole["token_ids"])

        def batch(start):
            return {k: v[start : start + batch_size] for k, v in whole.items()}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rows, unit="text", desc="head importance")
    try:
        for start in range(0, rows, batch_size):
            found = batch(start)
            yield rows, (found["token_ids"], found["padding_mask"])
            if bar is not None:
                bar.update(len(found["token_ids"]))
    finally:
        if bar is not None:
            bar.close()
