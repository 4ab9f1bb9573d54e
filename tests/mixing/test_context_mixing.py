"""Value zeroing and ALTI against a float64 numpy oracle on a transformers
checkpoint's own (random) weights, their properties, and bad inputs."""

import numpy as np
import pytest

import distil_explorer as de
from distil_explorer.mixing.result import rolled_out
from tests import numpy_distilbert as oracle_of
from tests.causal_checkpoint import checkpoint as make_checkpoint
from tests.causal_checkpoint import tokenizer as make_tokenizer

pytest.importorskip("transformers")
pytest.importorskip("torch")

ORACLES = {"value_zeroing": oracle_of.value_zeroing, "alti": oracle_of.alti}


@pytest.fixture(scope="module")
def checkpoint():
    return make_checkpoint()


@pytest.mark.parametrize("method", sorted(ORACLES))
def test_matches_the_numpy_oracle(checkpoint, method):
    backbone, oracle, inputs = checkpoint
    found = de.context_mixing(backbone, inputs, method=method)
    expected = ORACLES[method](oracle, inputs["token_ids"], inputs["padding_mask"])
    assert found.per_layer.dtype == np.float32 and found.method == method
    assert found.per_layer.shape == (2, 2, 8, 8)
    np.testing.assert_allclose(found.per_layer, expected, atol=1e-5, rtol=0)
    # Not a near-diagonal match: every real row shares itself out.
    off_diagonal = expected[:, 0] * (1 - np.eye(8))
    assert off_diagonal.sum(-1).min() > 0.01


@pytest.mark.parametrize("method", sorted(ORACLES))
def test_rows_sum_to_one_over_real_tokens_and_padding_is_zero(checkpoint, method):
    backbone, _, inputs = checkpoint
    found = de.context_mixing(backbone, inputs, method=method)
    real = inputs["padding_mask"].astype(bool)
    sums = found.per_layer.sum(-1)  # (L, B, T)
    np.testing.assert_allclose(sums[:, real], 1.0, atol=1e-5)
    assert np.all(found.per_layer[:, 1, 4:] == 0.0)
    assert np.all(found.per_layer[:, 1, :, 4:] == 0.0)
    assert np.all(found.per_layer >= 0)
    assert not found.per_layer.flags.writeable


def test_rollout_multiplies_the_layers_without_an_identity(checkpoint):
    backbone, _, inputs = checkpoint
    found = de.context_mixing(backbone, inputs, method="alti")
    c = found.per_layer.astype(np.float64)
    np.testing.assert_array_equal(found.rollout[0], found.per_layer[0])
    np.testing.assert_allclose(found.rollout[1], c[1] @ c[0], atol=1e-6)
    # Products of row-stochastic matrices stay row-stochastic.
    real = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(found.rollout.sum(-1)[:, real], 1.0, atol=1e-5)
    np.testing.assert_array_equal(rolled_out(found.per_layer), found.rollout)


def test_a_sequence_alone_gets_its_rows_of_the_batch(checkpoint):
    # Each sequence's T zeroings are its own rows of the B * T batch.
    backbone, _, inputs = checkpoint
    both = de.context_mixing(backbone, inputs)
    one = {k: v[1:, :4] for k, v in inputs.items()}
    alone = de.context_mixing(backbone, one)
    np.testing.assert_allclose(
        alone.per_layer[:, 0], both.per_layer[:, 1, :4, :4], atol=1e-6
    )


def test_text_gives_tokens(checkpoint):
    backbone, _, _ = checkpoint
    found = de.context_mixing(
        backbone, "the cat sat on the mat.", tokenizer=make_tokenizer()
    )
    assert found.tokens[0][:3] == ("[CLS]", "the", "cat")
    assert found.per_layer.shape[-1] == len(found.tokens[0])
    np.testing.assert_allclose(found.self_share().shape, (2, 1, 9))


@pytest.mark.parametrize("method", ["rollout", "ALTI", None])
def test_an_unknown_method_is_named(checkpoint, method):
    backbone, _, inputs = checkpoint
    with pytest.raises(ValueError, match=r"method=.*allowed: value_zeroing, alti"):
        de.context_mixing(backbone, inputs, method=method)


def test_text_without_a_tokenizer_is_refused(checkpoint):
    backbone, _, _ = checkpoint
    with pytest.raises(ValueError, match=r"inputs: text needs a tokenizer"):
        de.context_mixing(backbone, "the cat")


def test_a_misshapen_result_is_refused():
    with pytest.raises(ValueError, match=r"per_layer shape=.*allowed: \(L, B, T, T\)"):
        de.ContextMixing(
            np.zeros((2, 1, 3, 4)), "alti", np.zeros((1, 3)), np.ones((1, 3))
        )
    with pytest.raises(ValueError, match=r"token_ids shape=.*allowed: \(1, 3\)"):
        de.ContextMixing(
            np.zeros((2, 1, 3, 3)), "alti", np.zeros((1, 4)), np.ones((1, 3))
        )


@pytest.mark.parametrize("method", sorted(ORACLES))
def test_sequences_in_groups_give_the_same_scores(checkpoint, method, monkeypatch):
    from distil_explorer.model import context_mixing

    backbone, _, inputs = checkpoint
    whole = de.context_mixing(backbone, inputs, method=method)
    assert context_mixing.sequences_per_call(backbone, 8) >= 2
    monkeypatch.setattr(context_mixing, "CHUNK_BYTES", 1)
    assert context_mixing.sequences_per_call(backbone, 8) == 1
    grouped = de.context_mixing(backbone, inputs, method=method)
    np.testing.assert_allclose(grouped.per_layer, whole.per_layer, atol=1e-6)
