"""`context_mixing`: value zeroing or ALTI of every layer, as numpy.

The scores come from `distil_explorer.model.context_mixing` (backend
tensors, one layer at a time); rows are normalised and rolled out here.
"""

from __future__ import annotations

import reprlib
from typing import Any

from distil_explorer.mixing.result import (
    METHODS,
    ContextMixing,
    normalised_rows,
)
from distil_explorer.trace import encoded_inputs


def context_mixing(
    backbone,
    inputs: Any,
    method: str = "value_zeroing",
    tokenizer: Any = None,
) -> ContextMixing:
    """How much each token shapes each token's output, layer by layer.

    Both measures look at the whole layer, residual stream and LayerNorm
    included, not at the attention weights alone:

    - "value_zeroing" (Mohebbi et al. 2023, "Quantifying Context Mixing in
      Transformers"): token i's output of the whole encoder layer is
      recomputed with token j's value vector (bias included) zeroed in every
      head, attention weights and residual unchanged; the score is the
      cosine distance between the two outputs. All T zeroings of a layer
      run as one batch of B * T sequences (one recomputation of the layer
      after its attention weights), never T forward passes.
    - "alti" (Ferrando et al. 2022, "Measuring the Mixing of Contextual
      Information in the Transformer"): the attention block's output (before
      the feed-forward network) split into one vector per source token
      through LayerNorm's linear part and its own scale;
      c(i, j) = max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1). The authors' code
      scales by the standard deviation of (x + eps); this follows
      LayerNorm's own sqrt(var(x) + eps), so the parts add up to the
      block's real output.

    Each real row is normalised to sum to 1 over the real tokens; padding
    rows and columns are exactly 0. `rollout` multiplies the layers through,
    with no identity added (both measures include the residual already).

    Args:
        backbone: a `DistilBertBackbone`, on any backend.
        inputs: as `capture` takes them: a dict of token_ids and
            padding_mask, an `Encoding`, or text with `tokenizer`.
        method: "value_zeroing" or "alti".
        tokenizer: a `DistilBertTokenizer`, needed for text.

    Examples:
    ```python
    import distil_explorer as de
    mixing = de.context_mixing(backbone, "The cat sat on the mat.",
                               method="alti", tokenizer=tokenizer)
    mixing.per_layer.shape  # (L, 1, T, T); each real row sums to 1
    mixing.rollout[-1, 0, 0]  # how much each input token shapes [CLS] at the top
    ```
    """
    import keras

    from distil_explorer.model.context_mixing import mixing_scores

    if method not in METHODS:
        raise ValueError(
            f"method={reprlib.repr(method)}: allowed: {', '.join(METHODS)}"
        )
    tokens, batch = encoded_inputs(
        backbone, inputs, tokenizer, "context_mixing(backbone, text, tokenizer=...)"
    )
    ids, mask = batch["token_ids"], batch["padding_mask"]
    scores = mixing_scores(backbone, ids, mask, method)
    return ContextMixing(
        per_layer=normalised_rows(scores, mask),
        method=method,
        token_ids=ids,
        padding_mask=mask,
        tokens=tokens,
        backend=keras.backend.backend(),
    )
