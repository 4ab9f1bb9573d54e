"""Every file we read: a parse or type problem is a FileFormatError naming file, field.

Each case damages one file of a tiny preset or checkpoint the way a careless
edit or a broken download would, and checks the error's class, `.path`,
`.field` and message. These used to surface as bare KeyError,
JSONDecodeError, TypeError or UnicodeDecodeError.
"""

import json
from pathlib import Path

import pytest

from distil_explorer import DistilBertBackbone, DistilBertTokenizer
from distil_explorer.errors import FileFormatError, WeightsFileError
from tests.weights.tiny_files import hf_checkpoint, keras_hub_preset


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data)))


def _raises(call, path: Path, field, match: str = ""):
    with pytest.raises(FileFormatError, match=match) as info:
        call()
    assert info.value.path == str(path)
    assert info.value.field == field
    assert str(path) in str(info.value)
    return info.value


def _set(keys, value):
    def edit(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return data

    return edit


def _delete(keys):
    def edit(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
        return data

    return edit


@pytest.mark.parametrize(
    ("edit", "field", "match"),
    [
        (lambda d: None, None, "contents=None: wrong type; allowed: a JSON object"),
        (lambda d: [d], None, "wrong type"),
        (_set(["config"], None), "config", "config=None: wrong type"),
        (_delete(["config", "num_heads"]), "config.num_heads", "lacks"),
        (_set(["config", "num_heads"], "2"), "config.num_heads", "an integer"),
        (_set(["config", "num_layers"], True), "config.num_layers", "an integer"),
        (_set(["config", "dropout"], "0.1"), "config.dropout", "a number"),
        (_set(["config", "dtype"], 5), "config.dtype", "wrong type"),
        (_set(["config", "num_heads"], 3), "hidden_dim", "not divisible"),
        (_set(["config", "vocabulary_size"], 0), "vocabulary_size", "positive"),
    ],
)
def test_keras_hub_config_json(tmp_path, edit, field, match):
    preset = keras_hub_preset(tmp_path / "p")
    _edit_json(preset / "config.json", edit)
    _raises(
        lambda: DistilBertBackbone.from_preset(str(preset)),
        preset / "config.json",
        field,
        match,
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b'{"class_name": "DistilBertBackbone", ', "not valid JSON"),
        (b"\xff{}", "UTF-8"),
    ],
)
def test_unparsable_config_json(tmp_path, text, match):
    preset = keras_hub_preset(tmp_path / "p")
    (preset / "config.json").write_bytes(text)
    _raises(
        lambda: DistilBertBackbone.from_preset(str(preset)),
        preset / "config.json",
        None,
        match,
    )


@pytest.mark.parametrize(
    ("edit", "field", "match"),
    [
        (_delete(["n_heads"]), "n_heads", "n_heads is missing"),
        (_set(["n_heads"], "2"), "n_heads", "an integer"),
        (_set(["vocab_size"], None), "vocab_size", "an integer"),
        (_set(["dropout"], [0.1]), "dropout", "a number"),
        (_set(["dim"], 7), "dim", "not divisible"),
    ],
)
def test_transformers_config_json(tmp_path, edit, field, match):
    checkpoint = hf_checkpoint(tmp_path / "hf")
    _edit_json(checkpoint / "config.json", edit)
    _raises(
        lambda: DistilBertBackbone.from_preset(str(checkpoint)),
        checkpoint / "config.json",
        field,
        match,
    )


@pytest.mark.parametrize(
    ("text", "field", "match"),
    [
        ("{not json", None, "not valid JSON"),
        ("[]", None, "a JSON object"),
        ('{"weight_map": []}', "weight_map", "a JSON object"),
        ('{"weight_map": {"a": 5}}', "weight_map.a", "a string"),
        ('{"weight_map": {"a": "../x.safetensors"}}', "weight_map.a", "same dir"),
    ],
)
def test_broken_safetensors_index(tmp_path, text, field, match):
    checkpoint = hf_checkpoint(tmp_path / "hf", sharded=True)
    index = checkpoint / "model.safetensors.index.json"
    index.write_text(text)
    _raises(
        lambda: DistilBertBackbone.from_preset(str(checkpoint)), index, field, match
    )


@pytest.mark.parametrize("weights", ["model.safetensors", "model.weights.h5"])
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_weights_files(tmp_path, weights, damage):
    if weights == "model.safetensors":
        directory = hf_checkpoint(tmp_path / "d")
    else:
        directory = keras_hub_preset(tmp_path / "d")
    path = directory / weights
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"\x00" * 64)
    with pytest.raises(WeightsFileError, match="truncated or corrupted") as info:
        DistilBertBackbone.from_preset(str(directory))
    assert info.value.path == str(path)


# Tokenizer files.


@pytest.mark.parametrize(
    ("edit", "field", "match"),
    [
        (_set(["config"], []), "config", "a JSON object"),
        (_set(["config", "lowercase"], "yes"), "config.lowercase", "true or false"),
        (_set(["class_name"], "GPT2Tokenizer"), "class_name", "not a BERT"),
        (_set(["config", "oov_token"], 1), "oov_token", "not supported"),
    ],
)
def test_keras_hub_tokenizer_json(tmp_path, edit, field, match):
    preset = keras_hub_preset(tmp_path / "p")
    _edit_json(preset / "tokenizer.json", edit)
    _raises(
        lambda: DistilBertTokenizer.from_directory(preset),
        preset / "tokenizer.json",
        field,
        match,
    )


def _hf_tokenizer_dir(path: Path, vocab_lines: list[str]) -> Path:
    path.mkdir()
    (path / "vocab.txt").write_text("".join(f"{t}\n" for t in vocab_lines))
    return path


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"]


@pytest.mark.parametrize(
    ("config", "field", "match"),
    [
        ("[1, 2]", None, "a JSON object"),
        ('{"do_lower_case": "no"}', "do_lower_case", "true or false"),
        ('{"unk_token": {"content": 5}}', "unk_token", "not supported"),
        ("{oops", None, "not valid JSON"),
    ],
)
def test_tokenizer_config_json(tmp_path, config, field, match):
    directory = _hf_tokenizer_dir(tmp_path / "t", VOCAB)
    (directory / "tokenizer_config.json").write_text(config)
    _raises(
        lambda: DistilBertTokenizer.from_directory(directory),
        directory / "tokenizer_config.json",
        field,
        match,
    )


def test_vocab_txt_that_is_not_utf8_is_named(tmp_path):
    directory = _hf_tokenizer_dir(tmp_path / "t", VOCAB)
    with open(directory / "vocab.txt", "ab") as f:
        f.write("caf\xe9\n".encode("latin-1"))
    _raises(
        lambda: DistilBertTokenizer.from_directory(directory),
        directory / "vocab.txt",
        None,
        "not UTF-8",
    )


def test_hf_tokenizer_json_with_wrong_types(tmp_path):
    directory = tmp_path / "t"
    directory.mkdir()
    vocab = {token: i for i, token in enumerate(VOCAB)}
    data = {
        "model": {"type": "WordPiece", "vocab": {**vocab, "dog": "7"}},
        "normalizer": {"type": "BertNormalizer"},
    }
    (directory / "tokenizer.json").write_text(json.dumps(data))
    path = directory / "tokenizer.json"
    _raises(
        lambda: DistilBertTokenizer.from_directory(directory),
        path,
        "model.vocab.dog",
        "an integer",
    )
    path.write_text(json.dumps([1, 2]))
    _raises(lambda: DistilBertTokenizer.from_directory(directory), path, None, "nor")


def test_allow_pickle_must_be_a_bool(tmp_path):
    from distil_explorer.weights.transformers_files import read_state

    with pytest.raises(ValueError, match="allow_pickle='no': not a bool"):
        read_state(hf_checkpoint(tmp_path / "hf"), allow_pickle="no")
