"""Numpy arrays as bytes for widgets: exact float32, uint8 for drawing, thumbnails.

Widgets send arrays to the browser as raw bytes plus shape and dtype (the
jupyter-scatter way), never as `.tolist()` JSON. Pure numpy, no widget import.
Sizes for the 6 x 12 attention maps of a base model at T=128: 4.7 MB as
float32, 1.18 MB as uint8, 0.29 MB as uint8 thumbnails of 64 x 64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Typed arrays in the browser use the platform's byte order, little-endian on
# every platform a notebook front end runs on.
_DTYPES = {"float32": np.dtype("<f4"), "uint8": np.dtype("u1")}


def encode(array: Any, dtype: str = "float32") -> dict[str, Any]:
    """Pack `array` as `{"data": bytes, "shape": [...], "dtype": dtype}`.

    Args:
        array: anything `np.asarray` takes.
        dtype: str. "float32" (exact values) or "uint8" (already quantised,
            e.g. by `to_uint8`).

    Examples:
    ```python
    payload = encode(np.eye(3))
    len(payload["data"]), payload["shape"]  # (36, [3, 3])
    np.array_equal(decode(payload), np.eye(3))  # True
    ```
    """
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r}: allowed: {sorted(_DTYPES)}")
    packed = np.ascontiguousarray(array, dtype=_DTYPES[dtype])
    return {"data": packed.tobytes(), "shape": list(packed.shape), "dtype": dtype}


def decode(payload: dict[str, Any]) -> np.ndarray:
    """Unpack a payload written by `encode` (read-only view of its bytes).

    Examples:
    ```python
    decode(encode([[1, 2]], "uint8"))  # array([[1, 2]], dtype=uint8)
    ```
    """
    dtype = payload["dtype"]
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r}: allowed: {sorted(_DTYPES)}")
    flat = np.frombuffer(payload["data"], dtype=_DTYPES[dtype])
    return flat.reshape(payload["shape"])


def to_uint8(values: Any, axes: tuple[int, ...] | None = None) -> np.ndarray:
    """Scale non-negative `values` so their maximum is 255, rounded to uint8.

    The error is at most half a step: `max / 510` per value. Zero stays zero.

    Args:
        values: array of non-negative numbers.
        axes: tuple of ints or None. The axes each maximum is taken over;
            `(-2, -1)` gives every map its own full contrast. None: one
            maximum for the whole array.

    Examples:
    ```python
    to_uint8([0.0, 0.25, 0.5])  # array([  0, 128, 255], dtype=uint8)
    ```
    """
    values = np.asarray(values, dtype=np.float32)
    if values.size and values.min() < 0:
        raise ValueError(
            f"values: min={values.min()}: allowed: non-negative values such as "
            "attention probabilities"
        )
    vmax = values.max(axis=axes, keepdims=True) if values.size else np.float32(1)
    scale = np.divide(255.0, vmax, out=np.zeros_like(vmax), where=vmax > 0)
    return np.rint(values * scale).astype(np.uint8)


def downsample_maps(maps: Any, size: int = 64) -> np.ndarray:
    """Shrink the last two axes of attention maps (..., T, T) to at most `size`.

    Queries (rows) are averaged and keys (columns) summed over bins of nearly
    equal width, so every row of the result is still a distribution over key
    bins: row sums are kept. Maps already `size` or smaller come back as float32
    copies.

    Args:
        maps: float array (..., T, T).
        size: int >= 1. Largest side of the result.

    Examples:
    ```python
    maps = np.full((6, 12, 128, 128), 1 / 128, dtype=np.float32)
    small = downsample_maps(maps, 64)
    small.shape, small.sum(-1).max()  # ((6, 12, 64, 64), 1.0)
    ```
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim < 2:
        raise ValueError(f"maps.ndim={maps.ndim}: allowed: (..., T, T)")
    if size < 1:
        raise ValueError(f"size={size}: allowed: an int >= 1")
    rows = _bins(maps.shape[-2], size)
    cols = _bins(maps.shape[-1], size)
    if rows is not None:
        counts = np.diff(np.append(rows, maps.shape[-2])).astype(np.float32)
        maps = np.add.reduceat(maps, rows, axis=-2) / counts[:, None]
    if cols is not None:
        maps = np.add.reduceat(maps, cols, axis=-1)
    return maps.copy() if rows is None and cols is None else maps


def _bins(length: int, size: int) -> np.ndarray | None:
    """Start index of each of `size` bins over `length`, None when no shrinking."""
    if length <= size:
        return None
    return (np.arange(size) * length) // size
