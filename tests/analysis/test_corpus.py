"""The numpy side of corpus statistics: bins, merging, head distances, MDS."""

import numpy as np
import pytest

from distil_explorer.corpus.sums import (
    BINS,
    STATISTICS,
    CorpusSums,
    batch_sums,
    embed_distances,
    head_distances,
    key_classes,
    punctuation_ids,
)


def test_punctuation_is_one_unicode_punctuation_character():
    vocabulary = ["[CLS]", ".", "##.", "a", "—", "«", "$", "..", "¿"]
    # "$" is a symbol (Sc), not punctuation; "—", "«" and "¿" are P*.
    assert punctuation_ids(vocabulary).tolist() == [0, 1, 0, 0, 1, 1, 0, 0, 1]


def random_maps(rng, layers, batch, heads, lengths, width):
    maps = np.zeros((layers, batch, heads, width, width), dtype=np.float32)
    for b, n in enumerate(lengths):
        raw = rng.random((layers, heads, n, n)) ** 4
        maps[:, b, :, :n, :n] = raw / raw.sum(-1, keepdims=True)
    mask = (np.arange(width)[None] < np.array(lengths)[:, None]).astype(np.int32)
    return maps, mask


def test_split_batches_merge_to_the_sums_of_the_whole():
    rng = np.random.default_rng(0)
    maps, mask = random_maps(rng, 2, 5, 3, [4, 2, 9, 9, 6], 9)
    ids = rng.integers(0, 6, size=(5, 9))
    classes = key_classes(ids, (0, 1), np.array([0, 0, 1, 0, 1, 0], bool))
    whole = batch_sums(maps, mask, classes, np.arange(5))
    # The first two texts alone need only 4 columns: less padding, same sums.
    first = batch_sums(maps[:, :2, :, :4, :4], mask[:2, :4], classes[:2, :4], [0, 1])
    rest = batch_sums(maps[:, 2:], mask[2:], classes[2:], np.arange(2, 5))
    merged = CorpusSums.zeros(2, 3).merge(rest).merge(first)  # any order
    assert merged.num_tokens == whole.num_tokens == 30
    assert merged.num_texts == 5
    for name in STATISTICS:
        # Per-query values are float32 (as the maps are); the sums float64.
        np.testing.assert_allclose(merged.sums[name], whole.sums[name], rtol=1e-6)
    np.testing.assert_array_equal(merged.best_index, whole.best_index)
    # Every real query's bin masses sum to 1, so the bins sum to the tokens.
    np.testing.assert_allclose(merged.bins.sum(-1), 30, rtol=1e-6)
    assert len(BINS) == merged.bins.shape[-1] == 12
    with pytest.raises(ValueError, match="same model"):
        merged.merge(CorpusSums.zeros(3, 3))


def test_a_tie_keeps_the_text_that_comes_first():
    maps, mask = random_maps(np.random.default_rng(1), 1, 1, 1, [3], 3)
    classes = np.zeros((1, 3, 3), np.float32)
    late = batch_sums(maps, mask, classes, [7])
    early = batch_sums(maps, mask, classes, [2])
    assert (late.merge(early).best_index == 2).all()
    assert (early.merge(late).best_index == 2).all()


def test_head_distances_are_jensen_shannon_by_hand():
    rng = np.random.default_rng(2)
    p = rng.random((2, 3, 5))
    p /= p.sum(-1, keepdims=True)
    distances = head_distances(p)
    a, b = p[0, 1], p[1, 2]
    m = (a + b) / 2
    kl = lambda x, y: np.sum(x * np.log2(x / y))  # noqa: E731
    assert distances.shape == (6, 6)
    assert distances[1, 5] == pytest.approx(np.sqrt((kl(a, m) + kl(b, m)) / 2))
    np.testing.assert_allclose(distances, distances.T)
    assert np.all(np.diag(distances) == 0)


def test_classical_mds_recovers_points_from_their_distances():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(10, 2))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    embedded = embed_distances(distances)
    again = np.linalg.norm(embedded[:, None] - embedded[None], axis=-1)
    np.testing.assert_allclose(again, distances, atol=1e-9)
    assert embed_distances(np.zeros((1, 1))).shape == (1, 2)
