"""The properties keras-hub's test harness checks on a backbone, on this backend.

Each `check_*` runs one property on the current Keras backend and returns
plain numbers (max |diff|, booleans), so the same battery runs in the test
process (torch) and, through `python -m tests.model.keras_battery`, in a
fresh process per other backend (Keras runs one backend per process). The
tests assert on the numbers; nothing here asserts.

Written for this project (not copied from keras-hub): serialization round
trip, `.keras` save + `load_model` with no `custom_objects`, variable
sequence lengths, dtype policies (a `DTypePolicyMap` included), quantization
drift and capture on the quantized model.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import distil_explorer  # registers the classes: no custom_objects below

PRESET = Path(__file__).parents[1] / "fixtures" / "keras_hub_tiny" / "preset"
EXPECTED = PRESET.parent / "expected.npz"
MODES = ("int8", "float8", "int4")


def _numpy(x) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


def _fixture():
    """keras-hub's tiny preset (random weights, peaked attention) and inputs."""
    from distil_explorer import DistilBertBackbone

    with np.load(EXPECTED) as data:
        inputs = {k: data[k] for k in ("token_ids", "padding_mask")}
    return DistilBertBackbone.from_preset(str(PRESET)), inputs


def _max_diff(a, b) -> float:
    return float(np.abs(_numpy(a) - _numpy(b)).max())


def check_serialization() -> dict:
    """serialize/deserialize and `.keras` save/load, float and int8."""
    import keras

    model, inputs = _fixture()
    expected = model(inputs)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model)
    )
    restored.set_weights(model.get_weights())
    result = {
        "class": type(restored).__name__,
        "config_equal": restored.get_config() == model.get_config(),
        "serialized_diff": _max_diff(restored(inputs), expected),
    }
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "backbone.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        result["keras_file_class"] = type(loaded).__name__
        result["keras_file_diff"] = _max_diff(loaded(inputs), expected)
        model.quantize("int8")
        quantized = model(inputs)
        model.save(path)
        loaded = keras.models.load_model(path)
        result["int8_keras_file_modes"] = list(loaded.quantization_modes)
        result["int8_keras_file_diff"] = _max_diff(loaded(inputs), quantized)
        dtypes = {v.path: str(v.dtype) for v in loaded.weights}
        result["int8_kernel_dtype"] = dtypes["transformer_layer_0/query/kernel"]
    return result


def check_variable_lengths() -> dict:
    """Every length 1..max runs, finite; a prefix does not see what follows."""
    model, _ = _fixture()
    rng = np.random.default_rng(0)
    shapes, finite = [], True
    for length in (1, 5, model.max_sequence_length):
        ids = rng.integers(0, model.vocabulary_size, (2, length)).astype("int32")
        out = _numpy(model({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
        shapes.append(list(out.shape))
        finite = finite and bool(np.isfinite(out).all())
    return {"shapes": shapes, "finite": finite}


def check_dtype_policies() -> dict:
    """Reduced precision stays close to float32; a DTypePolicyMap is obeyed."""
    import keras

    from distil_explorer import DistilBertBackbone

    full, inputs = _fixture()
    expected = full(inputs)
    scale = float(np.abs(_numpy(expected)).max())
    result = {"scale": scale}
    for dtype in ("mixed_float16", "bfloat16", "mixed_bfloat16"):
        low = DistilBertBackbone.from_config({**full.get_config(), "dtype": dtype})
        for src, dst in zip(full.weights, low.weights, strict=True):
            dst.assign(keras.ops.cast(src.value, dst.dtype))
        result[dtype] = _max_diff(low(inputs), expected)
    policy_map = keras.dtype_policies.DTypePolicyMap(default_policy="float32")
    policy_map["transformer_layer_1/.*"] = "bfloat16"
    mapped = DistilBertBackbone.from_config({**full.get_config(), "dtype": policy_map})
    mapped.set_weights(full.get_weights())
    layer = mapped.transformer_layers
    result["map"] = {
        "layer_0_query": layer[0].query.compute_dtype,
        "layer_1_query": layer[1].query.compute_dtype,
        "diff": _max_diff(mapped(inputs), expected),
        "round_trip": DistilBertBackbone.from_config(mapped.get_config()).get_config()
        == mapped.get_config(),
    }
    return result


def check_quantization() -> dict:
    """Drift per mode on keras-hub's fixture; capture on the int8 model."""
    from distil_explorer import DistilBertBackbone, capture

    result = {}
    for mode in MODES:
        model, inputs = _fixture()
        expected = model(inputs)
        float_trace = capture(model, inputs)
        model.quantize(mode)
        out = model(inputs)
        trace = capture(model, inputs)
        result[mode] = {
            "drift": _max_diff(out, expected),
            "finite": bool(np.isfinite(_numpy(out)).all()),
            "capture_vs_call": _max_diff(trace.hidden_states[-1], out),
            "attention_diff": float(
                np.abs(trace.attentions - float_trace.attentions).max()
            ),
            "row_sums": float(np.abs(trace.attentions.sum(-1) - 1).max()),
            "trace_dtype": trace.config["dtype"],
            "round_trip": DistilBertBackbone.from_config(
                model.get_config()
            ).quantization_modes
            == model.quantization_modes,
        }
    return result


def run_all() -> dict:
    import keras

    return {
        "backend": keras.backend.backend(),
        "serialization": check_serialization(),
        "lengths": check_variable_lengths(),
        "dtypes": check_dtype_policies(),
        "quantization": check_quantization(),
    }


if __name__ == "__main__":
    assert distil_explorer.__version__
    print(json.dumps(run_all()), file=sys.stdout)
