"""The masked-LM head read out as numpy: top-k tokens, probabilities, ranks.

`head_summary` is the one routine behind `predict_masked` and
`layer_predictions`, so the lens's last layer and the model's own
predictions are read alike. The head's dense + GELU + LayerNorm runs in the
backend, on every row at once. The vocabulary projection (hidden x
vocabulary multiply-adds per row: nearly all the work) runs as a float32
numpy product per chunk of rows when the head computes in float32 with an
unquantized table on the CPU (the OpenBLAS numpy ships runs this one large
product 1.7x to 2x faster than torch's MKL on our AMD EPYC machines), and in
the backend otherwise. Each chunk of logits is then read in numpy, in place: top-k
(from the few blocks of columns that can hold it), the actual token's rank
(a count of larger logits) and the row's logsumexp, from which every
probability is taken, in as many threads as numpy's BLAS uses; nothing
(rows x vocabulary) is held in float64 or sorted whole.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from distil_explorer.model.tensors import device_of, to_numpy

# Rows of logits computed at once: 2048 x a 30522-token vocabulary is 250 MB.
CHUNK_ROWS = 2048
BLOCK = 128  # columns per block in `top_k`


def _host_table(head) -> tuple[np.ndarray, np.ndarray] | None:
    """The (vocabulary, hidden) table and bias as float32 numpy, when numpy
    computes the product exactly as the head does; else None."""
    table = head.token_embedding
    if table.quantization_mode is not None or head.compute_dtype != "float32":
        return None
    weights = table.embeddings
    if weights.dtype != "float32" or device_of(weights.value) != "cpu":
        return None
    return to_numpy(weights.value), to_numpy(head.output_bias.value)


def top_k(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest values of each row of `logits` (N, V) and their columns,
    largest first (equal values by lower column; which of several equal
    values at the k-th place is kept is not specified, as in `torch.topk`).

    Rows are read in blocks of `BLOCK` columns: the top k values lie in the
    k blocks with the largest maxima (any other block's values are beaten by
    those k maxima), so only those k x `BLOCK` columns are sorted.

    Examples:
    ```python
    top_k(np.array([[0.1, 3.0, 2.0]]), 2)  # (array([[3., 2.]]), array([[1, 2]]))
    ```
    """
    rows, width = logits.shape
    if k * BLOCK >= width:
        columns = np.broadcast_to(np.arange(width), logits.shape)
    else:
        block_max = np.maximum.reduceat(logits, np.arange(0, width, BLOCK), axis=1)
        blocks = np.argpartition(-block_max, k - 1, axis=1)[:, :k]
        columns = (blocks[:, :, None] * BLOCK + np.arange(BLOCK)).reshape(rows, -1)
    inside = columns < width  # the last block may be short
    values = np.take_along_axis(logits, np.minimum(columns, width - 1), axis=1)
    values = np.where(inside, values, -np.inf)
    if k < values.shape[1]:
        keep = np.argpartition(-values, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(values, keep, axis=1)
        columns = np.take_along_axis(columns, keep, axis=1)
    order = np.lexsort((columns, -values), axis=-1)
    return (
        np.take_along_axis(values, order, axis=1).astype(logits.dtype),
        np.take_along_axis(columns, order, axis=1).astype(np.int32),
    )


def _read(logits: np.ndarray, k: int, actual: np.ndarray | None) -> list:
    """Top-k, and the actual ids' rank and probability, of logits (N, V);
    `logits` is overwritten."""
    values, ids = top_k(logits, k)
    top = values[:, :1]
    if actual is not None:
        mine = np.take_along_axis(logits, actual[:, None], axis=1)
        rank = np.count_nonzero(logits > mine, axis=1).astype(np.int32)
    np.subtract(logits, top, out=logits)
    np.exp(logits, out=logits)
    log_total = top + np.log(logits.sum(axis=1, keepdims=True))
    found = [ids, np.exp(values - log_total)]
    if actual is not None:
        found += [rank, np.exp(mine - log_total)[:, 0]]
    return found


def _threads() -> int:
    """Threads for the readout: as many as numpy's BLAS uses (at most 4)."""
    given = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    count = int(given) if given and given.isdigit() else (os.cpu_count() or 1)
    return max(1, min(count, 4))


def _read_rows(logits: np.ndarray, k: int, actual: np.ndarray | None) -> list:
    """`_read` on slices of rows in threads (numpy's loops release the GIL)."""
    threads = _threads() if len(logits) >= 64 else 1
    if threads == 1:
        return _read(logits, k, actual)
    bounds = np.linspace(0, len(logits), threads + 1).astype(int)

    def part(start: int, stop: int) -> list:
        mine = None if actual is None else actual[start:stop]
        return _read(logits[start:stop], k, mine)

    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(part, bounds[:-1], bounds[1:]))
    return [np.concatenate(p) for p in zip(*parts, strict=True)]


def head_summary(model, vectors, top_k: int, actual=None) -> list[np.ndarray]:
    """The masked-LM head on hidden vectors (N, hidden), read out as numpy.

    Returns [top ids int32 (N, k), probabilities float32 (N, k)], and with
    `actual` (N,) ids also [their rank int32 (N,) (how many tokens are more
    probable), their probability float32 (N,)].

    Examples:
    ```python
    ids, p = head_summary(masked_lm, trace.hidden_states[-1][0], top_k=5)
    ```
    """
    from keras import ops

    head = model.masked_lm_head
    transformed = head.transform(ops.convert_to_tensor(vectors))
    table = _host_table(head)
    if table is not None:
        transformed = to_numpy(transformed)
    actual = None if actual is None else np.asarray(actual, np.int32)
    parts = []
    for start in range(0, int(transformed.shape[0]), CHUNK_ROWS):
        chunk = transformed[start : start + CHUNK_ROWS]
        if table is None:
            logits = head.vocabulary_logits(chunk)
            logits = np.array(to_numpy(ops.cast(logits, "float32")))
        else:
            logits = chunk @ table[0].T
            logits += table[1]
        targets = None if actual is None else actual[start : start + CHUNK_ROWS]
        parts.append(_read_rows(logits, top_k, targets))
    return [np.concatenate(p) for p in zip(*parts, strict=True)]
