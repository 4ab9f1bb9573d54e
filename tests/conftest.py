"""Shared fixtures: tiny configs, built once per session (keras-hub style)."""

import os

import numpy as np
import pytest

# Before anything imports keras (neither numpy nor pytest does).
os.environ.setdefault("KERAS_BACKEND", "torch")

TINY = {
    "vocabulary_size": 20,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 8,
    "intermediate_dim": 16,
    "dropout": 0.0,
    "max_sequence_length": 12,
}


def tiny_inputs(batch: int = 2, length: int = 7, seed: int = 0) -> dict:
    """Random ids; the second row has up to 3 padded positions (never all)."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), dtype="int32")
    if batch > 1:
        mask[1, max(1, length - 3) :] = 0
    ids = rng.integers(0, TINY["vocabulary_size"], size=(batch, length)).astype("int32")
    return {"token_ids": ids, "padding_mask": mask}


@pytest.fixture(scope="session")
def tiny_backbone():
    import keras

    from distil_explorer import DistilBertBackbone

    keras.utils.set_random_seed(0)
    return DistilBertBackbone(**TINY)


@pytest.fixture(scope="session")
def tiny_trace(tiny_backbone):
    from distil_explorer import capture

    return capture(tiny_backbone, tiny_inputs())
