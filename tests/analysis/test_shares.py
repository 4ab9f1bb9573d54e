"""Per-layer shares of a token map on chosen keys and on the token itself."""

import numpy as np
import pytest

from distil_explorer.analysis.shares import key_share_by_layer, self_share_by_layer


def test_a_uniform_map_shares_by_count():
    uniform = np.full((2, 1, 4, 4), 0.25)
    keys = np.array([[True, False, False, True]])
    np.testing.assert_allclose(key_share_by_layer(uniform, keys, np.ones((1, 4))), 0.5)
    np.testing.assert_allclose(self_share_by_layer(uniform, np.ones((1, 4))), 0.25)


def test_rows_are_normalised_per_head_before_heads_are_averaged():
    # Norm-weighted maps: head 0's row is ten times larger than head 1's,
    # yet each head counts once; padding keys and padded rows count nothing.
    head0 = np.array([[10.0, 10.0, 99.0], [30.0, 10.0, 99.0], [np.nan] * 3])
    head1 = np.array([[1.0, 0.0, 99.0], [0.0, 1.0, 99.0], [np.nan] * 3])
    maps = np.stack([head0, head1])[None, None]
    mask = np.array([[1, 1, 0]])
    first = np.array([[True, False, False]])
    # rows: head0 (0.5, 0.75 on key 0), head1 (1, 0): mean over heads 0.75, 0.375
    np.testing.assert_allclose(key_share_by_layer(maps, first, mask), [0.5625])
    # diagonal: head0 (0.5, 0.25), head1 (1, 1)
    np.testing.assert_allclose(self_share_by_layer(maps, mask), [0.6875])


def test_every_real_token_of_every_sequence_counts_once():
    maps = np.zeros((1, 2, 3, 3))
    maps[0, 0] = np.eye(3)  # 3 real tokens, each on itself
    maps[0, 1, :, 1] = 1.0  # 1 real token... reading a padded key
    maps[0, 1, 0, 0] = 1.0
    mask = np.array([[1, 1, 1], [1, 0, 0]])
    np.testing.assert_allclose(self_share_by_layer(maps, mask), [1.0])
    on_first = np.array([[True, False, False], [False, False, False]])
    np.testing.assert_allclose(key_share_by_layer(maps, on_first, mask), [0.25])


def test_matches_a_context_mixing_diagonal():
    from distil_explorer.mixing import ContextMixing
    from distil_explorer.mixing.result import normalised_rows

    rng = np.random.default_rng(0)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
    mixing = ContextMixing(
        per_layer=normalised_rows(rng.random((3, 2, 4, 4)), mask),
        method="alti",
        token_ids=np.ones((2, 4)),
        padding_mask=mask,
    )
    diagonal = mixing.self_share()
    expected = [diagonal[layer][mask.astype(bool)].mean() for layer in range(3)]
    np.testing.assert_allclose(
        self_share_by_layer(mixing.per_layer, mask), expected, rtol=1e-6
    )


@pytest.mark.parametrize(
    ("maps", "keys", "message"),
    [
        (np.ones((2, 1, 3)), np.ones((1, 3), bool), "maps shape"),
        (np.ones((1, 1, 3, 4)), np.ones((1, 3), bool), "maps shape"),
        (-np.ones((1, 1, 3, 3)), np.ones((1, 3), bool), "negative"),
        (np.ones((1, 1, 3, 3)), np.ones((1, 4), bool), "keys shape"),
        (np.ones((1, 1, 3, 3)), np.ones((1, 3), int), "keys shape"),
    ],
)
def test_bad_inputs_are_refused(maps, keys, message):
    with pytest.raises(ValueError, match=message):
        key_share_by_layer(maps, keys, np.ones((1, 3)))


def test_a_bad_padding_mask_is_refused():
    with pytest.raises(ValueError, match="padding_mask shape"):
        self_share_by_layer(np.ones((1, 1, 3, 3)), np.ones((1, 4)))
