"""Recycled memory for the arrays a capture returns.

A capture at T=512 fills 75 MB of attention maps. Fresh memory that large
comes from new huge-page mappings, and on virtual machines that report free
memory to their host (virtio-balloon free page reporting), a huge page freed
for a few seconds goes back to the host: touching it again costs about 2.4 ms
per 2 MB page, 180 ms for 75 MB against 4 ms for memory already touched
(docs/capture_speed.md has the measurements). So the blocks behind a Trace's
arrays are kept when the last array using them is dropped, and the next
capture writes into them. A Trace still owns its arrays: a block is reused
only once nothing refers to any array or view made from it.
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np

# Free blocks kept for reuse, at most this many bytes and blocks in all.
CACHE_BYTES = 1 << 30
CACHE_BLOCKS = 8
_GRAIN = 2 << 20  # block sizes are whole huge pages

_lock = threading.Lock()
_free: list[np.ndarray] = []  # uint8 blocks no array refers to


class _Owner:
    """The base of the arrays made from one block; dies with the last of them.

    Numpy collapses a view's base to the first object that is not an array,
    so every view of the buffer refers to this object, and its finalizer
    runs only when none is left.
    """

    def __init__(self, block: np.ndarray, shape: tuple[int, ...], dtype: np.dtype):
        self.__array_interface__ = {
            "shape": shape,
            "typestr": dtype.str,
            "data": (block.ctypes.data, False),
            "version": 3,
        }


def _give_back(block: np.ndarray) -> None:
    with _lock:
        _free.append(block)
        total = sum(b.nbytes for b in _free)
        while _free and (len(_free) > CACHE_BLOCKS or total > CACHE_BYTES):
            total -= _free.pop(0).nbytes  # the oldest goes back to the system


def _take(nbytes: int) -> np.ndarray:
    """A free block of at least `nbytes` (at most twice that), or a new one."""
    with _lock:
        fits = [
            (b.nbytes, i)
            for i, b in enumerate(_free)
            if nbytes <= b.nbytes <= 2 * nbytes + _GRAIN
        ]
        if fits:
            return _free.pop(min(fits)[1])
    return np.empty(math.ceil(max(nbytes, 1) / _GRAIN) * _GRAIN, np.uint8)


def new_buffer(shape, dtype="float32") -> np.ndarray:
    """An uninitialised, writable array on recycled memory where there is some.

    Like `np.empty(shape, dtype)`; the memory returns to this module's cache
    (not to the system) once the array and every view of it are gone.

    Args:
        shape: tuple of non-negative ints.
        dtype: a numpy dtype name. "float32" unless told.
    """
    if not isinstance(shape, tuple) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
        for n in shape
    ):
        raise ValueError(
            f"shape={shape!r}: allowed: a tuple of non-negative ints, "
            "e.g. (6, 1, 12, 128, 128)"
        )
    dtype = np.dtype(dtype)
    shape = tuple(int(n) for n in shape)
    block = _take(math.prod(shape) * dtype.itemsize)
    owner = _Owner(block, shape, dtype)
    weakref.finalize(owner, _give_back, block)
    return np.asarray(owner)


def clear_cache() -> None:
    """Return every cached free block to the system."""
    with _lock:
        _free.clear()
