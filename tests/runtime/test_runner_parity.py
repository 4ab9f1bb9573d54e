"""The same weights on torch (here), jax, tensorflow, openvino and numpy.

Every backend but torch runs in its own worker. float32: the plain call's
output (the last hidden state), every hidden state and every attention map
agree within 1e-5 (max abs); openvino captures too (the capture path is plain
`keras.ops`, which its backend runs). bfloat16: each backend rounds at
different points (fused kernels, accumulation order), so results differ by a
few bfloat16 ulps (2**-7 at 1.0). Allowed: hidden states 8 ulps of their
largest magnitude (openvino 16: its CPU plugin picks its own precision per
fused op; seen 9.1 ulps, mixed_bfloat16), attention probabilities 0.08 (10
ulps at 1.0). Worst seen over 4 input seeds with these weights (jax, numpy):
4.5 ulps (0.14 at |h| = 4) and 0.048.
"""

import numpy as np
import pytest
import torch

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.errors import RemoteTraceback
from distil_explorer.runtime.runner import Runner
from distil_explorer.weights.assign import assign_weights
from tests.conftest import TINY, tiny_inputs
from tests.runtime.conftest import parity_weights, require_backend
from tests.runtime.test_runner import PRESET_DIR

WORKER_BACKENDS = ["jax", "tensorflow", "openvino", "numpy"]
BF16_ULP = 2.0**-7
BF16_ATTENTION_ATOL = 0.08


@pytest.fixture(scope="module", params=WORKER_BACKENDS)
def runner(request):
    require_backend(request.param)
    with Runner(request.param, timeout=120) as runner:
        yield runner


@pytest.fixture(scope="module")
def weights(tiny_backbone):
    return parity_weights(tiny_backbone)


def _backbone(weights, dtype="float32"):
    backbone = DistilBertBackbone(**TINY, dtype=dtype)
    assign_weights(backbone, weights)
    return backbone


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


def test_float32_matches_torch(runner, weights):
    backbone = _backbone(weights)
    inputs = tiny_inputs()
    expected = capture(backbone, inputs)
    trace = runner.capture(backbone, inputs)
    assert (trace.backend, trace.device) == (runner.backend, "cpu")
    assert expected.attentions.max() > 0.9  # peaked: the comparison means something
    assert _max_diff(trace.hidden_states[-1], expected.hidden_states[-1]) <= 1e-5
    assert _max_diff(trace.attentions, expected.attentions) <= 1e-5
    assert _max_diff(trace.hidden_states, expected.hidden_states) <= 1e-5
    assert trace.config == expected.config


@pytest.mark.parametrize(
    "options",
    [{"keep_qk": True}, {"layers": [-1], "heads": [1], "keep_qk": True}],
    ids=["all, with q/k", "one map"],
)
def test_selections_and_queries_match_torch(runner, weights, options):
    # jax captures as one compiled program, numpy op by op: both must keep
    # exactly the maps, queries and keys torch keeps.
    backbone = _backbone(weights)
    expected = capture(backbone, tiny_inputs(), **options)
    trace = runner.capture(backbone, tiny_inputs(), **options)
    assert trace.attention_layers == expected.attention_layers
    assert trace.attention_heads == expected.attention_heads
    for name in ("hidden_states", "attentions", "queries", "keys"):
        got, want = getattr(trace, name), getattr(expected, name)
        assert got.shape == want.shape, name
        assert _max_diff(got, want) <= 1e-5, name


@pytest.mark.parametrize(
    "options",
    [{"norms": True}, {"layers": [-1], "heads": [1], "norms": True}],
    ids=["all", "one map"],
)
def test_norm_weighted_attention_matches_torch(runner, weights, options):
    # jax computes the norms inside its compiled program, the others op by op.
    backbone = _backbone(weights)
    expected = capture(backbone, tiny_inputs(), **options)
    trace = runner.capture(backbone, tiny_inputs(), **options)
    got, want = trace.attention_norms, expected.attention_norms
    assert got.shape == want.shape == trace.attentions.shape
    scale = float(np.abs(want).max())
    assert scale > 0.1  # weights large enough that the norms are not tiny
    assert _max_diff(got, want) <= 1e-5 * max(1.0, scale)


@pytest.mark.parametrize("dtype", ["bfloat16", "mixed_bfloat16"])
def test_bfloat16_matches_torch_within_rounding(runner, weights, dtype):
    backbone = _backbone(weights, dtype)
    inputs = tiny_inputs()
    expected = capture(backbone, inputs)
    trace = runner.capture(backbone, inputs)
    assert trace.config["dtype"] == dtype  # the policy travelled with the config
    scale = np.abs(expected.hidden_states[-1]).max()
    ulps = 16 if runner.backend == "openvino" else 8
    assert _max_diff(trace.hidden_states[-1], expected.hidden_states[-1]) <= (
        ulps * BF16_ULP * scale
    )
    assert _max_diff(trace.attentions, expected.attentions) <= BF16_ATTENTION_ATOL


def test_weights_are_sent_once_per_backbone(runner, weights, monkeypatch):
    backbone = _backbone(weights)
    sent = []
    request = runner._worker.request

    def spy(message, timeout):
        sent.append(message["model"] is not None)
        return request(message, timeout)

    monkeypatch.setattr(runner._worker, "request", spy)
    runner.capture(backbone, tiny_inputs(seed=1))
    runner.capture(backbone, tiny_inputs(seed=2))
    # First capture: asked without weights, told "need_model", sent them.
    assert sent == [False, True, False]


def test_torch_tensor_inputs_work_in_a_worker(runner, weights):
    backbone = _backbone(weights)
    inputs = {name: torch.from_numpy(a) for name, a in tiny_inputs().items()}
    trace = runner.capture(backbone, inputs)
    expected = capture(backbone, tiny_inputs())
    assert _max_diff(trace.hidden_states[-1], expected.hidden_states[-1]) <= 1e-5


def test_changed_weights_are_sent_again(runner, weights):
    backbone = _backbone(weights)
    before = runner.capture(backbone, tiny_inputs())
    kernel = backbone.transformer_layers[1].ffn_output.kernel
    kernel.assign(kernel.numpy() * 2.0)
    after = runner.capture(backbone, tiny_inputs())
    assert _max_diff(after.hidden_states[-1], before.hidden_states[-1]) > 1e-2
    expected = capture(backbone, tiny_inputs())
    assert _max_diff(after.hidden_states[-1], expected.hidden_states[-1]) <= 1e-5


def test_preset_directory_is_loaded_by_the_worker(runner):
    inputs = {"token_ids": np.array([[2, 5, 9, 3]]), "padding_mask": np.ones((1, 4))}
    inputs["padding_mask"] = inputs["padding_mask"].astype("int32")
    expected = capture(DistilBertBackbone.from_preset(str(PRESET_DIR)), inputs)
    trace = runner.capture(str(PRESET_DIR), inputs)
    assert trace.backend == runner.backend
    assert _max_diff(trace.hidden_states, expected.hidden_states) <= 1e-5


def test_bad_input_raises_value_error_with_worker_traceback(runner, tiny_backbone):
    runner.capture(tiny_backbone, tiny_inputs())
    pid = runner.pid
    bad = tiny_inputs()
    bad["token_ids"][0, 0] = 99
    with pytest.raises(ValueError, match="token_ids value=99: out of range") as info:
        runner.capture(tiny_backbone, bad)
    assert "in check_inputs" in info.value.worker_traceback
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "Traceback (most recent call last)" in str(info.value.__cause__)
    # An error is an answer, not a crash: the same worker carries on.
    runner.capture(tiny_backbone, tiny_inputs())
    assert runner.pid == pid


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_jax_on_cuda_matches_torch_on_cpu(weights):
    require_backend("jax")
    from distil_explorer.runtime.backends import available_devices

    if "cuda:0" not in available_devices("jax"):
        pytest.skip("jax sees no CUDA device")
    backbone = _backbone(weights)
    with Runner("jax", device="cuda:0") as runner:
        trace = runner.capture(backbone, tiny_inputs())
    assert trace.device == "cuda:0"
    expected = capture(backbone, tiny_inputs())
    assert _max_diff(trace.hidden_states[-1], expected.hidden_states[-1]) <= 1e-4


def test_int8_model_matches_torch(runner, weights):
    # The config's DTypePolicyMap rebuilds the model quantized in the worker;
    # int8 matmuls accumulate exactly, so backends agree as in float32.
    backbone = _backbone(weights)
    backbone.quantize("int8")
    expected = capture(backbone, tiny_inputs())
    trace = runner.capture(backbone, tiny_inputs())
    assert trace.config["dtype"] == "int8_from_float32"
    assert _max_diff(trace.hidden_states, expected.hidden_states) <= 1e-5
    assert _max_diff(trace.attentions, expected.attentions) <= 1e-5
