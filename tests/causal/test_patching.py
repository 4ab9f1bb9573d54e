"""Activation patching against a float64 numpy oracle, its properties, and bad
inputs."""

import numpy as np
import pytest
from keras import ops

import distil_explorer as de
from tests.causal_checkpoint import sensitive_checkpoint
from tests.causal_checkpoint import tokenizer as make_tokenizer

pytest.importorskip("transformers")
pytest.importorskip("torch")

CHANGED = 3


@pytest.fixture(scope="module")
def checkpoint():
    backbone, oracle = sensitive_checkpoint()
    ids = np.array([[2, 7, 11, 5, 9, 13, 3]], "int32")
    clean = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    corrupted = {"token_ids": ids.copy(), "padding_mask": np.ones_like(ids)}
    corrupted["token_ids"][0, CHANGED] = 12
    return backbone, oracle, clean, corrupted


def _oracle_effect(oracle, clean, corrupted, target):
    mask = clean["padding_mask"]
    c = oracle.hidden_states(clean["token_ids"], mask)
    r = oracle.hidden_states(corrupted["token_ids"], mask)
    clean_value, corrupted_value = target(c[-1])[0], target(r[-1])[0]
    length = mask.shape[1]
    effect = np.zeros((oracle.layers + 1, length))
    for depth in range(oracle.layers + 1):
        for t in range(length):
            x = r[depth].copy()
            x[:, t] = c[depth][:, t]
            value = target(oracle.run_from(depth, x, mask))[0]
            effect[depth, t] = (value - corrupted_value) / (
                clean_value - corrupted_value
            )
    return effect, clean_value, corrupted_value


def _position_two(hidden):
    return ops.sum(hidden[:, 2] * hidden[:, 2], -1)


# A linear read of [CLS] that the change of token CHANGED moves by about 0.5
# (the signs of that change at [CLS] on this checkpoint): the [CLS] norm
# after the last LayerNorm moves far less, and an effect that divides by a
# tiny change measures float32 rounding.
DIRECTION = np.array(
    [-1, 1, 1, -1, 1, -1, -1, 1, -1, 1, -1, -1, 1, -1, 1, -1], "float32"
)


def _readout(hidden):
    return ops.sum(hidden[:, 0] * ops.convert_to_tensor(DIRECTION), -1)


def _numpy_readout(hidden):
    return hidden[:, 0] @ DIRECTION.astype(np.float64)


def test_matches_the_numpy_oracle(checkpoint):
    backbone, oracle, clean, corrupted = checkpoint
    found = de.patch_activations(backbone, clean, corrupted, _readout)
    effect, clean_value, corrupted_value = _oracle_effect(
        oracle, clean, corrupted, _numpy_readout
    )
    assert abs(clean_value - corrupted_value) > 0.3
    assert found.effect.dtype == np.float32 and found.effect.shape == (3, 7)
    np.testing.assert_allclose(found.clean_value, clean_value, rtol=1e-5)
    np.testing.assert_allclose(found.corrupted_value, corrupted_value, rtol=1e-5)
    np.testing.assert_allclose(found.effect, effect, atol=1e-5, rtol=0)
    # The middle layer is neither all 0 nor all 1: a real test of the grid.
    assert np.abs(found.effect[1]).max() > 0.05 and found.target == "_readout"


def test_the_changed_position_at_the_embeddings_restores_everything(checkpoint):
    backbone, _, clean, corrupted = checkpoint
    found = de.patch_activations(backbone, clean, corrupted, _readout)
    np.testing.assert_allclose(found.effect[0, CHANGED], 1.0, atol=1e-5)
    others = np.delete(found.effect[0], CHANGED)
    np.testing.assert_allclose(others, 0.0, atol=1e-5)


@pytest.mark.parametrize("target, reads", [("cls", 0), ("two", 2)])
def test_at_the_last_layer_only_positions_the_target_reads_move(
    checkpoint, target, reads
):
    backbone, _, clean, corrupted = checkpoint
    target = de.cls_norm_target() if target == "cls" else _position_two
    found = de.patch_activations(backbone, clean, corrupted, target)
    np.testing.assert_allclose(found.effect[-1, reads], 1.0, atol=1e-5)
    assert np.all(np.delete(found.effect[-1], reads) == 0.0)


def test_text_gives_the_tokens_of_both(checkpoint):
    backbone, _, _, _ = checkpoint
    found = de.patch_activations(
        backbone,
        "the cat sat on the mat.",
        "the dog sat on the mat.",
        _readout,
        tokenizer=make_tokenizer(),
    )
    assert found.clean_tokens[2] == "cat" and found.corrupted_tokens[2] == "dog"
    np.testing.assert_allclose(found.effect[0, 2], 1.0, atol=1e-5)


def test_lengths_that_differ_are_refused_saying_how(checkpoint):
    backbone, _, _, _ = checkpoint
    with pytest.raises(ValueError, match=r"corrupted: 10 tokens .*'big'.* clean has 9"):
        de.patch_activations(
            backbone,
            "the cat sat on the mat.",
            "the big dog sat on the mat.",
            de.cls_norm_target(),
            tokenizer=make_tokenizer(),
        )


def test_padding_that_differs_is_refused(checkpoint):
    backbone, _, clean, corrupted = checkpoint
    shorter = {k: v.copy() for k, v in corrupted.items()}
    shorter["padding_mask"][0, -1] = 0
    with pytest.raises(ValueError, match=r"corrupted: 6 tokens .* clean has 7"):
        de.patch_activations(backbone, clean, shorter, de.cls_norm_target())


def test_more_than_one_sequence_is_refused(checkpoint):
    backbone, _, clean, corrupted = checkpoint
    two = {k: np.concatenate([v, v]) for k, v in clean.items()}
    with pytest.raises(ValueError, match=r"clean: 2 sequences; allowed: exactly one"):
        de.patch_activations(backbone, two, corrupted, de.cls_norm_target())


def test_a_target_that_does_not_reduce_to_one_number_per_row_is_refused(checkpoint):
    backbone, _, clean, corrupted = checkpoint
    with pytest.raises(ValueError, match=r"target returned shape=.*allowed"):
        de.patch_activations(backbone, clean, corrupted, lambda hidden: hidden[:, 0])
    with pytest.raises(ValueError, match=r"target=.*not callable"):
        de.patch_activations(backbone, clean, corrupted, "cls")


def test_inputs_the_target_cannot_tell_apart_are_refused(checkpoint):
    backbone, _, clean, _ = checkpoint
    with pytest.raises(ValueError, match=r"target: the same value on clean and"):
        de.patch_activations(backbone, clean, clean, de.cls_norm_target())


def test_padding_columns_are_zero_and_real_ones_match_the_unpadded_run(checkpoint):
    backbone, _, clean, corrupted = checkpoint

    def padded(inputs):
        ids = np.concatenate([inputs["token_ids"], [[0, 0]]], axis=1)
        mask = np.concatenate([inputs["padding_mask"], [[0, 0]]], axis=1)
        return {"token_ids": ids.astype("int32"), "padding_mask": mask}

    plain = de.patch_activations(backbone, clean, corrupted, _readout)
    found = de.patch_activations(backbone, padded(clean), padded(corrupted), _readout)
    assert found.effect.shape == (3, 9) and np.all(found.effect[:, 7:] == 0.0)
    np.testing.assert_allclose(found.effect[:, :7], plain.effect, atol=1e-4)
