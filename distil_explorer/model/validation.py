"""Checks for model inputs (config checks live in `distil_explorer.config`).

Every check raises `ValueError` worded as `argument=value: why; allowed: ...`
at the point where the bad value enters, so that no backend ever sees it (jax
silently clamps out-of-range ids; torch raises a bare IndexError).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from distil_explorer.checks import checked_padding_mask
from distil_explorer.model.tensors import to_numpy

INPUT_KEYS = ("token_ids", "padding_mask")


def _is_symbolic(x: Any) -> bool:
    # KerasTensors, jax tracers and tf.function's graph tensors (Keras's
    # fit on tensorflow) have shapes but no values to inspect.
    name = type(x).__name__
    return name in ("KerasTensor", "SymbolicTensor") or "Tracer" in name


def _dtype_name(x: Any) -> str:
    if isinstance(x, np.ndarray):  # the common case, without Keras's lookup
        return "bool" if x.dtype == bool else x.dtype.name
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


def check_inputs(inputs: Any, vocabulary_size: int, max_sequence_length: int) -> None:
    """Check a `{"token_ids", "padding_mask"}` batch before it reaches a backend.

    Shapes and dtypes are always checked; values (id range, mask content) only
    when they are concrete, not while a graph is being traced.
    """
    if not isinstance(inputs, Mapping):
        raise ValueError(
            f"inputs={type(inputs).__name__}: must be a dict; allowed: "
            '{"token_ids": int array (B, T), "padding_mask": 0/1 array (B, T)}'
        )
    missing = [k for k in INPUT_KEYS if k not in inputs]
    extra = sorted(set(inputs) - set(INPUT_KEYS))
    if missing or extra:
        raise ValueError(
            f"inputs keys={sorted(inputs)}: missing {missing}, unexpected {extra}; "
            f"allowed: exactly {list(INPUT_KEYS)}"
        )
    ids, mask = inputs["token_ids"], inputs["padding_mask"]
    ids_shape, mask_shape = tuple(np.shape(ids)), tuple(np.shape(mask))
    if len(ids_shape) != 2:
        raise ValueError(
            f"token_ids shape={ids_shape}: must be 2-D; allowed: (batch, sequence)"
        )
    if ids_shape != mask_shape:
        raise ValueError(
            f"padding_mask shape={mask_shape}: does not match token_ids shape "
            f"{ids_shape}; allowed: the same (batch, sequence) shape"
        )
    if ids_shape[1] is not None and ids_shape[1] > max_sequence_length:
        raise ValueError(
            f"token_ids sequence length={ids_shape[1]}: longer than "
            f"max_sequence_length={max_sequence_length}; allowed: 1 to "
            f"{max_sequence_length} tokens (truncate the input)"
        )
    if ids_shape[1] == 0:
        raise ValueError("token_ids sequence length=0: allowed: at least 1 token")
    if "int" not in _dtype_name(ids):
        raise ValueError(
            f"token_ids dtype={getattr(ids, 'dtype', type(ids).__name__)}: token ids "
            "must be integers; allowed: int32 or int64"
        )
    mask_dtype = _dtype_name(mask)
    if "int" not in mask_dtype and mask_dtype != "bool":
        raise ValueError(
            f"padding_mask dtype={getattr(mask, 'dtype', type(mask).__name__)}: "
            "allowed: bool or integer 0/1"
        )
    if _is_symbolic(ids) or _is_symbolic(mask):
        return
    _check_values(to_numpy(ids), to_numpy(mask), vocabulary_size)


def _check_values(ids: np.ndarray, mask: np.ndarray, vocabulary_size: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary_size):
        bad = ids[(ids < 0) | (ids >= vocabulary_size)]
        raise ValueError(
            f"token_ids value={int(bad.flat[0])}: out of range; allowed: 0 to "
            f"{vocabulary_size - 1} (vocabulary_size={vocabulary_size})"
        )
    # The shape matches token_ids already; this checks 0/1 and empty rows.
    checked_padding_mask(mask, mask.shape)
