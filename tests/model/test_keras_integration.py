"""Encoding as backbone input, DTypePolicyMap checks, registration with Keras."""

import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, DistilBertTokenizer, Runner, capture
from distil_explorer.config import check_dtype
from distil_explorer.runtime.backends import worker_environment
from tests.conftest import TINY

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "s", "##at"]


@pytest.fixture(scope="module")
def encoding():
    return DistilBertTokenizer(VOCAB, lowercase=True)(["The cat sat", "the"])


def test_encoding_is_a_mapping_of_the_inputs(encoding):
    assert list(encoding) == ["token_ids", "padding_mask"]
    assert dict(encoding).keys() == encoding.inputs.keys()
    assert encoding["padding_mask"] is encoding.padding_mask
    assert encoding.tokens[1][:3] == ("[CLS]", "the", "[SEP]")
    with pytest.raises(KeyError):
        encoding["tokens"]
    assert encoding == encoding and encoding != dict(encoding)  # identity


def test_backbone_takes_an_encoding(tiny_backbone, encoding):
    got = keras.ops.convert_to_numpy(tiny_backbone(encoding))
    want = keras.ops.convert_to_numpy(tiny_backbone(encoding.inputs))
    np.testing.assert_array_equal(got, want)
    trace = capture(tiny_backbone, encoding)
    np.testing.assert_allclose(trace.hidden_states[-1], want, atol=1e-6)
    np.testing.assert_array_equal(trace.token_ids, encoding.token_ids)


def test_runner_worker_takes_an_encoding(tiny_backbone, encoding):
    with Runner("torch", isolate=True, timeout=120) as runner:
        trace = runner.capture(tiny_backbone, encoding)
    expected = capture(tiny_backbone, encoding)
    np.testing.assert_allclose(trace.attentions, expected.attentions, atol=1e-6)


def test_dtype_policy_map_is_accepted_and_checked():
    policy_map = keras.dtype_policies.DTypePolicyMap(default_policy="float32")
    policy_map["transformer_layer_0/query"] = "int8_from_float32"
    assert check_dtype(policy_map) is policy_map
    policy_map["transformer_layer_1/key"] = "float64"
    with pytest.raises(ValueError, match=r"dtype\['transformer_layer_1/key'\]"):
        check_dtype(policy_map)
    with pytest.raises(ValueError, match=r"dtype='int8_from_float32'.*quantize"):
        DistilBertBackbone(**{**TINY, "dtype": "int8_from_float32"})


def test_quantize_keeps_layer_norms_and_positions_float(tiny_backbone):
    model = DistilBertBackbone.from_config(tiny_backbone.get_config())
    model.set_weights(tiny_backbone.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing "not quantizable"
        model.quantize("int8")
    dtypes = {v.path: str(v.dtype) for v in model.weights}
    assert dtypes["embeddings/token_embedding/embeddings"] == "int8"
    assert dtypes["transformer_layer_1/ffn_output/kernel"] == "int8"
    assert dtypes["embeddings/position_embedding/embeddings"] == "float32"
    assert dtypes["transformer_layer_1/ffn_layer_norm/gamma"] == "float32"
    assert model.quantization_modes == ("int8",)
    assert tiny_backbone.quantization_modes == ()


def test_quantize_filters_follow_keras(tiny_backbone):
    model = DistilBertBackbone.from_config(tiny_backbone.get_config())
    model.quantize("int8", filters=["ffn_"])
    kinds = {v.path: str(v.dtype) for v in model.weights}
    assert kinds["transformer_layer_0/ffn_intermediate/kernel"] == "int8"
    assert kinds["transformer_layer_0/query/kernel"] == "float32"
    assert kinds["embeddings/token_embedding/embeddings"] == "float32"


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=worker_environment("torch"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_import_loads_no_framework():
    code = "import sys, distil_explorer; print({'keras', 'torch'} & {*sys.modules})"
    assert _python(code) == "set()"


def test_import_after_keras_registers_the_backbone():
    # The other order (distil_explorer first) is what keras_battery's
    # subprocesses do before loading `.keras` files without custom_objects.
    code = (
        "import keras, distil_explorer\n"
        "get = keras.saving.get_registered_object\n"
        "print(get('distil_explorer>DistilBertBackbone').__name__)"
    )
    assert _python(code) == "DistilBertBackbone"
