"""`predict_masked` and `classify`: what a task model says, as numpy."""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

from distil_explorer.tasks.readout import head_summary
from distil_explorer.tasks.results import ClassProbabilities, MaskedPredictions


def checked_top_k(top_k: Any, vocabulary_size: int) -> int:
    if (
        isinstance(top_k, bool)
        or not isinstance(top_k, (int, np.integer))
        or not 1 <= top_k <= vocabulary_size
    ):
        raise ValueError(
            f"top_k={reprlib.repr(top_k)}: allowed: an int from 1 to "
            f"{vocabulary_size} (the vocabulary size)"
        )
    return int(top_k)


def checked_task(model: Any, kind: str, function: str):
    from distil_explorer.tasks.task import missing_task

    wanted = missing_task(model, kind)
    if wanted:
        raise ValueError(
            f"model={type(model).__name__}: {function} needs a {wanted}; allowed: "
            f"a {wanted} (e.g. {wanted}.from_preset(...))"
        )
    return model


def encoded(model, inputs: Any, tokenizer: Any, usage: str):
    """(token strings or None, {"token_ids", "padding_mask"} as numpy)."""
    from distil_explorer.model.validation import check_inputs
    from distil_explorer.trace import tokens_and_inputs

    backbone = model.backbone
    tokens, batch = tokens_and_inputs(
        inputs, tokenizer, backbone.max_sequence_length, usage
    )
    batch = {k: np.asarray(v) for k, v in dict(batch).items()}
    check_inputs(batch, backbone.vocabulary_size, backbone.max_sequence_length)
    return tokens, batch


def _positions(positions: Any, ids: np.ndarray, mask: np.ndarray, mask_id):
    """(rows, positions) int arrays of the entries to predict, checked."""
    batch, length = ids.shape
    if positions is None:
        if mask_id is None:
            raise ValueError(
                "text_or_inputs: no mask_positions and no tokenizer to find "
                "[MASK]; allowed: text with [MASK] and tokenizer=..., or "
                "mask_positions (in the inputs dict or as positions=)"
            )
        rows, cols = np.nonzero((ids == mask_id) & mask.astype(bool))
        if not len(rows):
            raise ValueError(
                "text_or_inputs: no [MASK] token and no mask_positions; allowed: "
                "a text with [MASK] in it, or positions=[...]"
            )
        return rows, cols
    given = np.asarray(positions)
    if given.dtype.kind not in "iu" or given.ndim not in (1, 2):
        raise ValueError(
            f"positions={reprlib.repr(positions)}: allowed: ints, one list for "
            "every sequence or a (B, P) array"
        )
    if given.shape[-1] == 0 or (given.ndim == 2 and len(given) != batch):
        raise ValueError(
            f"positions shape={given.shape}: allowed: at least one position, "
            f"as one list for every sequence or a ({batch}, P) array"
        )
    given = np.broadcast_to(given, (batch, given.shape[-1]))
    real = mask.astype(bool).sum(1)
    bad = (given < 0) | (given >= real[:, None])
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"positions={int(given[row, col])} (sequence {row}): out of range; "
            f"allowed: 0 to {int(real[row]) - 1}, the real tokens of a sequence "
            f"of length {length}"
        )
    return np.repeat(np.arange(batch), given.shape[1]), given.reshape(-1)


def predict_masked(
    model,
    text_or_inputs: Any,
    top_k: int = 10,
    tokenizer: Any = None,
    positions: Any = None,
) -> MaskedPredictions:
    """The top-k tokens a masked LM predicts at every [MASK] (or given position).

    Args:
        model: a `DistilBertMaskedLM`.
        text_or_inputs: text with [MASK] in it (with `tokenizer`), an
            `Encoding`, or a dict of token_ids and padding_mask, optionally
            with `mask_positions` (B, P).
        top_k: int. How many tokens per position, 1 to the vocabulary size.
        tokenizer: a `DistilBertTokenizer`: for text, to find [MASK], and to
            name the predicted tokens.
        positions: None (every [MASK]), or positions to predict: one list
            for every sequence or a (B, P) array. Overrides mask_positions.

    Examples:
    ```python
    p = distil_explorer.predict_masked(masked_lm, "Paris is the [MASK] of France.",
                                       top_k=5, tokenizer=tokenizer)
    p.top(0)  # [("capital", 0.93), ...]
    ```
    """
    from keras import ops

    model = checked_task(model, "masked_lm", "predict_masked")
    top_k = checked_top_k(top_k, model.backbone.vocabulary_size)
    if isinstance(text_or_inputs, dict) and "mask_positions" in text_or_inputs:
        text_or_inputs = dict(text_or_inputs)
        given = text_or_inputs.pop("mask_positions")
        positions = given if positions is None else positions
    usage = "predict_masked(model, text, tokenizer=...)"
    _, batch = encoded(model, text_or_inputs, tokenizer, usage)
    ids, mask = batch["token_ids"], batch["padding_mask"]
    mask_id = None if tokenizer is None else tokenizer.token_to_id("[MASK]")
    rows, cols = _positions(positions, ids, mask, mask_id)
    flat = ops.reshape(model.backbone(batch), (-1, model.backbone.hidden_dim))
    index = ops.convert_to_tensor((rows * ids.shape[1] + cols).astype(np.int32))
    vectors = ops.take(flat, index, axis=0)
    top_ids, probabilities = head_summary(model, vectors, top_k)
    return MaskedPredictions(
        rows=rows,
        positions=cols,
        top_ids=top_ids,
        probabilities=probabilities,
        token_ids=ids,
        top_tokens=_names(top_ids, tokenizer),
    )


def _names(ids: np.ndarray, tokenizer: Any):
    if tokenizer is None:
        return None
    rows = ids.reshape(-1, ids.shape[-1])
    return [[tokenizer.id_to_token(int(i)) for i in row] for row in rows]


def classify(model, inputs: Any, tokenizer: Any = None) -> ClassProbabilities:
    """A classifier's class probabilities, with the class names.

    Args:
        model: a `DistilBertTextClassifier`.
        inputs: text (with `tokenizer`), an `Encoding`, or a dict of
            token_ids and padding_mask.
        tokenizer: a `DistilBertTokenizer`, for text.

    Examples:
    ```python
    c = distil_explorer.classify(classifier, ["Great film.", "Dull."],
                                 tokenizer=tokenizer)
    c.predicted_names, c.probabilities
    ```
    """
    import keras
    from keras import ops

    from distil_explorer.model.tensors import to_numpy

    model = checked_task(model, "classifier", "classify")
    usage = "classify(model, text, tokenizer=...)"
    _, batch = encoded(model, inputs, tokenizer, usage)
    logits = model.logits_from_hidden(model.backbone(batch))
    # A softmax or sigmoid activation makes the model's own probabilities.
    if model.activation is keras.activations.linear:
        probabilities = ops.softmax(logits, axis=-1)
    else:
        probabilities = model.activation(logits)
    names = model.class_names or tuple(f"LABEL_{i}" for i in range(model.num_classes))
    return ClassProbabilities(
        probabilities=to_numpy(ops.cast(probabilities, "float32")),
        logits=to_numpy(ops.cast(logits, "float32")),
        class_names=names,
    )
