import dataclasses
import json

import keras
import numpy as np
import pytest

from distil_explorer import DistilBertBackbone, Trace, capture
from tests.conftest import TINY, tiny_inputs


def test_shapes(tiny_trace):
    layers, heads, hidden = TINY["num_layers"], TINY["num_heads"], TINY["hidden_dim"]
    assert tiny_trace.hidden_states.shape == (layers + 1, 2, 7, hidden)
    assert tiny_trace.attentions.shape == (layers, 2, heads, 7, 7)
    assert tiny_trace.token_ids.shape == tiny_trace.padding_mask.shape == (2, 7)
    assert tiny_trace.num_layers == layers and tiny_trace.num_heads == heads


def test_attention_is_a_distribution_over_real_keys(tiny_trace):
    attn = tiny_trace.attentions
    np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-6)
    # Row 1 has its last 3 keys padded: exactly zero weight there.
    assert (attn[:, 1, :, :, 4:] == 0.0).all()
    assert (attn[:, 1, :, :, :4] > 0.0).all()


def test_last_hidden_state_equals_plain_call(tiny_backbone, tiny_trace):
    out = keras.ops.convert_to_numpy(tiny_backbone(tiny_inputs()))
    np.testing.assert_allclose(tiny_trace.hidden_states[-1], out, atol=1e-5)


def test_first_hidden_state_is_the_embeddings_output(tiny_backbone, tiny_trace):
    ids = tiny_inputs()["token_ids"]
    embedded = tiny_backbone.embeddings(keras.ops.convert_to_tensor(ids))
    np.testing.assert_allclose(
        tiny_trace.hidden_states[0], keras.ops.convert_to_numpy(embedded), atol=1e-6
    )


def test_records_where_it_ran(tiny_trace):
    assert tiny_trace.backend == keras.backend.backend()
    assert tiny_trace.device == "cpu"
    assert {k: tiny_trace.config[k] for k in TINY} == TINY
    assert tiny_trace.config["dtype"] == "float32"


def test_is_frozen_and_read_only(tiny_trace):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny_trace.backend = "jax"
    with pytest.raises(ValueError, match="read-only"):
        tiny_trace.attentions[0, 0, 0, 0, 0] = 1.0


def test_does_not_freeze_the_callers_arrays(tiny_trace):
    hidden = np.array(tiny_trace.hidden_states)
    Trace(
        hidden_states=hidden,
        attentions=tiny_trace.attentions,
        token_ids=tiny_trace.token_ids,
        padding_mask=tiny_trace.padding_mask,
        config={},
        backend="torch",
        device="cpu",
    )
    hidden[0, 0, 0, 0] = 5.0  # still writable


def test_save_load_round_trip_is_exact(tiny_trace, tmp_path):
    path = tiny_trace.save(tmp_path / "trace.npz")
    loaded = Trace.load(path)
    for name in ("hidden_states", "attentions", "token_ids", "padding_mask"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(tiny_trace, name))
        assert getattr(loaded, name).dtype == getattr(tiny_trace, name).dtype
    assert loaded.config == tiny_trace.config
    assert (loaded.backend, loaded.device, loaded.tokens) == ("torch", "cpu", None)


def test_round_trip_keeps_tokens(tiny_trace, tmp_path):
    tokens = [[f"t{i}" for i in range(7)], ["[CLS]", "é", "猫", "🙂", "x", "", " "]]
    trace = dataclasses.replace(tiny_trace, tokens=tokens)
    loaded = Trace.load(trace.save(tmp_path / "t.npz"))
    assert loaded.tokens == tuple(tuple(row) for row in tokens)


def test_save_refuses_other_suffixes(tiny_trace, tmp_path):
    with pytest.raises(ValueError, match=r"allowed: a file name ending in \.npz"):
        tiny_trace.save(tmp_path / "trace.json")


def test_failed_save_leaves_nothing_behind(tiny_trace, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        tiny_trace.save(tmp_path / "trace.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_refuses_foreign_npz(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, meta=np.array('{"format": "x"}'))
    with pytest.raises(ValueError, match="not a distil-explorer trace"):
        Trace.load(path)


@pytest.mark.parametrize(
    ("field", "shape", "message"),
    [
        ("hidden_states", (3, 2, 7), "hidden_states shape"),
        ("attentions", (2, 2, 2, 7, 6), "attentions shape"),
        ("padding_mask", (2, 6), "padding_mask shape"),
    ],
)
def test_inconsistent_shapes_are_refused(tiny_trace, field, shape, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(tiny_trace, **{field: np.zeros(shape)})


def test_tokens_must_match_ids(tiny_trace):
    with pytest.raises(ValueError, match="one string per token id"):
        dataclasses.replace(tiny_trace, tokens=[["a"] * 7])


def test_capture_accepts_lists(tiny_backbone):
    trace = capture(
        tiny_backbone, {"token_ids": [[1, 2, 3]], "padding_mask": [[1, 1, 1]]}
    )
    assert trace.hidden_states.shape == (3, 1, 3, 8)


def test_capture_text_fills_tokens_and_truncates(tiny_backbone):
    from distil_explorer import DistilBertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "."]
    vocab += [f"w{i}" for i in range(20 - len(vocab))]
    tokenizer = DistilBertTokenizer(vocab, lowercase=True)
    trace = capture(tiny_backbone, ["The cat sat.", "cat"], tokenizer=tokenizer)
    assert trace.tokens == (
        ("[CLS]", "the", "cat", "sat", ".", "[SEP]"),
        ("[CLS]", "cat", "[SEP]", "[PAD]", "[PAD]", "[PAD]"),
    )
    assert trace.padding_mask.tolist()[1] == [1, 1, 1, 0, 0, 0]
    long = capture(tiny_backbone, "the cat " * 40, tokenizer=tokenizer)
    assert long.token_ids.shape == (1, TINY["max_sequence_length"])
    assert long.tokens[0][-1] == "[SEP]"


def test_capture_text_without_tokenizer_says_what_to_do(tiny_backbone):
    with pytest.raises(ValueError, match="text needs a tokenizer"):
        capture(tiny_backbone, "hello")


# Selections: capture(layers=, heads=) keeps only some maps.

WIDE = {**TINY, "num_layers": 3, "num_heads": 4}


@pytest.fixture(scope="module")
def wide():
    import keras

    from distil_explorer import DistilBertBackbone

    keras.utils.set_random_seed(1)
    backbone = DistilBertBackbone(**WIDE)
    return backbone, capture(backbone, tiny_inputs(), keep_qk=True)


def test_full_capture_holds_every_layer_and_head(wide):
    _, full = wide
    assert full.attention_layers == (0, 1, 2)
    assert full.attention_heads == (0, 1, 2, 3)
    assert full.has_all_attention


@pytest.mark.parametrize(
    ("layers", "heads", "held_layers", "held_heads"),
    [
        ([0, 2], [1, 3], (0, 2), (1, 3)),
        (-1, None, (2,), (0, 1, 2, 3)),
        (None, 2, (0, 1, 2), (2,)),
        ((2, 0, 2), [-1, 0], (0, 2), (0, 3)),  # sorted, duplicates merged
    ],
)
def test_selection_is_the_same_maps_as_a_full_capture(
    wide, layers, heads, held_layers, held_heads
):
    backbone, full = wide
    part = capture(backbone, tiny_inputs(), keep_qk=True, layers=layers, heads=heads)
    assert (part.attention_layers, part.attention_heads) == (held_layers, held_heads)
    assert not part.has_all_attention
    assert (part.num_layers, part.num_heads) == (3, 4)  # the model, not the slice
    picked = np.ix_(held_layers, range(2), held_heads)
    np.testing.assert_allclose(part.attentions, full.attentions[picked], atol=1e-6)
    np.testing.assert_allclose(part.queries, full.queries[picked], atol=1e-6)
    np.testing.assert_allclose(part.keys, full.keys[picked], atol=1e-6)
    # Hidden states are always whole: layers skipped for maps still ran.
    np.testing.assert_allclose(part.hidden_states, full.hidden_states, atol=1e-5)
    for layer in held_layers:
        for head in held_heads:
            np.testing.assert_array_equal(
                part.attention(layer, head, index=1),
                part.attentions[held_layers.index(layer), 1, held_heads.index(head)],
            )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": []}, r"layers=\[\]: allowed: None \(all\), an int or a list"),
        ({"layers": [3]}, r"layers=\[3\]: \[3\] out of range; .* -3\.\.2"),
        ({"layers": [-4]}, r"out of range"),
        ({"heads": [4]}, r"heads=\[4\]: \[4\] out of range; .* -4\.\.3"),
        ({"heads": True}, r"heads=True: allowed"),
        ({"heads": [0.5]}, r"heads=\[0\.5\]: allowed"),
        ({"layers": "0"}, r"layers='0': allowed"),
        ({"layers": object()}, r"layers=<object.*: allowed"),
    ],
)
def test_bad_selections_are_refused(wide, kwargs, message):
    backbone, _ = wide
    with pytest.raises(ValueError, match=message):
        capture(backbone, tiny_inputs(), **kwargs)


def test_attention_by_model_index_names_what_was_kept(wide):
    backbone, _ = wide
    part = capture(backbone, tiny_inputs(), layers=[1], heads=[0, 2])
    with pytest.raises(ValueError, match=r"layer=0: not in this Trace; .*\[1\]"):
        part.attention(0, 0)
    with pytest.raises(ValueError, match=r"head=1: not in this Trace; .*\[0, 2\]"):
        part.attention(1, 1)
    with pytest.raises(ValueError, match=r"index=2: .*allowed: 0\.\.1"):
        part.attention(1, 2, index=2)


def test_selection_survives_save_and_load(wide, tmp_path):
    backbone, _ = wide
    part = capture(backbone, tiny_inputs(), layers=[0, 2], heads=[3])
    loaded = Trace.load(part.save(tmp_path / "part.npz"))
    assert (loaded.attention_layers, loaded.attention_heads) == ((0, 2), (3,))
    np.testing.assert_array_equal(loaded.attentions, part.attentions)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"attention_layers": (0,)}, r"1 indices but attentions holds 2 on axis 0"),
        ({"attention_layers": (1, 0)}, r"allowed: increasing, distinct indices"),
        ({"attention_layers": (0, 2)}, r"in 0\.\.1"),
        ({"attention_heads": (0, 0)}, r"attention_heads=\(0, 0\): allowed"),
        ({"attention_heads": (1, 0)}, r"distinct indices in 0\.\.1$"),
    ],
)
def test_hand_made_selections_are_checked(tiny_trace, fields, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(tiny_trace, **fields)


def test_a_hand_made_trace_without_num_heads_takes_any_increasing_heads():
    rng = np.random.default_rng(0)
    weights = rng.random((1, 1, 2, 3, 3))
    fields = {
        "hidden_states": np.zeros((2, 1, 3, 4)),
        "attentions": weights / weights.sum(-1, keepdims=True),
        "token_ids": np.zeros((1, 3)),
        "padding_mask": np.ones((1, 3)),
        "config": {},
        "backend": "numpy",
        "device": "cpu",
    }
    trace = Trace(**fields, attention_heads=(2, 9))
    assert (trace.attention_heads, trace.num_heads) == ((2, 9), 10)
    with pytest.raises(ValueError, match=r"distinct indices >= 0$"):
        Trace(**fields, attention_heads=(9, 2))


def test_select_keeps_a_subset_by_model_index(wide):
    _, full = wide
    small = full.select(layers=[-1, 0], heads=2)
    assert (small.attention_layers, small.attention_heads) == ((0, 2), (2,))
    np.testing.assert_array_equal(small.attentions, full.attentions[[0, 2]][:, :, [2]])
    np.testing.assert_array_equal(small.queries, full.queries[[0, 2]][:, :, [2]])
    smaller = small.select(layers=2)  # heads: what it holds
    np.testing.assert_array_equal(smaller.attention(2, 2), full.attention(2, 2))
    with pytest.raises(
        ValueError, match=r"layers=1: \[1\] not in this Trace; .*\[0, 2\]"
    ):
        small.select(layers=1)
    with pytest.raises(ValueError, match=r"heads=\[9\]: \[9\] out of range"):
        small.select(heads=[9])


# Trace.load of anything that is not a Trace (issue 13).


def _load_error(path):
    from distil_explorer.errors import TraceFileError

    with pytest.raises(TraceFileError) as info:
        Trace.load(path)
    message = str(info.value)
    assert str(path) in message and info.value.path == str(path)
    assert "allow_pickle" not in message
    return info.value


def test_load_refuses_random_bytes_and_truncated_files(tiny_trace, tmp_path):
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(500))
    assert "not an .npz archive" in str(_load_error(tmp_path / "random.npz"))
    data = tiny_trace.save(tmp_path / "t.npz").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        assert "truncated or damaged" in str(_load_error(tmp_path / "cut.npz"))


def test_load_never_unpickles(tmp_path, monkeypatch):
    import pickle

    path = tmp_path / "objects.npz"
    np.savez(path, meta=np.array([{"format": "distil-explorer-trace/1"}]))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    assert "pickled Python objects" in str(_load_error(path))
    np.save(tmp_path / "plain.npy", np.array([object()], dtype=object))
    assert "not an .npz" in str(_load_error(tmp_path / "plain.npy"))


def test_load_names_what_is_wrong_with_a_numpy_npz(tiny_trace, tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(3))
    assert _load_error(plain).field == "meta"
    fields = {n: getattr(tiny_trace, n) for n in ("hidden_states", "attentions")}
    meta = json.dumps({"format": "distil-explorer-trace/2"})
    np.savez(tmp_path / "v2.npz", meta=np.array(meta), **fields)
    error = _load_error(tmp_path / "v2.npz")
    assert error.field == "format" and "distil-explorer-trace/1" in str(error)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"config": None}, "meta.config"),
        ({"backend": 3}, "meta.backend"),
        ({"tokens": "abc"}, "meta.tokens"),
        ({"attention_layers": [0, "1"]}, "meta.attention_layers"),
        ({"attention_layers": [0]}, "attention_layers"),
    ],
)
def test_load_names_the_meta_field_of_the_wrong_type(
    tiny_trace, tmp_path, change, field
):
    path = tiny_trace.save(tmp_path / "t.npz")
    with np.load(path) as data:
        arrays = dict(data)
    meta = {**json.loads(str(arrays.pop("meta"))), **change}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    assert _load_error(path).field == field


def test_load_names_a_missing_array_and_a_misshapen_one(tiny_trace, tmp_path):
    path = tiny_trace.save(tmp_path / "t.npz")
    with np.load(path) as data:
        arrays = dict(data)
    np.savez(path, **{k: v for k, v in arrays.items() if k != "padding_mask"})
    assert _load_error(path).field == "padding_mask"
    np.savez(path, **{**arrays, "attentions": arrays["attentions"][:, :1]})
    assert _load_error(path).field == "attentions"


def test_load_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.npz'?: no such file"):
        Trace.load(tmp_path / "nothing.npz")


# Inputs checked by type before use.


@pytest.mark.parametrize("flag", ["no", 1, None, np.array([True])])
def test_keep_qk_must_be_a_bool(tiny_backbone, flag):
    with pytest.raises(ValueError, match=r"keep_qk=.*: not a bool; allowed: True"):
        capture(tiny_backbone, tiny_inputs(), keep_qk=flag)


def test_keep_qk_accepts_numpy_bools(tiny_backbone):
    assert (
        capture(tiny_backbone, tiny_inputs(), keep_qk=np.bool_(True)).queries
        is not None
    )


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (["the cat", 3], r"inputs\[1\]=3: a int among strings"),
        ([b"x", "the cat"], r"inputs\[0\]=b'x': a bytes among strings"),
        (
            {"token_ids": [[1, 2, 3], [4]], "padding_mask": [[1, 1, 1], [1]]},
            r"token_ids: ragged rows \(lengths \[3, 1\]\)",
        ),
        (
            {"token_ids": "the cat", "padding_mask": [[1]]},
            r"token_ids='the cat': text where ids belong",
        ),
        (
            {"token_ids": [["the", "cat"]], "padding_mask": [[1, 1]]},
            r"token_ids=.*holds strings where ids belong",
        ),
        ([1, 2, 3], r"inputs=\[1, 2, 3\]: a list of non-text"),
        ([], r"inputs=\[\]: a list of nothing"),
        (np.zeros((2, 3), "int32"), r"inputs=.*allowed: text"),
    ],
)
def test_inputs_of_the_wrong_kind_are_named(tiny_backbone, inputs, match):
    from distil_explorer import DistilBertTokenizer
    from tests.test_tokenizer import TINY_VOCAB

    tokenizer = DistilBertTokenizer(TINY_VOCAB)
    with pytest.raises(ValueError, match=match):
        capture(tiny_backbone, inputs, tokenizer=tokenizer)


def test_lists_of_equal_rows_still_work(tiny_backbone):
    inputs = tiny_inputs()
    as_lists = {k: v.tolist() for k, v in inputs.items()}
    np.testing.assert_array_equal(
        capture(tiny_backbone, as_lists).attentions,
        capture(tiny_backbone, inputs).attentions,
    )


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("config", None, "config=None: not a dict"),
        ("backend", 3, "backend=3: not a str"),
    ],
)
def test_trace_fields_are_checked_by_type(tiny_trace, field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(tiny_trace, **{field: value})


def _quantized(backbone):
    backbone.quantize("int8")
    return backbone


@pytest.mark.parametrize(
    ("dtype", "prepare", "direct"),
    [
        ("float32", None, True),
        ("bfloat16", None, True),
        ("float32", _quantized, True),
        # An autocast scope is due: the loop keeps Keras's __call__.
        ("mixed_bfloat16", None, False),
        (
            keras.dtype_policies.DTypePolicyMap(
                default_policy="float32",
                policy_map={"transformer_layer_1/.*": keras.DTypePolicy("bfloat16")},
            ),
            None,
            False,
        ),
    ],
    ids=["float32", "bfloat16", "int8", "mixed_bfloat16", "map"],
)
def test_direct_layer_calls_give_what_keras_call_gives(
    monkeypatch, dtype, prepare, direct
):
    # Eager calls skip Layer.__call__ where nothing it does is due
    # (DistilBertBackbone._calls_layers_directly): the same bits, captured or
    # called.
    keras.utils.set_random_seed(3)
    backbone = DistilBertBackbone(**TINY, dtype=dtype)
    if prepare is not None:
        prepare(backbone)
    inputs = tiny_inputs()
    expected_direct = direct and keras.backend.backend() == "torch"
    assert backbone._calls_layers_directly() is expected_direct
    fast = capture(backbone, inputs, keep_qk=True, norms=True)
    fast_output = keras.ops.convert_to_numpy(backbone(inputs))
    monkeypatch.setattr(type(backbone), "_calls_layers_directly", lambda self: False)
    slow = capture(backbone, inputs, keep_qk=True, norms=True)
    for field in ("hidden_states", "attentions", "attention_norms", "queries", "keys"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field))
    slow_output = keras.ops.convert_to_numpy(backbone(inputs))
    np.testing.assert_array_equal(fast_output, slow_output)


def test_the_trace_dtype_follows_a_quantize_after_an_earlier_capture():
    # The backbone finds its sublayers once (`_sublayers`); what they are
    # quantized to must still be read on every capture.
    backbone = DistilBertBackbone(**TINY)
    assert capture(backbone, tiny_inputs()).config["dtype"] == "float32"
    backbone.quantize("int8", filters="^query$")
    assert backbone.quantization_modes == ("int8",)
    assert capture(backbone, tiny_inputs()).config["dtype"] == "int8_from_float32"
