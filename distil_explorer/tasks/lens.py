"""`layer_predictions`: the masked-LM head on every layer's hidden states.

The "logit lens" (nostalgebraist 2020; Ecco's layer predictions) for an
encoder: what would the model predict if its computation stopped after layer
l? One batched head application over the (L + 1) x real-token rows of a
Trace, not L + 1 forward passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distil_explorer.tasks.predictions import checked_task, checked_top_k, summarize
from distil_explorer.tasks.results import LayerPredictions

# Rows of logits computed at once: 2048 x a 30522-token vocabulary is 250 MB.
CHUNK_ROWS = 2048
_MATCHED = ("num_layers", "hidden_dim", "vocabulary_size")


def _checked_trace(model, trace) -> None:
    from distil_explorer.trace import Trace

    if not isinstance(trace, Trace):
        raise ValueError(
            f"trace={type(trace).__name__}: allowed: a Trace, e.g. "
            "distil_explorer.capture(masked_lm.backbone, inputs)"
        )
    backbone = model.backbone
    for field in _MATCHED:
        theirs = trace.config.get(field)
        if theirs is not None and theirs != getattr(backbone, field):
            raise ValueError(
                f"trace: captured from a model with {field}={theirs}, but the "
                f"masked LM's backbone has {getattr(backbone, field)}; allowed: "
                "a Trace captured from masked_lm.backbone"
            )
    layers, _, _, width = trace.hidden_states.shape
    if layers != backbone.num_layers + 1 or width != backbone.hidden_dim:
        raise ValueError(
            f"trace hidden_states shape={trace.hidden_states.shape}: allowed: "
            f"({backbone.num_layers + 1}, B, T, {backbone.hidden_dim})"
        )


def _checked_original(original_ids: Any, trace, vocabulary_size: int) -> np.ndarray:
    if original_ids is None:
        return np.asarray(trace.token_ids, np.int32)
    ids = np.asarray(original_ids)
    if ids.shape != trace.token_ids.shape or ids.dtype.kind not in "iu":
        raise ValueError(
            f"original_ids shape={ids.shape}: allowed: ints of the Trace's "
            f"token_ids shape {trace.token_ids.shape}"
        )
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary_size):
        raise ValueError(
            f"original_ids: value out of range; allowed: 0 to {vocabulary_size - 1}"
        )
    return ids.astype(np.int32)


def layer_predictions(
    masked_lm,
    trace,
    top_k: int = 5,
    *,
    original_ids: Any = None,
    tokenizer: Any = None,
) -> LayerPredictions:
    """The masked-LM head's top-k tokens at every layer and position of a Trace.

    Layer 0 is the embeddings output; layer L (the last) gives the model's
    own predictions (`predict_masked` reads the same head the same way).
    For each layer and real position: the top-k tokens and probabilities,
    and the rank and probability of the actual token (the one there, or
    from `original_ids` the one that was masked out).

    Args:
        masked_lm: a `DistilBertMaskedLM`.
        trace: a `Trace` captured from `masked_lm.backbone`.
        top_k: int. Tokens per layer and position, 1 to the vocabulary size.
        original_ids: None or ints (B, T): the tokens to judge against, e.g.
            the input before [MASK] replaced a word.
        tokenizer: a `DistilBertTokenizer` to name the predicted tokens.

    Examples:
    ```python
    text = "The capital of France is [MASK]."
    trace = distil_explorer.capture(masked_lm.backbone, text, tokenizer=tokenizer)
    lens = distil_explorer.layer_predictions(masked_lm, trace, top_k=5,
                                             tokenizer=tokenizer)
    lens.top_tokens[-1][0][6]  # the last layer's guesses at [MASK]
    ```
    """
    from keras import ops

    model = checked_task(masked_lm, "masked_lm", "layer_predictions")
    vocabulary = model.backbone.vocabulary_size
    top_k = checked_top_k(top_k, vocabulary)
    _checked_trace(model, trace)
    actual = _checked_original(original_ids, trace, vocabulary)
    real = trace.padding_mask.astype(bool)
    layers = trace.hidden_states.shape[0]
    vectors = trace.hidden_states[:, real].reshape(-1, trace.hidden_states.shape[-1])
    targets = np.tile(actual[real], layers)
    parts = []
    for start in range(0, len(vectors), CHUNK_ROWS):
        stop = start + CHUNK_ROWS
        logits = model.logits_from_hidden(ops.convert_to_tensor(vectors[start:stop]))
        parts.append(summarize(logits, top_k, targets[start:stop]))
    ids, probabilities, rank, probability = (
        np.concatenate(p) for p in zip(*parts, strict=True)
    )
    shape = (layers, *real.shape)
    return LayerPredictions(
        top_ids=_scatter(ids, real, shape, -1),
        probabilities=_scatter(probabilities, real, shape, 0.0),
        actual_ids=actual,
        actual_rank=_scatter(rank, real, shape, -1),
        actual_probability=_scatter(probability, real, shape, 0.0),
        padding_mask=trace.padding_mask,
        tokens=trace.tokens,
        top_tokens=_names(_scatter(ids, real, shape, -1), tokenizer),
        actual_tokens=_names(actual, tokenizer),
    )


def _scatter(values: np.ndarray, real: np.ndarray, shape, fill) -> np.ndarray:
    """(layers x real rows, ...) values back onto (layers, B, T, ...)."""
    out = np.full((*shape, *values.shape[1:]), fill, dtype=values.dtype)
    out[:, real] = values.reshape(shape[0], -1, *values.shape[1:])
    return out


def _names(ids: np.ndarray, tokenizer: Any):
    """The token strings of `ids` as nested tuples of its shape ("" for -1)."""
    if tokenizer is None:
        return None
    unique, inverse = np.unique(ids, return_inverse=True)
    strings = ["" if i < 0 else tokenizer.id_to_token(int(i)) for i in unique]
    return _tuples(np.array(strings, dtype=object)[inverse.reshape(ids.shape)])


def _tuples(array: np.ndarray):
    if array.ndim == 1:
        return tuple(array.tolist())
    return tuple(_tuples(part) for part in array)
