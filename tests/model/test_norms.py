"""Norm-weighted attention against numpy on a transformers checkpoint's own weights.

The oracle: Hugging Face DistilBertModel (test-only) with every parameter,
biases included, drawn at random; its own hidden states and attention
probabilities; and `alpha_ij * ||(x_j W_V^h + b_V^h) W_O^h||` computed in
float64 numpy from its state dict (Kobayashi et al. 2020, eq. 5).
"""

import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, Trace, capture
from tests.conftest import TINY, tiny_inputs
from tests.factories import random_transformers_distilbert, run_on_backend

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

HEADS, DIM = 4, 16


@pytest.fixture(scope="module")
def checkpoint():
    """(HF model, our backbone of its weights, inputs with padding)."""
    # Biases drawn too: transformers initialises them to 0, and b_V must count.
    model, backbone = random_transformers_distilbert(scale=0.5, heads=HEADS, dim=DIM)
    ids = np.array([[2, 7, 11, 5, 9, 3, 1, 4], [2, 6, 8, 3, 0, 0, 0, 0]], "int32")
    mask = np.array([[1] * 8, [1] * 4 + [0] * 4], "int32")
    return model, backbone, {"token_ids": ids, "padding_mask": mask}


def _numpy_norms(model, hidden_states, attentions):
    """alpha * ||f_h(x_j)|| from the checkpoint's weights, float64 numpy."""
    state = {k: v.double().numpy() for k, v in model.state_dict().items()}
    head_dim = DIM // HEADS
    out = np.zeros(attentions.shape)
    for layer in range(attentions.shape[0]):
        prefix = f"transformer.layer.{layer}.attention."
        x = hidden_states[layer].astype(np.float64)  # the layer's input
        value = x @ state[prefix + "v_lin.weight"].T + state[prefix + "v_lin.bias"]
        output = state[prefix + "out_lin.weight"]  # (out, in), torch layout
        for h in range(HEADS):
            part = slice(h * head_dim, (h + 1) * head_dim)
            f = value[..., part] @ output[:, part].T  # (B, T, dim)
            length = np.linalg.norm(f, axis=-1)  # (B, T): one per key
            out[layer, :, h] = attentions[layer, :, h] * length[:, None, :]
    return out


def test_matches_numpy_on_a_transformers_checkpoint_with_biases(checkpoint):
    model, backbone, inputs = checkpoint
    assert model.transformer.layer[0].attention.v_lin.bias.abs().min().item() > 0
    with torch.no_grad():
        hf = model(
            input_ids=torch.tensor(inputs["token_ids"], dtype=torch.long),
            attention_mask=torch.tensor(inputs["padding_mask"]),
            output_attentions=True,
            output_hidden_states=True,
        )
    hidden = np.stack([h.numpy() for h in hf.hidden_states])
    attentions = np.stack([a.numpy() for a in hf.attentions])
    trace = capture(backbone, inputs, norms=True)
    assert trace.attention_norms.dtype == np.float32
    assert trace.attention_norms.shape == trace.attentions.shape
    expected = _numpy_norms(model, hidden, attentions)
    np.testing.assert_allclose(trace.attention_norms, expected, atol=1e-5, rtol=1e-5)
    # ... and the same from our own captured hidden states and weights.
    own = _numpy_norms(model, trace.hidden_states, trace.attentions)
    np.testing.assert_allclose(trace.attention_norms, own, atol=1e-5, rtol=1e-5)
    # Norms reorder keys: otherwise the test would not tell them from weights.
    ratio = trace.attention_norms[:, 0] / np.maximum(trace.attentions[:, 0], 1e-12)
    assert ratio.std() > 0.1 * ratio.mean()


def test_padding_keys_are_exactly_zero(checkpoint):
    _, backbone, inputs = checkpoint
    trace = capture(backbone, inputs, norms=True)
    assert np.all(trace.attention_norms[:, 1, :, :, 4:] == 0.0)
    assert np.all(trace.attention_norms[:, 1, :, :, :4] > 0.0)


@pytest.mark.parametrize(
    "layers, heads", [([1], None), (None, [2]), ([0], [1, 3])], ids=str
)
def test_a_selection_is_the_slice_of_the_full_norms(checkpoint, layers, heads):
    _, backbone, inputs = checkpoint
    full = capture(backbone, inputs, norms=True)
    chosen = capture(backbone, inputs, norms=True, layers=layers, heads=heads)
    assert chosen.attention_norms.shape == chosen.attentions.shape
    expected = full.select(layers=layers, heads=heads).attention_norms
    np.testing.assert_allclose(chosen.attention_norms, expected, atol=1e-6, rtol=0)


def test_without_norms_there_are_none(tiny_backbone):
    assert capture(tiny_backbone, tiny_inputs()).attention_norms is None


@pytest.mark.parametrize("flag", ["yes", 1, None])
def test_norms_must_be_a_bool(tiny_backbone, flag):
    with pytest.raises(ValueError, match=r"norms=.*allowed: True, False"):
        capture(tiny_backbone, tiny_inputs(), norms=flag)


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_low_precision_models_give_float32_norms_near_float32(tiny_backbone, dtype):
    # A quantized output kernel is read through the layer's own call.
    inputs = tiny_inputs()
    reference = capture(tiny_backbone, inputs, norms=True).attention_norms
    config = {**TINY, "dtype": "bfloat16" if dtype == "bfloat16" else "float32"}
    other = DistilBertBackbone(**config)
    other.set_weights(tiny_backbone.get_weights())
    if dtype == "int8":
        other.quantize("int8")
    norms = capture(other, inputs, norms=True).attention_norms
    assert norms.dtype == np.float32 and np.isfinite(norms).all()
    np.testing.assert_allclose(norms, reference, atol=0.02 * reference.max(), rtol=0)


def test_save_load_and_select_keep_the_norms(checkpoint, tmp_path):
    _, backbone, inputs = checkpoint
    trace = capture(backbone, inputs, norms=True, layers=[1], heads=[0, 2])
    loaded = Trace.load(trace.save(tmp_path / "t.npz"))
    np.testing.assert_array_equal(loaded.attention_norms, trace.attention_norms)
    assert not loaded.attention_norms.flags.writeable
    small = loaded.select(heads=[2])
    np.testing.assert_array_equal(
        small.attention_norms[:, :, 0], trace.attention_norms[:, :, 1]
    )
    plain = capture(backbone, inputs)
    assert Trace.load(plain.save(tmp_path / "plain.npz")).attention_norms is None


def test_a_file_written_before_norms_existed_still_loads(tiny_trace, tmp_path):
    # Such a file simply has no attention_norms array.
    path = tiny_trace.save(tmp_path / "old.npz")
    with np.load(path) as data:
        assert "attention_norms" not in data.files
    assert Trace.load(path).attention_norms is None


def test_misshapen_norms_are_refused(tiny_trace):
    import dataclasses

    wrong = np.zeros(tiny_trace.attentions.shape[:-1], "float32")
    with pytest.raises(ValueError, match=r"attention_norms shape=.*allowed"):
        dataclasses.replace(tiny_trace, attention_norms=wrong)


_JAX_KERNEL_CHANGE = """
import numpy as np, keras
from distil_explorer import DistilBertBackbone, capture
from tests.conftest import TINY, tiny_inputs
from tests.factories import random_transformers_distilbert
keras.utils.set_random_seed(0)
backbone = DistilBertBackbone(**TINY)
inputs = tiny_inputs()
before = capture(backbone, inputs, norms=True).attention_norms
kernel = backbone.transformer_layers[1].attention_output._kernel
kernel.assign(np.asarray(kernel.value) * 3.0)
after = capture(backbone, inputs, norms=True).attention_norms
np.testing.assert_allclose(after[1], 3.0 * before[1], rtol=1e-5, atol=1e-9)
np.testing.assert_array_equal(after[0], before[0])
print("ok")
"""


def test_jax_recomputes_its_kept_gram_matrices_when_a_kernel_changes():
    # The compiled path keeps head_grams between captures: a new kernel
    # (a new jax array) must be seen, three times the kernel, three times
    # the lengths of that layer.

    from distil_explorer.runtime.backends import available_backends

    if "jax" not in available_backends():
        pytest.skip("jax is not installed")
    done = run_on_backend("jax", _JAX_KERNEL_CHANGE, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
