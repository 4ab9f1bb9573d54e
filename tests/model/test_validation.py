"""Every bad constructor argument and every bad input gets a clear ValueError."""

import re

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from tests.conftest import TINY, tiny_inputs


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("hidden_dim", 9, "hidden_dim=9: not divisible by num_heads=2"),
        ("num_heads", 3, "not divisible by num_heads=3"),
        ("num_layers", 0, "num_layers=0: must be positive"),
        ("num_layers", -2, "num_layers=-2: must be positive"),
        ("vocabulary_size", 2.0, "vocabulary_size=2.0: must be a positive integer"),
        ("hidden_dim", True, "hidden_dim=True: must be a positive integer"),
        ("intermediate_dim", "16", "intermediate_dim='16'"),
        ("max_sequence_length", None, "max_sequence_length=None"),
        ("dropout", 1.0, "dropout=1.0: out of range; allowed: float in [0, 1)"),
        ("dropout", -0.1, "dropout=-0.1"),
        ("dropout", True, "dropout=True: must be a number"),
        ("dtype", "float8", "dtype='float8': unknown dtype; allowed"),
        ("dtype", "int32", "dtype='int32'"),
    ],
)
def test_constructor_rejects(argument, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DistilBertBackbone(**{**TINY, argument: value})


def test_a_policy_map_holding_strings_is_refused_with_the_fix():
    import keras

    policy = keras.dtype_policies.DTypePolicyMap(
        default_policy="float32", policy_map={"transformer_layer_1/.*": "bfloat16"}
    )
    with pytest.raises(
        ValueError,
        match=re.escape(
            "dtype['transformer_layer_1/.*']='bfloat16': a DTypePolicyMap entry "
            "must be a policy, not a string; allowed: "
            "policy_map['transformer_layer_1/.*'] = 'bfloat16'"
        ),
    ):
        DistilBertBackbone(**TINY, dtype=policy)


def test_divisibility_error_suggests_allowed_values():
    with pytest.raises(
        ValueError, match=r"allowed: hidden_dim a multiple of num_heads"
    ):
        DistilBertBackbone(**{**TINY, "hidden_dim": 250, "num_heads": 4})


def _bad_inputs():
    good = tiny_inputs()
    ids, mask = good["token_ids"], good["padding_mask"]
    return [
        ("missing key", {"token_ids": ids}, r"missing \['padding_mask'\]"),
        ("extra key", {**good, "segment_ids": ids}, r"unexpected \['segment_ids'\]"),
        ("not a dict", ids, r"inputs=.*(must be a dict|allowed: text)"),
        (
            "negative id",
            {**good, "token_ids": ids - 100},
            "out of range; allowed: 0 to 19",
        ),
        ("id too large", {**good, "token_ids": ids + 20}, "out of range"),
        (
            "too long",
            {
                "token_ids": np.zeros((1, 13), "int32"),
                "padding_mask": np.ones((1, 13), "int32"),
            },
            "longer than max_sequence_length=12",
        ),
        ("mask shape", {**good, "padding_mask": mask[:, :-1]}, "does not match"),
        ("float ids", {**good, "token_ids": ids.astype("float32")}, "must be integers"),
        ("1-D ids", {"token_ids": ids[0], "padding_mask": mask[0]}, "must be 2-D"),
        ("mask values", {**good, "padding_mask": mask * 2}, "allowed: 0 .padding."),
        ("negative mask", {**good, "padding_mask": -mask}, "allowed: 0 .padding."),
        (
            "uint8 mask 255",
            {**good, "padding_mask": (mask * 255).astype("uint8")},
            "allowed: 0 .padding.",
        ),
        ("empty row", {**good, "padding_mask": mask * 0}, "has no real token"),
        (
            "string ids",
            {**good, "token_ids": ids.astype(str)},
            "must be integers",
        ),
        (
            "float mask",
            {**good, "padding_mask": mask.astype("float32")},
            "bool or integer",
        ),
    ]


@pytest.mark.parametrize(("case", "inputs", "message"), _bad_inputs())
def test_call_rejects(tiny_backbone, case, inputs, message):
    with pytest.raises(ValueError, match=message):
        tiny_backbone(inputs)


@pytest.mark.parametrize(("case", "inputs", "message"), _bad_inputs())
def test_capture_rejects(tiny_backbone, case, inputs, message):
    with pytest.raises(ValueError, match=message):
        capture(tiny_backbone, inputs)


def test_backend_tensors_are_checked_too(tiny_backbone):
    import keras

    ids = keras.ops.convert_to_tensor(np.full((1, 3), 25, "int32"))
    mask = keras.ops.convert_to_tensor(np.ones((1, 3), "int32"))
    with pytest.raises(ValueError, match="token_ids value=25: out of range"):
        tiny_backbone({"token_ids": ids, "padding_mask": mask})


def test_bool_and_int64_inputs_are_accepted(tiny_backbone):
    inputs = tiny_inputs()
    out = tiny_backbone(
        {
            "token_ids": inputs["token_ids"].astype("int64"),
            "padding_mask": inputs["padding_mask"].astype(bool),
        }
    )
    assert tuple(out.shape) == (2, 7, 8)
