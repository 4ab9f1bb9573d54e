"""Per-head statistics summed over a corpus, one batch of maps at a time.

A batch's maps (L, B, heads, T, T) become `CorpusSums`: per-head sums over
every real query token plus the token count, in float64. Sums of batches add
exactly (`CorpusSums.merge`), so a corpus can be split over batches, runs or
machines and still give the numbers one pass over it would; the mean of a
statistic is its sum over the number of real tokens (`num_tokens`).

The statistics follow Clark et al. 2019, "What Does BERT Look At?": for a
real query i with attention row alpha_i over the keys j,

- `cls`, `sep`, `punctuation`: the mass on [CLS], on [SEP], on tokens that
  are exactly one Unicode punctuation character (category P*);
- `self`, `previous`, `next`: alpha_ii, alpha_i,i-1, alpha_i,i+1 (0 where
  there is no previous or next real token);
- `entropy`: -sum_j alpha_ij log alpha_ij over the real keys, in nats;
- `distance`: sum_j alpha_ij |i - j|.

Each head also gets a *behaviour distribution* for clustering heads: the
mean over real queries of the attention mass in each of `BINS`. A key counts
in the first bin it fits: [CLS], [SEP], punctuation, else by its offset
j - i: "< -3", -3 ... +3, "> +3". Each query's masses sum to 1, so each
head's distribution does too; Jensen-Shannon distances between them
(`head_distances`) say how alike two heads' habits are.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import jensenshannon

STATISTICS = (
    "cls",
    "sep",
    "punctuation",
    "self",
    "previous",
    "next",
    "entropy",
    "distance",
)
_TINY = np.finfo(np.float32).tiny
NEAR = 3  # offsets -NEAR..NEAR have a bin each
BINS = (
    "[CLS]",
    "[SEP]",
    "punctuation",
    f"< -{NEAR}",
    *(f"{d:+d}" if d else "0" for d in range(-NEAR, NEAR + 1)),
    f"> +{NEAR}",
)


@dataclasses.dataclass(frozen=True, eq=False)
class CorpusSums:
    """Per-head sums over the real query tokens of some texts; they add exactly.

    Attributes:
        sums: dict name -> float64 (L, heads), one per `STATISTICS` name: the
            per-query quantity summed over every real query token.
        bins: float64 (L, heads, len(BINS)). Attention mass per bin, summed
            over every real query token.
        num_tokens: int. Real tokens (= real queries), [CLS] and [SEP]
            included.
        num_texts: int. Texts summed.
        best_value: float64 (len(STATISTICS), L, heads). Per statistic and
            head, the highest mean over one text's real queries (-inf: none).
        best_index: int64, same shape. The index of that text in the corpus
            (the lowest index on a tie; -1: none).

    Examples:
    ```python
    total = CorpusSums.zeros(6, 12)
    total = total.merge(batch_sums(maps, padding_mask, classes, indices))
    total.sums["cls"] / total.num_tokens  # (6, 12) mean mass on [CLS]
    ```
    """

    sums: dict[str, np.ndarray]
    bins: np.ndarray
    num_tokens: int
    num_texts: int
    best_value: np.ndarray
    best_index: np.ndarray

    @classmethod
    def zeros(cls, num_layers: int, num_heads: int) -> CorpusSums:
        """The sums of no text at all."""
        shape = (num_layers, num_heads)
        return cls(
            sums={name: np.zeros(shape) for name in STATISTICS},
            bins=np.zeros((*shape, len(BINS))),
            num_tokens=0,
            num_texts=0,
            best_value=np.full((len(STATISTICS), *shape), -np.inf),
            best_index=np.full((len(STATISTICS), *shape), -1, dtype=np.int64),
        )

    def merge(self, other: CorpusSums) -> CorpusSums:
        """The sums of both sets of texts (which must be different texts)."""
        if self.bins.shape != other.bins.shape:
            raise ValueError(
                f"other: sums of shape {other.bins.shape[:2]} (layers, heads); "
                f"allowed: sums of the same model, {self.bins.shape[:2]}"
            )
        # Higher mean wins; on a tie the text that comes first in the corpus.
        better = (other.best_value > self.best_value) | (
            (other.best_value == self.best_value)
            & (other.best_index >= 0)
            & ((other.best_index < self.best_index) | (self.best_index < 0))
        )
        return CorpusSums(
            sums={n: self.sums[n] + other.sums[n] for n in STATISTICS},
            bins=self.bins + other.bins,
            num_tokens=self.num_tokens + other.num_tokens,
            num_texts=self.num_texts + other.num_texts,
            best_value=np.where(better, other.best_value, self.best_value),
            best_index=np.where(better, other.best_index, self.best_index),
        )


def key_classes(
    token_ids: np.ndarray, special_ids: tuple[int, int], punctuation: np.ndarray
) -> np.ndarray:
    """float32 (B, T, 3): whether each token is [CLS], [SEP], punctuation.

    Args:
        token_ids: int (B, T).
        special_ids: (id of [CLS], id of [SEP]).
        punctuation: bool (vocabulary_size,), from `punctuation_ids`.
    """
    ids = np.asarray(token_ids)
    cls_id, sep_id = special_ids
    return np.stack(
        [ids == cls_id, ids == sep_id, np.asarray(punctuation)[ids]], axis=-1
    ).astype(np.float32)


def punctuation_ids(vocabulary: Sequence[str]) -> np.ndarray:
    """bool (len(vocabulary),): tokens that are one Unicode punctuation character.

    Examples:
    ```python
    punctuation_ids(["[CLS]", ".", "##.", "a", "—"])  # [F, T, F, F, T]
    ```
    """
    return np.array(
        [len(t) == 1 and unicodedata.category(t).startswith("P") for t in vocabulary],
        dtype=bool,
    )


def batch_sums(
    maps: np.ndarray,
    padding_mask: np.ndarray,
    classes: np.ndarray,
    text_index: np.ndarray,
) -> CorpusSums:
    """`CorpusSums` of one batch of maps.

    Args:
        maps: float (L, B, heads, T, T), queries on axis 3. Each real query
            row sums to 1 over the real keys (attention probabilities, or
            any map normalized so).
        padding_mask: int or bool (B, T). 1 for real tokens; real tokens
            come first in each row, padding after.
        classes: float32 (B, T, 3), from `key_classes`.
        text_index: int (B,). Each row's index in the corpus (for the
            example texts of `best_index`).

    Examples:
    ```python
    trace = capture(backbone, tokenizer(["The cat sat.", "Hi"]))
    classes = key_classes(trace.token_ids, (101, 102), punctuation_ids(vocab))
    batch_sums(trace.attentions, trace.padding_mask, classes, np.arange(2))
    ```
    """
    maps = np.asarray(maps)
    real = np.asarray(padding_mask).astype(np.float32)
    num_layers, batch, heads, length = maps.shape[:4]
    lengths = real.sum(axis=1)
    per_text = np.zeros((len(STATISTICS), num_layers, batch, heads))
    bins = np.zeros((num_layers, heads, len(BINS)))
    for layer in range(num_layers):
        values, masses = _query_values(maps[layer], real, classes)
        # (stat, B, H, T) -> summed over each text's real queries, in float64.
        per_text[:, layer] = np.einsum("sbhq,bq->sbh", values, real, dtype=np.float64)
        bins[layer] = np.einsum("bhqn,bq->hn", masses, real, dtype=np.float64)
    sums = per_text.sum(axis=2)  # (stat, L, H)
    means = per_text / np.maximum(lengths, 1)[None, None, :, None]
    means[:, :, lengths == 0] = -np.inf
    top = means.argmax(axis=2)  # the first of equal maxima: lowest index
    index = np.asarray(text_index, dtype=np.int64)
    return CorpusSums(
        sums={name: sums[i] for i, name in enumerate(STATISTICS)},
        bins=bins,
        num_tokens=int(lengths.sum()),
        num_texts=int((lengths > 0).sum()),
        best_value=np.take_along_axis(means, top[:, :, None], axis=2)[:, :, 0],
        best_index=np.where(
            np.take_along_axis(means, top[:, :, None], axis=2)[:, :, 0] > -np.inf,
            index[top],
            -1,
        ),
    )


def normalized_rows(maps: np.ndarray) -> np.ndarray:
    """`maps` with each query row divided by its sum (rows of zeros stay 0).

    For norm-weighted attention (`Trace.attention_norms`, alpha_ij times
    the length of what key j sends), whose rows do not sum to 1: each row
    becomes the share of the output's norm that each key contributes, so
    the same statistics and bins apply.

    Examples:
    ```python
    batch_sums(normalized_rows(trace.attention_norms), mask, classes, index)
    ```
    """
    maps = np.asarray(maps, dtype=np.float32)
    totals = maps.sum(axis=-1, keepdims=True)
    return np.divide(maps, totals, out=np.zeros_like(maps), where=totals > 0)


def _query_values(
    layer: np.ndarray, real: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query statistics (stat, B, H, T) and bin masses (B, H, T, bins)."""
    batch, heads, length, _ = layer.shape
    # Padding keys hold no mass (the Trace's promise), so no masking here.
    maps = layer.astype(np.float32, copy=False)
    plain = real * (1 - classes.max(axis=-1))  # (B, T): no class of its own
    columns = np.concatenate([classes, plain[..., None]], axis=-1)
    # (B, H, T, 4): mass on [CLS], [SEP], punctuation, and all other keys.
    special = maps @ columns[:, None]
    offsets = np.arange(length)
    distance = np.abs(offsets[:, None] - offsets[None, :]).astype(np.float32)
    diagonals = {d: _diagonal(maps, d) for d in range(-NEAR, NEAR + 1)}
    near = [diagonals[d] * _shifted(plain, d)[:, None] for d in diagonals]
    far_left = np.einsum(
        "bhqk,bqk->bhq",
        maps,
        plain[:, None, :] * np.tril(np.ones((length, length), np.float32), -NEAR - 1),
    )
    far_right = special[..., 3] - far_left - sum(near)
    values = np.stack(
        [
            special[..., 0],
            special[..., 1],
            special[..., 2],
            diagonals[0],
            diagonals[-1],
            diagonals[1],
            # x log x with 0 log 0 = 0; scipy's entr is 8x slower here.
            -(maps * np.log(np.maximum(maps, _TINY))).sum(axis=-1),
            np.einsum("bhqk,qk->bhq", maps, distance),
        ]
    )
    masses = np.stack(
        [special[..., 0], special[..., 1], special[..., 2], far_left, *near, far_right],
        axis=-1,
    )
    return values, masses


def _diagonal(maps: np.ndarray, offset: int) -> np.ndarray:
    """(B, H, T): maps[..., i, i + offset], 0 where i + offset is outside."""
    length = maps.shape[-1]
    out = np.zeros(maps.shape[:-1], dtype=maps.dtype)
    if abs(offset) >= length:
        return out
    line = np.diagonal(maps, offset=offset, axis1=-2, axis2=-1)
    if offset >= 0:
        out[..., : length - offset] = line
    else:
        out[..., -offset:] = line
    return out


def _shifted(values: np.ndarray, offset: int) -> np.ndarray:
    """(B, T): values[:, i + offset], 0 where i + offset is outside."""
    out = np.zeros_like(values)
    length = values.shape[-1]
    if abs(offset) >= length:
        return out
    if offset >= 0:
        out[:, : length - offset] = values[:, offset:]
    else:
        out[:, -offset:] = values[:, : length + offset]
    return out


def head_distances(distributions: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distances between every pair of heads' distributions.

    Args:
        distributions: float (L, heads, bins), each row summing to 1
            (`CorpusStatistics.distributions`).

    Returns:
        float64 (L * heads, L * heads), heads in layer-major order; base 2,
        so 0 means the same habits and 1 disjoint ones.

    Examples:
    ```python
    d = head_distances(stats.distributions)
    d[0, 13]  # layer 0 head 0 against layer 1 head 1 (12 heads per layer)
    ```
    """
    flat = np.asarray(distributions, dtype=np.float64)
    flat = flat.reshape(-1, flat.shape[-1])
    distances = jensenshannon(flat[:, None, :], flat[None, :, :], axis=-1, base=2)
    distances = np.nan_to_num(distances)  # all-zero rows (no tokens) give nan
    np.fill_diagonal(distances, 0.0)
    return distances


def embed_distances(distances: np.ndarray, dimensions: int = 2) -> np.ndarray:
    """Points whose Euclidean distances approximate `distances` (classical MDS).

    Torgerson's classical multidimensional scaling: double-centre the
    squared distances and keep the leading eigenvectors. It is a dozen lines
    of numpy, where scikit-learn's iterative MDS would be a large new
    dependency for a 2-D picture; signs are fixed so that the largest
    coordinate of each axis is positive, so a picture does not flip between
    runs.

    Args:
        distances: float (n, n), symmetric, zero diagonal.
        dimensions: int. Coordinates per point.

    Returns:
        float64 (n, dimensions).

    Examples:
    ```python
    xy = embed_distances(head_distances(stats.distributions))
    ```
    """
    d = np.asarray(distances, dtype=np.float64)
    n = d.shape[0]
    centring = np.eye(n) - np.full((n, n), 1.0 / n)
    gram = -0.5 * centring @ (d**2) @ centring
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:dimensions]
    points = vectors[:, order] * np.sqrt(np.clip(values[order], 0, None))
    flip = np.sign(points[np.abs(points).argmax(axis=0), range(points.shape[1])])
    points = points * np.where(flip == 0, 1, flip)
    if points.shape[1] < dimensions:
        points = np.pad(points, ((0, 0), (0, dimensions - points.shape[1])))
    return points
