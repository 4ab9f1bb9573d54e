"""`save_to_preset`'s metadata.json, held to the one keras-hub 0.32 wrote.

The fixture `keras_hub_tiny/preset/metadata.json` was written by keras-hub's
own `save_to_preset` (tests/fixtures/make_keras_hub_fixture.py).
"""

import json
from pathlib import Path

import pytest

from distil_explorer import DistilBertBackbone

FIXTURE = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny" / "preset"


@pytest.fixture(scope="module")
def keras_hub_metadata():
    return json.loads((FIXTURE / "metadata.json").read_text())


@pytest.fixture(scope="module")
def our_metadata(tmp_path_factory):
    directory = tmp_path_factory.mktemp("preset")
    DistilBertBackbone.from_preset(str(FIXTURE)).save_to_preset(str(directory))
    return json.loads((directory / "metadata.json").read_text())


def test_tasks_are_the_ones_keras_hub_lists(our_metadata, keras_hub_metadata):
    assert keras_hub_metadata["tasks"]  # keras-hub lists DistilBERT's tasks
    assert our_metadata["tasks"] == keras_hub_metadata["tasks"]


def test_every_keras_hub_key_is_written(our_metadata, keras_hub_metadata):
    assert set(keras_hub_metadata) <= set(our_metadata)
    assert our_metadata["parameter_count"] == keras_hub_metadata["parameter_count"]
    assert our_metadata["keras_hub_version"] == keras_hub_metadata["keras_hub_version"]


def test_a_quantized_backbone_is_not_saved_as_a_float_preset(tmp_path):
    backbone = DistilBertBackbone.from_preset(str(FIXTURE))
    backbone.quantize("int8")
    with pytest.raises(ValueError, match=r"quantized \(int8\).*\.keras"):
        backbone.save_to_preset(str(tmp_path))
    assert not (tmp_path / "metadata.json").exists()


def test_keras_hub_loads_the_preset(tmp_path):
    # keras-hub is a test-only oracle: `pip install --no-deps keras-hub==0.32.0`.
    keras_hub = pytest.importorskip("keras_hub")
    import numpy as np

    ours = DistilBertBackbone.from_preset(str(FIXTURE))
    ours.save_to_preset(str(tmp_path))
    theirs = keras_hub.models.DistilBertBackbone.from_preset(str(tmp_path))
    inputs = {"token_ids": np.array([[2, 7, 9, 3]]), "padding_mask": np.ones((1, 4))}
    inputs["padding_mask"] = inputs["padding_mask"].astype("int32")
    got = np.asarray(theirs(inputs).detach())
    want = np.asarray(ours(inputs).detach())
    np.testing.assert_allclose(got, want, atol=1e-5)
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert metadata["tasks"] == ["MaskedLM", "TextClassifier"]
