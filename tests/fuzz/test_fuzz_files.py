"""Damaged files: each ends in our own error naming the culprit, or reads back right.

Hypothesis truncates files at random offsets, flips and inserts bytes, swaps
JSON values for values of other types and deletes keys, in Trace files,
keras-hub and transformers config.json, safetensors indexes, tokenizer
files, and the weights themselves. Each read must either succeed with
sensible values (the same Trace; a config `check_config` accepts; finite
weights) or raise one of our exceptions, from our code, naming the file (or
its directory); never another exception, never a hang.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from distil_explorer import DistilBertTokenizer, Trace
from distil_explorer.errors import FileFormatError, TraceFileError, WeightsFileError
from tests.fuzz.conftest import assert_ours, hand_made_trace, no_hang
from tests.weights.tiny_files import KERAS_HUB_PRESET, hf_checkpoint

WORK = Path(tempfile.mkdtemp(prefix="distil-explorer-fuzz-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)

# --- strategies -------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@st.composite
def mutated_json(draw, document):
    """`document` with a few nodes deleted or replaced by other JSON values."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        value = draw(json_values)
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return doc


@st.composite
def damaged_bytes(draw, data: bytes):
    """`data` truncated, with bytes flipped, or with bytes inserted."""
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    at = draw(st.integers(0, len(data) - 1))
    if how == "truncate":
        return data[:at]
    if how == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    damaged = bytearray(data)
    for offset in [at, *draw(st.lists(st.integers(0, len(data) - 1), max_size=3))]:
        damaged[offset] ^= draw(st.integers(1, 255))
    return bytes(damaged)


def _fresh(name: str, source: Path | None = None) -> Path:
    target = WORK / name
    shutil.rmtree(target, ignore_errors=True)
    if source is not None:
        shutil.copytree(source, target)
    else:
        target.mkdir()
    return target


# --- Trace files ------------------------------------------------------------


TRACE = hand_made_trace()
TRACE_BYTES = TRACE.save(WORK / "base.npz").read_bytes()


def _same_trace(a: Trace, b: Trace) -> bool:
    arrays = ("hidden_states", "attentions", "token_ids", "padding_mask")
    return all(np.array_equal(getattr(a, n), getattr(b, n)) for n in arrays) and (
        (a.config, a.backend, a.device, a.tokens)
        == (b.config, b.backend, b.device, b.tokens)
    )


@given(damaged_bytes(TRACE_BYTES))
def test_damaged_trace_file(data):
    path = WORK / "damaged.npz"
    path.write_bytes(data)
    with no_hang():
        try:
            loaded = Trace.load(path)
        except Exception as error:
            assert_ours(error, TraceFileError, str(path))
            assert "allow_pickle" not in str(error)
            event("refused")
            return
    event("read back")
    assert _same_trace(loaded, TRACE)  # only harmless bytes were touched


_META = {
    "format": "distil-explorer-trace/1",
    "config": TRACE.config,
    "backend": "numpy",
    "device": "cpu",
    "tokens": [list(row) for row in TRACE.tokens],
    "attention_layers": [0, 1],
    "attention_heads": [0, 1],
}


@given(mutated_json(_META))
def test_trace_file_with_swapped_meta(meta):
    path = WORK / "meta.npz"
    arrays = {n: getattr(TRACE, n) for n in ("hidden_states", "attentions")}
    arrays.update(token_ids=TRACE.token_ids, padding_mask=TRACE.padding_mask)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with no_hang():
        try:
            loaded = Trace.load(path)
        except Exception as error:
            assert_ours(error, TraceFileError, str(path))
            assert error.field is not None
            return
    assert np.array_equal(loaded.attentions, TRACE.attentions)


# --- config.json ------------------------------------------------------------

KERAS_HUB_CONFIG = json.loads((KERAS_HUB_PRESET / "config.json").read_text())
HF_DIR = hf_checkpoint(WORK / "hf_base", sharded=True)
HF_CONFIG = json.loads((HF_DIR / "config.json").read_text())


def _read_preset(directory: Path, load_weights: bool):
    from distil_explorer.weights.loading import read_preset

    return read_preset(directory, load_weights)


def _check_read_config(directory: Path, file: Path):
    from distil_explorer.config import check_config

    with no_hang():
        try:
            config, _ = _read_preset(directory, load_weights=False)
        except Exception as error:
            assert_ours(error, ValueError, str(file), str(directory))
            return None
    check_config(**{"dtype": None, **config})  # what was read is a valid config
    return config


@given(mutated_json(KERAS_HUB_CONFIG))
def test_keras_hub_config_json_with_swapped_types(document):
    directory = _fresh("kh_config")
    (directory / "config.json").write_text(json.dumps(document))
    (directory / "model.weights.h5").write_bytes(b"")  # a preset, by its files
    _check_read_config(directory, directory / "config.json")


@given(mutated_json(HF_CONFIG))
def test_transformers_config_json_with_swapped_types(document):
    directory = _fresh("hf_config")
    (directory / "config.json").write_text(json.dumps(document))
    (directory / "model.safetensors").write_bytes(b"")
    _check_read_config(directory, directory / "config.json")


@given(damaged_bytes((KERAS_HUB_PRESET / "config.json").read_bytes()))
def test_config_json_with_damaged_bytes(data):
    directory = _fresh("kh_bytes")
    (directory / "config.json").write_bytes(data)
    (directory / "model.weights.h5").write_bytes(b"")
    _check_read_config(directory, directory / "config.json")


# --- weights and their index ---------------------------------------------

INDEX = json.loads((HF_DIR / "model.safetensors.index.json").read_text())


def _check_read_weights(directory: Path, *culprits: str) -> None:
    with no_hang():
        try:
            _, arrays = _read_preset(directory, load_weights=True)
        except Exception as error:
            assert_ours(error, (ValueError, FileNotFoundError), *culprits)
            event("refused")
            return
    event("read")
    for name, array in arrays.items():
        assert np.asarray(array).dtype.kind == "f", name
    # Non-finite values are refused when assigned (assign_weights names them).


@given(mutated_json(INDEX))
def test_safetensors_index_with_swapped_types(document):
    directory = _fresh("hf_index", HF_DIR)
    (directory / "model.safetensors.index.json").write_text(json.dumps(document))
    _check_read_weights(directory, str(directory))


SAFETENSORS = hf_checkpoint(WORK / "hf_single")
SAFETENSORS_BYTES = (SAFETENSORS / "model.safetensors").read_bytes()
H5_BYTES = (KERAS_HUB_PRESET / "model.weights.h5").read_bytes()


@given(damaged_bytes(SAFETENSORS_BYTES))
def test_damaged_safetensors(data):
    directory = _fresh("hf_damaged", SAFETENSORS)
    (directory / "model.safetensors").write_bytes(data)
    _check_read_weights(directory, str(directory))


@given(damaged_bytes(H5_BYTES))
def test_damaged_h5(data):
    directory = _fresh("kh_damaged", KERAS_HUB_PRESET)
    (directory / "model.weights.h5").write_bytes(data)
    _check_read_weights(directory, str(directory))


def test_non_finite_weights_are_refused_by_name(tiny_backbone):
    from distil_explorer.errors import WeightsMismatchError
    from distil_explorer.weights.assign import assign_weights

    arrays = {v.path: np.asarray(v.numpy()) for v in tiny_backbone.weights}
    before = {k: v.copy() for k, v in arrays.items()}
    name = "transformer_layer_1/ffn_output/kernel"
    arrays[name] = arrays[name].copy()
    arrays[name].flat[3] = np.nan
    with pytest.raises(WeightsMismatchError, match=f"{name}'? holds NaN"):
        assign_weights(tiny_backbone, arrays, source="damaged.safetensors")
    for variable in tiny_backbone.weights:  # nothing was assigned
        np.testing.assert_array_equal(variable.numpy(), before[variable.path])


def test_weights_file_error_is_both_kinds():
    from distil_explorer.errors import WeightsMismatchError

    error = WeightsFileError("x", path="x")
    assert isinstance(error, WeightsMismatchError) and isinstance(error, OSError)
    assert isinstance(error, FileFormatError) and isinstance(error, ValueError)


# --- tokenizer files --------------------------------------------------------

KH_TOKENIZER = json.loads((KERAS_HUB_PRESET / "tokenizer.json").read_text())
VOCABULARY = KERAS_HUB_PRESET / "assets" / "tokenizer" / "vocabulary.txt"


def _check_tokenizer(directory: Path, *culprits: str) -> None:
    with no_hang():
        try:
            tokenizer = DistilBertTokenizer.from_directory(directory)
        except Exception as error:
            assert_ours(error, (ValueError, FileNotFoundError), *culprits)
            return
    encoding = tokenizer("the cat")  # what was read tokenizes
    assert encoding.token_ids.shape[0] == 1


@given(mutated_json(KH_TOKENIZER))
def test_keras_hub_tokenizer_json_with_swapped_types(document):
    directory = _fresh("kh_tokenizer", KERAS_HUB_PRESET)
    (directory / "tokenizer.json").write_text(json.dumps(document))
    _check_tokenizer(directory, str(directory / "tokenizer.json"), str(directory))


@given(damaged_bytes(VOCABULARY.read_bytes()))
def test_damaged_vocabulary(data):
    directory = _fresh("kh_vocab", KERAS_HUB_PRESET)
    (directory / "assets" / "tokenizer" / "vocabulary.txt").write_bytes(data)
    _check_tokenizer(directory, "vocabulary.txt")


HF_TOKENIZER_CONFIG = {
    "do_lower_case": True,
    "do_basic_tokenize": True,
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": {"content": "[MASK]"},
    "tokenize_chinese_chars": True,
    "strip_accents": None,
}


@given(mutated_json(HF_TOKENIZER_CONFIG))
def test_tokenizer_config_json_with_swapped_types(document):
    directory = _fresh("hf_tokenizer")
    shutil.copy(VOCABULARY, directory / "vocab.txt")
    (directory / "tokenizer_config.json").write_text(json.dumps(document))
    _check_tokenizer(directory, str(directory / "tokenizer_config.json"))
