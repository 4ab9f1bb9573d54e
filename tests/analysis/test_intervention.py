import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.analysis.intervention import intervened_inputs, intervention_effect
from tests.conftest import TINY

IDS = np.array([[2, 5, 6, 7, 8, 3]], "int32")


def _trace(backbone, ids):
    return capture(backbone, {"token_ids": ids, "padding_mask": np.ones_like(ids)})


@pytest.fixture(scope="module")
def backbone():
    # Init-scale weights (std 0.02) give near-uniform attention that hardly
    # reacts to any token; std 0.5 makes attention depend on content.
    model = DistilBertBackbone(**TINY)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


def test_masking_with_the_same_id_changes_nothing(backbone):
    original = _trace(backbone, IDS)
    same = _trace(backbone, intervened_inputs(IDS, 2, "mask", mask_id=6))
    effect = intervention_effect(original, same, 2, "mask")
    np.testing.assert_allclose(effect.attention_change, 0.0, atol=1e-6)
    np.testing.assert_allclose(effect.hidden_cosine, 1.0, atol=1e-5)
    assert effect.hidden_cosine.shape == (TINY["num_layers"] + 1, 5)


def test_masking_a_token_changes_the_others(backbone):
    original = _trace(backbone, IDS)
    masked = _trace(backbone, intervened_inputs(IDS, 2, "mask", mask_id=4))
    effect = intervention_effect(original, masked, 2, "mask")
    assert effect.attention_change.max() > 1e-3
    # Embeddings of the other tokens do not depend on token 2: cosine 1.
    np.testing.assert_allclose(effect.hidden_cosine[0], 1.0, atol=1e-6)
    assert effect.hidden_cosine[-1].min() < 0.9999


def test_removal_aligns_positions(backbone):
    original = _trace(backbone, IDS)
    removed = _trace(backbone, intervened_inputs(IDS, 2, "remove"))
    assert removed.token_ids.tolist() == [[2, 5, 7, 8, 3]]
    effect = intervention_effect(original, removed, 2, "remove")
    assert effect.attention_change.shape == (TINY["num_layers"], TINY["num_heads"])
    assert np.all((effect.attention_change >= 0) & (effect.attention_change <= 1))


def test_total_variation_by_hand():
    from distil_explorer import Trace

    def trace(rows):
        att = np.array(rows, "float32")[None, None, None]  # (1, 1, 1, 3, 3)
        return Trace(
            np.zeros((2, 1, 3, 2)),
            att,
            np.array([[1, 2, 3]]),
            np.ones((1, 3)),
            {},
            "torch",
            "cpu",
        )

    uniform = [[1 / 3] * 3] * 3
    # Token 1 masked; rows 0 and 2 keep keys 0 and 2: before (0.5, 0.5),
    # after (1, 0) -> total variation 0.5 for both rows.
    after = [[2 / 3, 1 / 3, 0.0], [1 / 3] * 3, [2 / 3, 1 / 3, 0.0]]
    effect = intervention_effect(trace(uniform), trace(after), 1, "mask")
    assert effect.attention_change[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, "swap"), "action='swap'"),
        ((9, "mask"), "position=9"),
        ((1, "mask"), "mask_id"),
    ],
)
def test_bad_interventions_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        intervened_inputs(IDS, *args)
