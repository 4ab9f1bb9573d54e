import keras
import numpy as np

from distil_explorer import DistilBertBackbone
from distil_explorer.model.initialization import TruncatedNormal, skip_initialization
from tests.conftest import TINY


def test_truncated_normal_has_the_truncated_distribution():
    values = keras.ops.convert_to_numpy(
        TruncatedNormal(stddev=0.02, seed=3)((400, 500))
    )
    assert values.dtype == np.float32
    assert np.abs(values).max() <= 0.04
    # Normal truncated at +-2 sigma has std 0.8796 sigma and mean 0.
    assert abs(values.std() - 0.8796 * 0.02) < 2e-4
    assert abs(values.mean()) < 2e-4


def test_skip_initialization_gives_zeros_and_is_scoped():
    with skip_initialization():
        skipped = DistilBertBackbone(**TINY)
    assert not np.abs(skipped.token_embedding.embeddings.numpy()).any()
    gamma = skipped.transformer_layers[0].ffn_layer_norm.gamma.numpy()
    np.testing.assert_array_equal(gamma, 1.0)
    fresh = DistilBertBackbone(**TINY)
    assert np.abs(fresh.token_embedding.embeddings.numpy()).max() > 0
