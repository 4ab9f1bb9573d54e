"""Checks shared by every layer: indices, selections, masks, flags and model inputs.

A numpy-only leaf: it imports nothing else of the package, so every layer may
import it, and each check exists once. Errors read `argument=value: why;
allowed: ...`, as everywhere in the package.
"""

from __future__ import annotations

import numbers
import operator
import re
import reprlib
from collections.abc import Sequence
from typing import Any

import numpy as np

# How far a real attention row may be from summing to 1 (float32 softmax).
ATTENTION_TOLERANCE = 1e-3


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


def checked_heads(name: str, value: Any, layers: int, heads: int) -> tuple:
    """`value`, (layer, head) pairs, as a sorted tuple of int pairs.

    Examples:
    ```python
    checked_heads("ablate", [(1, 0), (0, 3)], 6, 12)  # ((0, 3), (1, 0))
    ```
    """
    if value is None:
        return ()
    try:
        pairs = [tuple(pair) for pair in value]
    except TypeError:
        pairs = None
    if pairs is None or any(len(pair) != 2 for pair in pairs):
        raise ValueError(
            f"{name}={reprlib.repr(value)}: allowed: a list of (layer, head) pairs"
        )
    found = set()
    for layer, head in pairs:
        found.add(
            (
                checked_index(f"{name} layer", layer, layers),
                checked_index(f"{name} head", head, heads),
            )
        )
    return tuple(sorted(found))


def checked_flag(name: str, value: Any) -> bool:
    """`value` as a bool; anything but True, False (or numpy's) is refused.

    A string such as "no" is truthy: taking it as True would do the
    opposite of what was asked.

    Examples:
    ```python
    checked_flag("keep_qk", True)  # True
    checked_flag("keep_qk", "no")  # ValueError: keep_qk='no': not a bool ...
    ```
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"{name}={reprlib.repr(value)}: not a bool; allowed: True, False"
        )
    return bool(value)


_INPUTS_ALLOWED = (
    'allowed: text (a str or a list of str) with a tokenizer, {"token_ids": '
    '(B, T) ints, "padding_mask": (B, T) 0/1}, or an Encoding'
)


def checked_inputs(inputs: Any) -> Any:
    """`inputs` with nested lists made arrays; wrong kinds named, not guessed.

    Text stays text, an Encoding stays an Encoding; a dict's `token_ids` and
    `padding_mask` lists become arrays (ragged rows and strings refused by
    name). Shapes, dtypes and values are checked later, by the model.

    Examples:
    ```python
    checked_inputs({"token_ids": [[1, 2]], "padding_mask": [[1, 1]]})
    checked_inputs(["a text", 3])  # ValueError: inputs[1]=3: a int among strings
    ```
    """
    if isinstance(inputs, (list, tuple)):
        kinds = {isinstance(item, str) for item in inputs}
        if kinds == {True, False}:
            i = next(i for i, item in enumerate(inputs) if not isinstance(item, str))
            raise ValueError(
                f"inputs[{i}]={reprlib.repr(inputs[i])}: a "
                f"{type(inputs[i]).__name__} among strings; allowed: a list of "
                "str only (each one a text)"
            )
        if kinds == {False} or not inputs:
            raise ValueError(
                f"inputs={reprlib.repr(inputs)}: a {type(inputs).__name__} of "
                f"{'nothing' if not inputs else 'non-text'}; {_INPUTS_ALLOWED}"
            )
        return inputs
    if isinstance(inputs, dict):
        return {key: _checked_ids(key, value) for key, value in inputs.items()}
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, (bytes, bytearray, int, float, type(None), np.ndarray)):
        raise ValueError(f"inputs={reprlib.repr(inputs)}: {_INPUTS_ALLOWED}")
    return inputs


def _checked_ids(key: Any, value: Any) -> Any:
    """A token_ids / padding_mask value: text and ragged rows refused by name."""
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"{key}={reprlib.repr(value)}: text where ids belong; allowed: a "
            "(B, T) array of ints, or pass the text itself as inputs with "
            "tokenizer=..."
        )
    if not isinstance(value, (list, tuple)):
        return value
    rows = [row for row in value]
    if any(
        isinstance(t, str)
        for row in rows
        if isinstance(row, (list, tuple))
        for t in row
    ):
        raise ValueError(
            f"{key}={reprlib.repr(value)}: holds strings where ids belong; "
            "allowed: ints, or pass the text as inputs with tokenizer=..."
        )
    lengths = [
        len(row) if isinstance(row, (list, tuple, np.ndarray)) else None for row in rows
    ]
    if len(set(lengths)) > 1:
        raise ValueError(
            f"{key}: ragged rows (lengths {reprlib.repr(lengths)}); allowed: "
            "rows of one length (pad them and mark padding in padding_mask, "
            "or pass text with a tokenizer, which pads)"
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{key}={reprlib.repr(value)}: not a (B, T) array ({error}); "
            "allowed: rows of ints of one length"
        ) from None


def is_text(inputs: Any) -> bool:
    """Whether `inputs` is text: a str, or a non-empty list or tuple of str."""
    if isinstance(inputs, str):
        return True
    return (
        isinstance(inputs, (list, tuple))
        and len(inputs) > 0
        and all(isinstance(t, str) for t in inputs)
    )


def checked_attention_maps(attentions, padding_mask) -> tuple[np.ndarray, np.ndarray]:
    """(attentions as a float array, real-token mask as bool), or a ValueError.

    Real query rows must be softmax probabilities: in [0, 1], summing to 1 over
    the real keys within `ATTENTIONATTENTION_TOLERANCE`.
    """
    attn = np.asarray(attentions)
    if not np.issubdtype(attn.dtype, np.floating):
        attn = attn.astype(np.float64)
    if attn.ndim != 5 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(
            f"attentions shape={attn.shape}: allowed: (layers, batch, heads, T, T)"
        )
    real = checked_padding_mask(padding_mask, (attn.shape[1], attn.shape[3]))
    selected = real[None, :, None, :]
    lowest = np.where(selected, attn.min(axis=-1), 0.0)
    # Summed over real keys only, so mass on a padded key shows as a shortfall.
    on_real = np.einsum("lbhqk,bk->lbhq", attn, real.astype(attn.dtype))
    sums = np.where(selected, on_real, 1.0)
    if not np.isfinite(sums).all() or lowest.min() < -ATTENTION_TOLERANCE:
        raise ValueError(
            "attentions: a real query row holds negative or non-finite values; "
            "allowed: softmax probabilities in [0, 1]"
        )
    worst = np.unravel_index(np.abs(sums - 1.0).argmax(), sums.shape)
    if abs(sums[worst] - 1.0) > ATTENTION_TOLERANCE:
        layer, row, head, query = (int(i) for i in worst)
        raise ValueError(
            f"attentions[{layer}, {row}, {head}, {query}]: sums to "
            f"{sums[worst]:.4g}; allowed: real query rows summing to 1 "
            "(softmax probabilities)"
        )
    return attn, real


def checked_hidden_states(hidden_states, padding_mask) -> tuple[np.ndarray, np.ndarray]:
    """(states as float64, real-token mask as bool), or a ValueError."""
    states = np.asarray(hidden_states, dtype=np.float64)
    if states.ndim != 4:
        raise ValueError(
            f"hidden_states shape={states.shape}: allowed: (layers + 1, batch, T, H)"
        )
    if padding_mask is None:
        return states, np.ones(states.shape[1:3], dtype=bool)
    return states, checked_padding_mask(padding_mask, states.shape[1:3])


def checked_texts(texts: Any) -> list[str]:
    """`texts` as a non-empty list of str, each of whole Unicode characters.

    Examples:
    ```python
    checked_texts("one text")  # ["one text"]
    checked_texts(["a", 3])  # ValueError: texts=['a', 3]: item 1 is a int ...
    ```
    """
    if isinstance(texts, str):
        return [texts]
    shown = reprlib.repr(texts)
    allowed = "allowed: a str or a non-empty list of str"
    if not isinstance(texts, Sequence) or isinstance(texts, (bytes, bytearray)):
        raise ValueError(f"texts={shown}: not text; {allowed}")
    if not texts:
        raise ValueError(f"texts={shown}: an empty batch; {allowed}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                f"texts={shown}: item {i} is a {type(text).__name__}; {allowed}"
            )
        _check_surrogates(f"texts[{i}]", text)
    return list(texts)


# A lone surrogate is what Python makes of a byte that was not UTF-8 (in
# sys.argv, or a file read with errors="surrogateescape"); the Rust
# tokenizer refuses it with a TypeError that names no text.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(name: str, text: str) -> None:
    found = None if text.isascii() else _SURROGATE.search(text)
    if found is not None:
        raise ValueError(
            f"{name}={reprlib.repr(text)}: character {found.start()} is "
            f"{found[0]!r}, a lone surrogate (a byte that was not UTF-8, or a "
            "half of a UTF-16 pair); allowed: text of whole Unicode characters"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def checked_length(value: Any, name: str = "sequence_length") -> int | None:
    """A token count with room for [CLS] and [SEP]; None allowed for
    `sequence_length` (pad to the longest row).

    Examples:
    ```python
    checked_length(128)  # 128
    checked_length(1, "max_length")  # ValueError: max_length=1: leaves no room ...
    ```
    """
    optional = name == "sequence_length"
    if value is None and optional:
        return None
    if not _is_int(value) or value < 2:
        raise ValueError(
            f"{name}={value!r}: leaves no room for [CLS] and [SEP]; allowed: an "
            f"int >= 2{', or None' if optional else ''}"
        )
    return int(value)
