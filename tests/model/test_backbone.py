import keras
import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, capture
from distil_explorer.model import kernels
from distil_explorer.model.capture import EXPLICIT_UP_TO
from tests.conftest import TINY, tiny_inputs


def _out(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


def test_call_returns_last_hidden_state(tiny_backbone):
    out = tiny_backbone(tiny_inputs(batch=3, length=5))
    assert tuple(out.shape) == (3, 5, TINY["hidden_dim"])


@pytest.mark.parametrize("length", [1, 4, TINY["max_sequence_length"]])
def test_variable_lengths(tiny_backbone, length):
    out = _out(tiny_backbone(tiny_inputs(batch=2, length=length)))
    assert out.shape == (2, length, TINY["hidden_dim"])
    assert np.isfinite(out).all()


def test_padding_content_does_not_leak_into_real_tokens(tiny_backbone):
    inputs = tiny_inputs()
    changed = {k: v.copy() for k, v in inputs.items()}
    changed["token_ids"][1, -3:] = (changed["token_ids"][1, -3:] + 1) % 20
    a, b = _out(tiny_backbone(inputs)), _out(tiny_backbone(changed))
    np.testing.assert_allclose(a[1, :4], b[1, :4], atol=1e-6)
    assert not np.allclose(a[1, 4:], b[1, 4:])


def test_config_round_trip(tiny_backbone):
    config = tiny_backbone.get_config()
    restored = DistilBertBackbone.from_config(config)
    assert restored.get_config() == config
    assert restored.count_params() == tiny_backbone.count_params()
    assert {k: config[k] for k in TINY} == TINY


def test_serialization_round_trip_through_keras(tiny_backbone):
    serialized = keras.saving.serialize_keras_object(tiny_backbone)
    restored = keras.saving.deserialize_keras_object(
        serialized, custom_objects={"DistilBertBackbone": DistilBertBackbone}
    )
    assert isinstance(restored, DistilBertBackbone)
    assert restored.get_config() == tiny_backbone.get_config()


def test_token_embedding_is_a_keras_embedding(tiny_backbone):
    embedding = tiny_backbone.token_embedding
    assert isinstance(embedding, keras.layers.Embedding)
    assert tuple(embedding.embeddings.shape) == (20, 8)


def test_attributes_store_the_constructor_arguments(tiny_backbone):
    for key, value in TINY.items():
        assert getattr(tiny_backbone, key) == value


def test_seed_example_config_builds_and_runs():
    model = DistilBertBackbone(
        vocabulary_size=30552,
        num_layers=4,
        num_heads=4,
        hidden_dim=256,
        intermediate_dim=512,
        max_sequence_length=128,
    )
    inputs = {
        "token_ids": np.ones(shape=(1, 12), dtype="int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]]),
    }
    assert tuple(model(inputs).shape) == (1, 12, 256)


EXPECTED_PARAMS = {
    "distil_bert_base_en_uncased": 66_362_880,
    "distil_bert_base_en": 65_190_912,
    "distil_bert_base_multi": 134_734_080,
}


def test_presets_hold_the_three_seed_presets():
    assert set(DistilBertBackbone.presets) >= set(EXPECTED_PARAMS)
    for name, params in EXPECTED_PARAMS.items():
        preset = DistilBertBackbone.presets[name]
        assert preset["metadata"]["params"] == params
        assert preset["metadata"]["description"]
        assert preset["config"]["num_layers"] == 6


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_builtin_preset_config_has_keras_hub_parameter_count(name):
    model = DistilBertBackbone.from_preset(name, load_weights=False)
    assert model.count_params() == EXPECTED_PARAMS[name]


def test_from_preset_accepts_config_overrides():
    model = DistilBertBackbone.from_preset(
        "distil_bert_base_en_uncased", load_weights=False, num_layers=1
    )
    assert model.num_layers == 1 and model.hidden_dim == 768


def _counted_fused_attention(monkeypatch) -> list:
    """A list that gets one item per `kernels.fused_attention` call from now on."""
    calls = []
    fused = kernels.fused_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(kernels, "fused_attention", counting)
    return calls


def test_plain_call_uses_fused_attention_and_capture_does_not(
    tiny_backbone, monkeypatch
):
    calls = _counted_fused_attention(monkeypatch)
    tiny_backbone(tiny_inputs())
    assert len(calls) == TINY["num_layers"]
    calls.clear()
    capture(tiny_backbone, tiny_inputs())
    assert calls == []


def test_capture_reads_the_same_variables_not_a_copy():
    model = DistilBertBackbone(**TINY)
    before = capture(model, tiny_inputs()).hidden_states[-1]
    count = len(model.weights)
    gamma = model.transformer_layers[-1].ffn_layer_norm.gamma
    gamma.assign(keras.ops.convert_to_numpy(gamma) * 2.0)
    after = capture(model, tiny_inputs()).hidden_states[-1]
    assert len(model.weights) == count
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _out(model(tiny_inputs())), atol=1e-5)


def test_dropout_only_in_training():
    model = DistilBertBackbone(**{**TINY, "dropout": 0.5})
    inputs = tiny_inputs()
    a, b = _out(model(inputs)), _out(model(inputs))
    np.testing.assert_array_equal(a, b)
    c, d = _out(model(inputs, training=True)), _out(model(inputs, training=True))
    assert not np.allclose(c, d)


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "bfloat16", "mixed_float16"])
def test_reduced_precision_stays_close_to_float32(dtype):
    keras.utils.set_random_seed(1)
    full = DistilBertBackbone(**TINY)
    low = DistilBertBackbone(**TINY, dtype=dtype)
    for src, dst in zip(full.weights, low.weights, strict=True):
        dst.assign(keras.ops.cast(src.value, dst.dtype))
    inputs = tiny_inputs()
    expected = _out(full(inputs))
    got = _out(low(inputs))
    tolerance = 0.1 if "bfloat16" in dtype else 0.02
    np.testing.assert_allclose(got, expected, atol=tolerance)
    trace = capture(low, inputs)
    assert trace.attentions.dtype == np.float32
    np.testing.assert_allclose(trace.attentions.sum(-1), 1.0, atol=1e-5)
    assert trace.config["dtype"] == dtype


def _flat_last_norm(model, level):
    """A stateless mapping making the last layer's output `level` everywhere:
    LayerNorm with gamma 0 and beta `level`."""
    norm = model.transformer_layers[-1].ffn_layer_norm
    width = norm.gamma.shape[0]
    return [
        (norm.gamma, keras.ops.zeros((width,))),
        (norm.beta, keras.ops.full((width,), level)),
    ]


def test_a_stateless_scope_sets_the_weights_of_a_call_and_a_capture():
    # Both read variables without Keras's per-read checks when no scope is
    # active (`kernels.direct_reads`); inside one, the scope's values win.
    model = DistilBertBackbone(**TINY)
    inputs = tiny_inputs()
    with keras.StatelessScope(state_mapping=_flat_last_norm(model, 0.25)):
        np.testing.assert_allclose(_out(model(inputs)), 0.25, atol=1e-6)
        trace = capture(model, inputs)
    np.testing.assert_allclose(trace.hidden_states[-1], 0.25, atol=1e-6)
    assert not np.allclose(_out(model(inputs)), 0.25)
    assert not np.allclose(capture(model, inputs).hidden_states[-1], 0.25)


def test_direct_reads_give_what_keras_would_and_honour_an_autocast_scope():
    from keras.src.backend import AutocastScope

    model = DistilBertBackbone(**TINY)
    kernel = model.transformer_layers[0].query._kernel
    with kernels.direct_reads():
        assert kernels.read(kernel) is kernel.value
    with AutocastScope("bfloat16"), kernels.direct_reads():
        cast = kernels.read(kernel)
    assert keras.backend.standardize_dtype(cast.dtype) == "bfloat16"
    # A capture has no Layer.__call__ to replace an outer scope: it computes
    # with the cast weights, as Keras's own reads would.
    inputs = tiny_inputs()
    with AutocastScope("bfloat16"):
        low = capture(model, inputs).hidden_states[-1]
    full = capture(model, inputs).hidden_states[-1]
    assert 0 < np.abs(low - full).max() < 0.1


def test_a_failed_call_leaves_no_direct_reads_behind(monkeypatch):
    model = DistilBertBackbone(**TINY)
    inputs = tiny_inputs()

    def broken(x):
        raise RuntimeError("boom")

    monkeypatch.setattr(kernels, "gelu", broken)
    with pytest.raises(RuntimeError, match="boom"):
        model(inputs)
    with pytest.raises(RuntimeError, match="boom"):
        capture(model, inputs)
    monkeypatch.undo()
    mapping = _flat_last_norm(model, -0.5)
    with keras.StatelessScope(state_mapping=mapping):
        # A read outside any direct call (the query/key projections of
        # capture(keep_qk=True) are one) honours the scope too.
        np.testing.assert_array_equal(_out(kernels.read(mapping[1][0])), -0.5)
        np.testing.assert_allclose(_out(model(inputs)), -0.5, atol=1e-6)


def test_without_keras_scope_lookups_every_read_goes_through_value(monkeypatch):
    # As when a Keras release moves them: the model still runs, and honours
    # a stateless scope, only without the shortcut.
    if keras.backend.backend() == "torch":
        monkeypatch.setattr(kernels, "get_device", None)
    model = DistilBertBackbone(**TINY)
    kernel = model.transformer_layers[0].query._kernel
    with kernels.direct_reads():
        assert kernels.read(kernel) is kernel.value
        assert not getattr(getattr(kernels, "_reads", None), "direct", False)
    inputs = tiny_inputs()
    with keras.StatelessScope(state_mapping=_flat_last_norm(model, 0.5)):
        np.testing.assert_allclose(_out(model(inputs)), 0.5, atol=1e-6)
        np.testing.assert_allclose(capture(model, inputs).hidden_states[-1], 0.5)


def test_direct_reads_are_per_thread():
    import threading

    model = DistilBertBackbone(**TINY)
    inputs = tiny_inputs()
    outs = []

    def scoped_call():
        with keras.StatelessScope(state_mapping=_flat_last_norm(model, 0.75)):
            outs.append(_out(model(inputs)))

    with kernels.direct_reads():
        worker = threading.Thread(target=scoped_call)
        worker.start()
        worker.join()
    np.testing.assert_allclose(outs[0], 0.75, atol=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="explicit maps into numpy: torch CPU"
)
@pytest.mark.parametrize(
    ("length", "fused_layers"), [(8, 0), (EXPLICIT_UP_TO, 0), (EXPLICIT_UP_TO + 1, 2)]
)
def test_a_capture_of_some_layers_does_the_work_of_a_full_one_on_short_inputs(
    monkeypatch, length, fused_layers
):
    # Up to EXPLICIT_UP_TO tokens the layers whose maps are not kept compute
    # them explicitly into recycled memory (faster than fused attention on
    # CPU there); beyond it they take fused attention.
    keras.utils.set_random_seed(3)
    model = DistilBertBackbone(**{**TINY, "num_layers": 3, "max_sequence_length": 160})
    inputs = tiny_inputs(batch=2, length=length)
    inputs["padding_mask"][1, length // 2 :] = 0
    full = capture(model, inputs)
    calls = _counted_fused_attention(monkeypatch)
    part = capture(model, inputs, layers=[1], heads=[0])
    assert len(calls) == fused_layers
    kept = full.attentions[1][:, [0]]
    if fused_layers:
        np.testing.assert_allclose(part.hidden_states, full.hidden_states, atol=1e-6)
        np.testing.assert_allclose(part.attentions[0], kept, atol=1e-6)
    else:  # the same path as the full capture: the same numbers
        np.testing.assert_array_equal(part.hidden_states, full.hidden_states)
        np.testing.assert_array_equal(part.attentions[0], kept)


@pytest.mark.parametrize("selection", [{}, {"layers": [1], "heads": [0]}])
def test_where_tensors_cannot_share_numpy_memory_a_capture_copies_its_maps(
    monkeypatch, selection
):
    # As on an accelerator or off torch: each layer computes its maps on the
    # device, the capture copies them out, and no scratch block is made that
    # no layer would write into (only the two arrays the Trace returns).
    from distil_explorer.model import capture as capture_module

    keras.utils.set_random_seed(4)
    model = DistilBertBackbone(**{**TINY, "num_layers": 3})
    inputs = tiny_inputs(batch=2, length=9)
    shared = capture(model, inputs, **selection)
    monkeypatch.setattr(capture_module, "_shares_memory", lambda like: False)
    shapes, new_buffer = [], capture_module.new_buffer

    def counted(shape, dtype="float32"):
        shapes.append(shape)
        return new_buffer(shape, dtype)

    monkeypatch.setattr(capture_module, "new_buffer", counted)
    copied = capture(model, inputs, **selection)
    assert shapes == [copied.attentions.shape, copied.hidden_states.shape]
    np.testing.assert_allclose(copied.attentions, shared.attentions, atol=1e-6)
    np.testing.assert_allclose(copied.hidden_states, shared.hidden_states, atol=1e-6)
