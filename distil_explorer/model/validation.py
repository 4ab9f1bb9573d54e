"""Checks for constructor arguments and model inputs.

Every check raises `ValueError` worded as `argument=value: why; allowed: ...`
at the point where the bad value enters, so that no backend ever sees it (jax
silently clamps out-of-range ids; torch raises a bare IndexError).
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
import numpy as np

from distil_explorer.analysis.checks import checked_padding_mask

ALLOWED_DTYPES = ("float32", "float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
INPUT_KEYS = ("token_ids", "padding_mask")


def check_positive_int(name: str, value: Any) -> int:
    """Return `value` if it is a positive int (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name}={value!r}: must be a positive integer, got "
            f"{type(value).__name__}; allowed: int >= 1"
        )
    if value < 1:
        raise ValueError(f"{name}={value!r}: must be positive; allowed: int >= 1")
    return int(value)


def check_dropout(value: Any) -> float:
    """Return `value` as a float if it is a probability in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"dropout={value!r}: must be a number, got {type(value).__name__}; "
            "allowed: float in [0, 1)"
        )
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"dropout={value!r}: out of range; allowed: float in [0, 1)")
    return float(value)


def check_dtype(value: Any) -> Any:
    """Return `value` if it names a supported dtype policy (or is a policy)."""
    if value is None:
        return None
    name = getattr(value, "name", value)
    if not isinstance(name, str) or name not in ALLOWED_DTYPES:
        raise ValueError(
            f"dtype={value!r}: unknown dtype; allowed: None, "
            + ", ".join(ALLOWED_DTYPES)
            + " or a keras.DTypePolicy of one of those"
        )
    return value


def check_config(
    vocabulary_size: Any,
    num_layers: Any,
    num_heads: Any,
    hidden_dim: Any,
    intermediate_dim: Any,
    dropout: Any,
    max_sequence_length: Any,
    dtype: Any,
) -> dict[str, Any]:
    """Validate a backbone config and return it with normalised types."""
    config = {
        "vocabulary_size": check_positive_int("vocabulary_size", vocabulary_size),
        "num_layers": check_positive_int("num_layers", num_layers),
        "num_heads": check_positive_int("num_heads", num_heads),
        "hidden_dim": check_positive_int("hidden_dim", hidden_dim),
        "intermediate_dim": check_positive_int("intermediate_dim", intermediate_dim),
        "dropout": check_dropout(dropout),
        "max_sequence_length": check_positive_int(
            "max_sequence_length", max_sequence_length
        ),
        "dtype": check_dtype(dtype),
    }
    hidden, heads = config["hidden_dim"], config["num_heads"]
    if hidden % heads:
        nearest_heads = max(d for d in range(1, heads + 1) if hidden % d == 0)
        nearest_hidden = heads * max(1, round(hidden / heads))
        raise ValueError(
            f"hidden_dim={hidden}: not divisible by num_heads={heads}; allowed: "
            f"hidden_dim a multiple of num_heads (e.g. {nearest_hidden}) "
            f"or num_heads a divisor of hidden_dim (e.g. {nearest_heads})"
        )
    return config


def _is_symbolic(x: Any) -> bool:
    # KerasTensors and jax tracers have shapes but no values to inspect.
    name = type(x).__name__
    return name == "KerasTensor" or "Tracer" in name


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch tensors, possibly on an accelerator
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _dtype_name(x: Any) -> str:
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


def check_inputs(inputs: Any, vocabulary_size: int, max_sequence_length: int) -> None:
    """Check a `{"token_ids", "padding_mask"}` batch before it reaches a backend.

    Shapes and dtypes are always checked; values (id range, mask content) only
    when they are concrete, not while a graph is being traced.
    """
    if not isinstance(inputs, dict):
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
    if "int" not in _dtype_name(mask) and _dtype_name(mask) != "bool":
        raise ValueError(
            f"padding_mask dtype={getattr(mask, 'dtype', type(mask).__name__)}: "
            "allowed: bool or integer 0/1"
        )
    if _is_symbolic(ids) or _is_symbolic(mask):
        return
    _check_values(_as_numpy(ids), _as_numpy(mask), vocabulary_size)


def _check_values(ids: np.ndarray, mask: np.ndarray, vocabulary_size: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary_size):
        bad = ids[(ids < 0) | (ids >= vocabulary_size)]
        raise ValueError(
            f"token_ids value={int(bad.flat[0])}: out of range; allowed: 0 to "
            f"{vocabulary_size - 1} (vocabulary_size={vocabulary_size})"
        )
    # The shape matches token_ids already; this checks 0/1 and empty rows.
    checked_padding_mask(mask, mask.shape)
